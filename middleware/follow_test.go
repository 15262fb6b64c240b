package middleware_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// feedIssuer is a real issuer over a memory store behind an HTTP server
// that a test can take down or replace.
type feedIssuer struct {
	*httptest.Server
	mu   sync.Mutex
	iss  *issuer.Issuer
	st   *memory.Store
	down atomic.Bool
	// rsID and rsSecret are a resource-server client's.
	rsID, rsSecret string
}

func newFeedIssuer(t *testing.T) *feedIssuer {
	t.Helper()
	f := &feedIssuer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		h := f.iss.Handler()
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	f.replace(t)
	return f
}

// replace starts over with a new issuer and store at the same URL (an
// issuer restarted over a memory store).
func (f *feedIssuer) replace(t *testing.T) {
	t.Helper()
	st := memory.New()
	iss, err := issuer.New(issuer.Config{Issuer: f.URL, Store: st, Logger: discardLog(), Refresh: issuer.RefreshConfig{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	rs, secret, err := iss.CreateClient(t.Context(), issuer.ClientSpec{IntrospectAny: true})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.iss, f.st, f.rsID, f.rsSecret = iss, st, rs.ID, secret
	f.mu.Unlock()
}

func (f *feedIssuer) client(t *testing.T) (string, string) {
	t.Helper()
	c, secret, err := f.iss.CreateClient(t.Context(), issuer.ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

// post posts form to path with HTTP Basic and decodes a JSON answer.
func (f *feedIssuer) post(t *testing.T, path, id, secret string, form url.Values) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", f.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func (f *feedIssuer) token(t *testing.T, id, secret string) (access, refresh string) {
	t.Helper()
	m := f.post(t, "/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	access, _ = m["access_token"].(string)
	refresh, _ = m["refresh_token"].(string)
	if access == "" {
		t.Fatalf("no token: %v", m)
	}
	return access, refresh
}

const testPoll = 50 * time.Millisecond

// follower returns a JWKS verifier following f's feed, and the client its
// polls go through (to close its idle connections).
func (f *feedIssuer) follower(t *testing.T, edit ...func(*middleware.JWKSConfig)) *middleware.JWKSVerifier {
	t.Helper()
	cfg := middleware.JWKSConfig{
		Issuer: f.URL, Logger: discardLog(), MinRefreshInterval: 10 * time.Millisecond,
		Follow: &middleware.FollowConfig{ClientID: f.rsID, ClientSecret: f.rsSecret, PollInterval: testPoll},
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := middleware.NewJWKSVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// eventually waits up to 20 poll intervals (a liveness bound, not a
// timing assertion) for Verify(tok) to fail with want (nil: to pass).
func eventually(t *testing.T, v *middleware.JWKSVerifier, tok string, want error, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * testPoll * 10)
	var err error
	for time.Now().Before(deadline) {
		_, err = v.Verify(context.Background(), tok)
		if (want == nil && err == nil) || (want != nil && errors.Is(err, want)) {
			return
		}
		time.Sleep(testPoll / 5)
	}
	t.Fatalf("%s: Verify = %v, want %v", what, err, want)
}

func TestFollowRotationRevocationDeletion(t *testing.T) {
	f := newFeedIssuer(t)
	ctx := t.Context()
	v := f.follower(t)
	a, aSecret := f.client(t)
	b, bSecret := f.client(t)
	old, _ := f.token(t, a, aSecret)
	bTok, _ := f.token(t, b, bSecret)
	eventually(t, v, old, nil, "fresh token")
	eventually(t, v, bTok, nil, "b's token")

	// Rotation: the old token dies, a new one passes.
	newSecret, err := f.iss.RotateClient(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, v, old, middleware.ErrInvalidToken, "token of before the rotation")
	fresh, _ := f.token(t, a, newSecret)
	eventually(t, v, fresh, nil, "token of after the rotation")
	eventually(t, v, bTok, nil, "another client's token")

	// RFC 7009 revocation of one access token.
	other, _ := f.token(t, a, newSecret)
	f.post(t, "/oauth/revoke", a, newSecret, url.Values{"token": {fresh}})
	eventually(t, v, fresh, middleware.ErrInvalidToken, "revoked token")
	eventually(t, v, other, nil, "the client's other token")

	// A refresh family: revoking the refresh token kills the access
	// tokens minted with it.
	famAccess, famRefresh := f.token(t, a, newSecret)
	if famRefresh == "" {
		t.Fatal("no refresh token")
	}
	eventually(t, v, famAccess, nil, "family token")
	f.post(t, "/oauth/revoke", a, newSecret, url.Values{"token": {famRefresh}})
	eventually(t, v, famAccess, middleware.ErrInvalidToken, "token of a revoked family")

	// Deletion.
	if err := f.iss.DeleteClient(ctx, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, v, bTok, middleware.ErrInvalidToken, "deleted client's token")
	eventually(t, v, other, nil, "a live client's token after a deletion")
}

// TestFollowReplaysAtStart: a verifier started after the changes learns
// them from the retained log before it accepts a token.
func TestFollowReplaysAtStart(t *testing.T) {
	f := newFeedIssuer(t)
	a, aSecret := f.client(t)
	old, _ := f.token(t, a, aSecret)
	if _, err := f.iss.RotateClient(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	v := f.follower(t)
	if _, err := v.Verify(t.Context(), old); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("a token rotated before the verifier started: %v", err)
	}
}

// TestFollowFailsClosed: not caught up (wrong credentials), the verifier
// refuses every token with ErrUnavailable; with the issuer down for longer
// than MaxStale too, and it recovers when the issuer is back.
func TestFollowFailsClosed(t *testing.T) {
	f := newFeedIssuer(t)
	a, aSecret := f.client(t)
	tok, _ := f.token(t, a, aSecret)

	wrong := f.follower(t, func(c *middleware.JWKSConfig) { c.Follow.ClientSecret = "wrong" })
	if _, err := wrong.Verify(t.Context(), tok); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("never caught up: %v", err)
	}
	// A client that is no resource server is refused by the issuer too.
	notRS := f.follower(t, func(c *middleware.JWKSConfig) { c.Follow.ClientID, c.Follow.ClientSecret = a, aSecret })
	if _, err := notRS.Verify(t.Context(), tok); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("following as a plain client: %v", err)
	}

	v := f.follower(t, func(c *middleware.JWKSConfig) { c.Follow.MaxStale = 4 * testPoll })
	eventually(t, v, tok, nil, "issuer up")
	f.down.Store(true)
	eventually(t, v, tok, middleware.ErrUnavailable, "issuer down past MaxStale")
	f.down.Store(false)
	eventually(t, v, tok, nil, "issuer back")
}

// TestFollowResync: an issuer whose log does not hold the verifier's
// cursor (restarted over a new memory store) makes it resync, so that the
// new log's changes reach it.
func TestFollowResync(t *testing.T) {
	f := newFeedIssuer(t)
	v := f.follower(t)
	for range 3 {
		a, _ := f.client(t)
		if err := f.iss.DisableClient(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * testPoll) // the verifier reads the three changes
	rsID, rsSecret := f.rsID, f.rsSecret
	f.replace(t)
	// The verifier still has the old resource server's credentials: give
	// the new issuer that client too.
	if _, _, err := f.iss.CreateClient(t.Context(), issuer.ClientSpec{ID: rsID, Secret: rsSecret, IntrospectAny: true}); err != nil {
		t.Fatal(err)
	}
	b, bSecret := f.client(t)
	tok, _ := f.token(t, b, bSecret)
	eventually(t, v, tok, nil, "a token of the new issuer")
	if _, err := f.iss.RotateClient(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	eventually(t, v, tok, middleware.ErrInvalidToken, "rotated at the new issuer")
}

// TestFollowBounded: past MaxEntries the verifier stops reading the feed
// and fails closed rather than forget revocations.
func TestFollowBounded(t *testing.T) {
	f := newFeedIssuer(t)
	a, aSecret := f.client(t)
	keep, _ := f.token(t, a, aSecret)
	v := f.follower(t, func(c *middleware.JWKSConfig) { c.Follow.MaxEntries = 2 })
	eventually(t, v, keep, nil, "under the bound")
	for range 3 {
		tok, _ := f.token(t, a, aSecret)
		f.post(t, "/oauth/revoke", a, aSecret, url.Values{"token": {tok}})
	}
	eventually(t, v, keep, middleware.ErrUnavailable, "past MaxEntries")
}

// TestFollowClose: Close stops the polling; nothing it started stays.
func TestFollowClose(t *testing.T) {
	f := newFeedIssuer(t)
	a, aSecret := f.client(t)
	tok, _ := f.token(t, a, aSecret)
	tr := &http.Transport{}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := middleware.NewJWKSVerifier(ctx, middleware.JWKSConfig{
		Issuer: f.URL, Logger: discardLog(), HTTPClient: &http.Client{Transport: tr},
		Follow: &middleware.FollowConfig{ClientID: f.rsID, ClientSecret: f.rsSecret, PollInterval: testPoll},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, v, tok, nil, "following")
	v.Close()
	if _, err := v.Verify(ctx, tok); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("after Close: %v", err)
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestFollowConfigErrors(t *testing.T) {
	for name, fc := range map[string]middleware.FollowConfig{
		"no credentials":  {},
		"http elsewhere":  {ClientID: "a", ClientSecret: "b", URL: "http://example.com/oauth/changes"},
		"query":           {ClientID: "a", ClientSecret: "b", URL: "https://example.com/oauth/changes?x=1"},
		"stale too short": {ClientID: "a", ClientSecret: "b", PollInterval: time.Second, MaxStale: time.Second},
	} {
		fc := fc
		_, err := middleware.NewJWKSVerifier(t.Context(), middleware.JWKSConfig{Issuer: "https://example.com", Follow: &fc, Logger: discardLog()})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
