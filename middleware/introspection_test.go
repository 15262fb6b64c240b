package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// realIssuer is a Portcullis issuer over HTTP, with a resource server
// client allowed to introspect any token and an application client.
type realIssuer struct {
	*httptest.Server
	iss              *issuer.Issuer
	rsID, rsSecret   string
	appID, appSecret string
	introspections   atomic.Int64
	clock            *tokentest.Clock
}

func newRealIssuer(t *testing.T, mod func(*issuer.Config)) *realIssuer {
	t.Helper()
	ri := &realIssuer{clock: tokentest.NewClockAt(time.Now())}
	mux := http.NewServeMux()
	ri.Server = httptest.NewServer(mux)
	t.Cleanup(ri.Close)
	cfg := issuer.Config{Issuer: ri.URL, Store: memory.New(), Scopes: []string{"read", "write"}, Logger: discardLog(), Now: ri.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	if ri.iss, err = issuer.New(cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rs, rsSecret, err := ri.iss.CreateClient(ctx, issuer.ClientSpec{Name: "resource server", IntrospectAny: true})
	if err != nil {
		t.Fatal(err)
	}
	app, appSecret, err := ri.iss.CreateClient(ctx, issuer.ClientSpec{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	ri.rsID, ri.rsSecret, ri.appID, ri.appSecret = rs.ID, rsSecret, app.ID, appSecret
	p := ri.iss.Paths()
	mux.Handle(p.Introspection, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri.introspections.Add(1)
		ri.iss.Handler().ServeHTTP(w, r)
	}))
	mux.Handle("/", ri.iss.Handler())
	return ri
}

// token gets a token for the application client; its fields are the
// token endpoint's answer.
func (ri *realIssuer) token(t *testing.T) (access, refresh string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	r, err := http.NewRequest(http.MethodPost, ri.URL+ri.iss.Paths().Token, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(ri.appID, ri.appSecret)
	resp, err := ri.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.AccessToken, body.RefreshToken
}

func (ri *realIssuer) verifier(t *testing.T, edit ...func(*middleware.IntrospectionConfig)) *middleware.IntrospectionVerifier {
	t.Helper()
	cfg := middleware.IntrospectionConfig{
		Issuer: ri.URL, ClientID: ri.rsID, ClientSecret: ri.rsSecret, Now: ri.clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := middleware.NewIntrospectionVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospectionWithIssuer(t *testing.T) {
	for _, format := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		t.Run(string(format), func(t *testing.T) {
			ri := newRealIssuer(t, func(c *issuer.Config) { c.Format = format })
			v := ri.verifier(t)
			raw, _ := ri.token(t)
			ctx := context.Background()
			p, err := v.Verify(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != token.KindClient || p.Subject != ri.appID || p.ClientID != ri.appID ||
				!p.HasScope("read") || p.Issuer != ri.URL || p.TokenID == "" || p.ExpiresAt.IsZero() ||
				p.Opaque != (format == issuer.FormatOpaque) {
				t.Errorf("principal = %+v", p)
			}

			// Within CacheTTL the answer is reused, revoked or not.
			if err := revokeAt(ri, raw); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, raw); err != nil {
				t.Errorf("within the cache TTL: %v", err)
			}
			if n := ri.introspections.Load(); n != 1 {
				t.Errorf("%d introspections, want 1", n)
			}
			// After it, the revocation shows, and the inactive answer is
			// reused for InactiveTTL.
			ri.clock.Advance(31 * time.Second)
			_, err = v.Verify(ctx, raw)
			wantIs(t, err, middleware.ErrInvalidToken)
			_, err = v.Verify(ctx, raw)
			wantIs(t, err, middleware.ErrInvalidToken)
			if n := ri.introspections.Load(); n != 2 {
				t.Errorf("%d introspections, want 2", n)
			}
			ri.clock.Advance(6 * time.Second)
			_, err = v.Verify(ctx, raw)
			wantIs(t, err, middleware.ErrInvalidToken)
			if n := ri.introspections.Load(); n != 3 {
				t.Errorf("%d introspections, want 3", n)
			}
		})
	}
}

func revokeAt(ri *realIssuer, raw string) error {
	r, err := http.NewRequest(http.MethodPost, ri.URL+ri.iss.Paths().Revocation, strings.NewReader(url.Values{"token": {raw}}.Encode()))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(ri.appID, ri.appSecret)
	resp, err := ri.Client().Do(r)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func TestIntrospectionRefusesRefreshTokens(t *testing.T) {
	ri := newRealIssuer(t, func(c *issuer.Config) { c.Refresh.Enabled = true })
	v := ri.verifier(t)
	_, refresh := ri.token(t)
	if refresh == "" {
		t.Fatal("no refresh token")
	}
	_, err := v.Verify(context.Background(), refresh)
	wantIs(t, err, middleware.ErrInvalidToken)
	if n := ri.introspections.Load(); n != 0 {
		t.Errorf("%d introspections for a Portcullis refresh token, want none", n)
	}
}

// A client that may not introspect other clients' tokens learns nothing:
// they are inactive.
func TestIntrospectionNeedsIntrospectAny(t *testing.T) {
	ri := newRealIssuer(t, nil)
	other, secret, err := ri.iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	v := ri.verifier(t, func(c *middleware.IntrospectionConfig) { c.ClientID, c.ClientSecret = other.ID, secret })
	raw, _ := ri.token(t)
	_, err = v.Verify(context.Background(), raw)
	wantIs(t, err, middleware.ErrInvalidToken)
}

// fakeIntrospection answers whatever the test says, and records what it
// was sent.
type fakeIntrospection struct {
	*httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	status  int
	body    string
	form    url.Values
	user    string
	pass    string
	ctype   string
	release chan struct{}
}

func newFakeIntrospection(t *testing.T) *fakeIntrospection {
	f := &fakeIntrospection{status: http.StatusOK, release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		r.ParseForm()
		f.mu.Lock()
		f.form, f.ctype = r.PostForm, r.Header.Get("Content-Type")
		f.user, f.pass, _ = r.BasicAuth()
		status, body := f.status, f.body
		f.mu.Unlock()
		switch status {
		case 0: // never answers while the test runs
			select {
			case <-f.release:
			case <-r.Context().Done():
			}
			return
		case -1: // drops the connection
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *fakeIntrospection) answer(status int, body string) {
	f.mu.Lock()
	f.status, f.body = status, body
	f.mu.Unlock()
}

func (f *fakeIntrospection) verifier(t *testing.T, clock *tokentest.Clock, edit ...func(*middleware.IntrospectionConfig)) *middleware.IntrospectionVerifier {
	t.Helper()
	cfg := middleware.IntrospectionConfig{
		Issuer: "https://issuer.test", URL: f.URL + "/introspect",
		ClientID: "rs:1", ClientSecret: "s&cret=", Now: clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := middleware.NewIntrospectionVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospectionWire(t *testing.T) {
	f := newFakeIntrospection(t)
	clock := tokentest.NewClockAt(time.Now())
	exp := clock.Now().Add(time.Hour).Unix()
	f.answer(200, `{"active":true,"scope":"read write","client_id":"c1","sub":"c1","aud":"https://issuer.test",`+
		`"iss":"https://issuer.test","jti":"j1","token_type":"Bearer","kind":"client","exp":`+unixJSON(exp)+`,"iat":1700000000}`)
	v := f.verifier(t, clock)
	p, err := v.Verify(context.Background(), "opaque-token")
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "c1" || !p.HasScopes("read", "write") || p.ExpiresAt.Unix() != exp || p.IssuedAt.Unix() != 1700000000 ||
		len(p.Audience) != 1 || p.TokenID != "j1" || !p.Opaque {
		t.Errorf("principal = %+v", p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// RFC 6749 §2.3.1: the credentials are form-encoded inside Basic.
	if f.user != "rs%3A1" || f.pass != "s%26cret%3D" {
		t.Errorf("Basic credentials %q:%q", f.user, f.pass)
	}
	if f.ctype != "application/x-www-form-urlencoded" || f.form.Get("token") != "opaque-token" || f.form.Get("token_type_hint") != "access_token" {
		t.Errorf("sent %q %v", f.ctype, f.form)
	}
}

func unixJSON(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestIntrospectionAnswers(t *testing.T) {
	clock := tokentest.NewClockAt(time.Now())
	exp := unixJSON(clock.Now().Add(time.Hour).Unix())
	good := map[string]string{
		"active": "true", "sub": `"c1"`, "client_id": `"c1"`, "kind": `"client"`,
		"aud": `["https://issuer.test","x"]`, "iss": `"https://issuer.test"`, "exp": exp, "token_type": `"Bearer"`,
	}
	body := func(edit map[string]string) string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range edit {
			m[k] = v
		}
		var parts []string
		for k, v := range m {
			if v != "" {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	cases := []struct {
		name   string
		status int
		body   string
		want   error // nil: accepted
	}{
		{"good", 200, body(nil), nil},
		{"no iss", 200, body(map[string]string{"iss": ""}), nil},
		{"no token_type", 200, body(map[string]string{"token_type": ""}), nil},
		{"float exp", 200, body(map[string]string{"exp": exp + ".5"}), nil},
		{"inactive", 200, `{"active":false}`, middleware.ErrInvalidToken},
		{"other iss", 200, body(map[string]string{"iss": `"https://evil.test"`}), middleware.ErrInvalidToken},
		{"refresh token", 200, body(map[string]string{"token_type": `"refresh_token"`}), middleware.ErrInvalidToken},
		{"other aud", 200, body(map[string]string{"aud": `"https://elsewhere.test"`}), middleware.ErrInvalidToken},
		{"no aud", 200, body(map[string]string{"aud": ""}), middleware.ErrInvalidToken},
		{"no kind", 200, body(map[string]string{"kind": ""}), middleware.ErrInvalidToken},
		{"no sub", 200, body(map[string]string{"sub": ""}), middleware.ErrInvalidToken},
		{"expired", 200, body(map[string]string{"exp": unixJSON(clock.Now().Add(-time.Minute).Unix())}), middleware.ErrInvalidToken},
		{"not yet valid", 200, body(map[string]string{"nbf": unixJSON(clock.Now().Add(time.Minute).Unix())}), middleware.ErrInvalidToken},
		{"server error", 500, `{"error":"server_error"}`, middleware.ErrUnavailable},
		{"our credentials refused", 401, `{"error":"invalid_client"}`, middleware.ErrUnavailable},
		{"rate limited", 429, `{"error":"slow_down"}`, middleware.ErrUnavailable},
		{"not JSON", 200, `<html>`, middleware.ErrUnavailable},
		{"bad aud", 200, body(map[string]string{"aud": `7`}), middleware.ErrUnavailable},
		{"oversized", 200, body(map[string]string{"padding": `"` + strings.Repeat("x", 70<<10) + `"`}), middleware.ErrUnavailable},
		{"connection dropped", -1, "", middleware.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeIntrospection(t)
			f.answer(c.status, c.body)
			p, err := f.verifier(t, clock).Verify(context.Background(), "tok")
			if c.want == nil {
				if err != nil || p == nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if p != nil {
				t.Errorf("accepted: %+v", p)
			}
			wantIs(t, err, c.want)
		})
	}
}

// An answer is reused until min(exp, now+CacheTTL); unavailability is never
// cached.
func TestIntrospectionCacheBounds(t *testing.T) {
	f := newFakeIntrospection(t)
	clock := tokentest.NewClockAt(time.Now())
	exp := clock.Now().Add(5 * time.Second)
	f.answer(200, `{"active":true,"sub":"c1","kind":"client","aud":"https://issuer.test","exp":`+unixJSON(exp.Unix())+`}`)
	v := f.verifier(t, clock, func(c *middleware.IntrospectionConfig) { c.Leeway = -1 })
	ctx := context.Background()
	for range 3 {
		if _, err := v.Verify(ctx, "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("%d introspections, want 1", n)
	}
	clock.Advance(6 * time.Second) // past exp, well within CacheTTL
	_, err := v.Verify(ctx, "tok")
	wantIs(t, err, middleware.ErrInvalidToken)
	if n := f.hits.Load(); n != 2 {
		t.Errorf("%d introspections after exp, want 2", n)
	}

	f.answer(503, "")
	for range 2 {
		_, err := v.Verify(ctx, "other")
		wantIs(t, err, middleware.ErrUnavailable)
	}
	if n := f.hits.Load(); n != 4 {
		t.Errorf("%d introspections, want 4: an unavailable answer is not cached", n)
	}

	// With the cache off, every Verify asks.
	f.answer(200, `{"active":true,"sub":"c1","kind":"client","aud":"https://issuer.test"}`)
	nocache := f.verifier(t, clock, func(c *middleware.IntrospectionConfig) { c.CacheTTL, c.InactiveTTL = -1, -1 })
	for range 2 {
		if _, err := nocache.Verify(ctx, "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.hits.Load(); n != 6 {
		t.Errorf("%d introspections, want 6", n)
	}
}

func TestIntrospectionSlowServer(t *testing.T) {
	f := newFakeIntrospection(t)
	f.answer(0, "")
	v := f.verifier(t, tokentest.NewClockAt(time.Now()), func(c *middleware.IntrospectionConfig) {
		c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
	})
	_, err := v.Verify(context.Background(), "tok")
	wantIs(t, err, middleware.ErrUnavailable)
}

func TestIntrospectionConfigErrors(t *testing.T) {
	for name, cfg := range map[string]middleware.IntrospectionConfig{
		"no issuer":  {ClientID: "a", ClientSecret: "b"},
		"no client":  {Issuer: "https://i.test"},
		"bad URL":    {Issuer: "https://i.test", ClientID: "a", ClientSecret: "b", URL: "ftp://i.test/x"},
		"empty kind": {Issuer: "https://i.test", ClientID: "a", ClientSecret: "b", Kinds: []string{""}},
	} {
		if _, err := middleware.NewIntrospectionVerifier(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The verifier tells guards the kinds its issuer defines, so that a guard
// asking for another is refused at New.
func TestIntrospectionKinds(t *testing.T) {
	base := middleware.IntrospectionConfig{Issuer: "https://i.test", ClientID: "a", ClientSecret: "b"}
	kinds := func(cfg middleware.IntrospectionConfig) *middleware.IntrospectionVerifier {
		t.Helper()
		v, err := middleware.NewIntrospectionVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	def := kinds(base)
	if got := def.Kinds(); !slices.Equal(got, []string{middleware.KindClient, middleware.KindAccount}) {
		t.Errorf("default Kinds() = %q", got)
	}
	if _, err := middleware.New(middleware.Config{Verifier: def, Kinds: []string{"acount"}}); err == nil {
		t.Error("a guard asking for an undefined kind was accepted")
	}
	base.Kinds = []string{"robot", "robot"}
	robots := kinds(base)
	if got := robots.Kinds(); !slices.Equal(got, []string{"robot"}) {
		t.Errorf("Kinds() = %q", got)
	}
	if _, err := middleware.New(middleware.Config{Verifier: robots, Kinds: []string{"robot"}}); err != nil {
		t.Errorf("a guard asking for a defined kind: %v", err)
	}
	if _, err := middleware.New(middleware.Config{Verifier: robots}); err == nil {
		t.Error("the default client kind passed a verifier whose issuer defines only robot")
	}
}

// A redirect would resend the token and the resource server's credentials
// to wherever it points (in clear text after an https→http hop): the
// verifier must not follow it.
func TestIntrospectionRefusesRedirects(t *testing.T) {
	elsewhere := newFakeIntrospection(t)
	elsewhere.answer(http.StatusOK, `{"active":true,"sub":"c1","client_id":"c1","kind":"client","aud":"https://issuer.test","exp":4102444800}`)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/introspect", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	v, err := middleware.NewIntrospectionVerifier(middleware.IntrospectionConfig{
		Issuer: "https://issuer.test", URL: redirector.URL + "/introspect",
		ClientID: "rs:1", ClientSecret: "s&cret=", Now: tokentest.NewClockAt(time.Now()).Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), "tok")
	wantIs(t, err, middleware.ErrUnavailable)
	if n := elsewhere.hits.Load(); n != 0 {
		t.Errorf("the redirect was followed: %d requests elsewhere", n)
	}
}
