package issuer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
)

func TestKindsConfig(t *testing.T) {
	st := newFaultStore()
	for name, cfg := range map[string]issuer.Config{
		"unknown format":      {Kinds: []issuer.Kind{{Name: "svc", Format: "paseto"}}},
		"short ttl":           {Kinds: []issuer.Kind{{Name: "svc", TTL: time.Millisecond}}},
		"empty name":          {Kinds: []issuer.Kind{{TTL: time.Hour}}},
		"twice":               {Kinds: []issuer.Kind{{Name: "svc"}, {Name: "svc"}}},
		"unknown audience":    {Kinds: []issuer.Kind{{Name: "svc", Audience: []string{"https://elsewhere"}}}},
		"shorthands disagree": {AccessTokenTTL: time.Hour, Kinds: []issuer.Kind{{Name: issuer.KindClient, TTL: 2 * time.Hour}}},
		"format disagrees":    {Format: issuer.FormatOpaque, Kinds: []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatJWT}}},
	} {
		cfg.Issuer, cfg.Store, cfg.Logger = testIssuer, st, quietLogger()
		if _, err := issuer.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg.Kinds)
		}
	}
	e := newEnv(t, false, func(c *issuer.Config) {
		c.AccessTokenTTL = 30 * time.Minute
		c.Kinds = []issuer.Kind{{Name: issuer.KindClient, TTL: 30 * time.Minute}, {Name: "service"}}
	})
	if got := e.iss.Kinds(); !slices.Equal(got, []string{"account", "client", "service"}) {
		t.Errorf("Kinds() = %v", got)
	}
	id, secret := e.client(issuer.ClientSpec{})
	if tok := e.getToken(id, secret); tok.ExpiresIn != 1800 {
		t.Errorf("client token lives %ds, want the kind's 1800", tok.ExpiresIn)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUIDTokens(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Kinds = []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatUUID, TTL: 30 * time.Minute}}
	})
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret)
	if !uuidV4.MatchString(tok.AccessToken) || tok.ExpiresIn != 1800 {
		t.Fatalf("token %q (%ds), want a lowercase UUID v4 living 1800s", tok.AccessToken, tok.ExpiresIn)
	}
	ctx := context.Background()
	p, err := e.iss.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil || p.ClientID != id || p.Kind != issuer.KindClient || !p.Opaque {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	// Stored hashed, like pca_ tokens: the store never sees the token.
	if _, err := e.st.GetAccessToken(ctx, tok.AccessToken, e.clock.Now()); err == nil {
		t.Error("the store knows the token by its plain value")
	}
	// A UUID nobody was given is refused, and revocation deletes it.
	if _, err := e.iss.Verifier().Verify(ctx, "6f1c3a52-8d2e-4b7a-9c1d-2e3f4a5b6c7d"); err == nil {
		t.Error("an unknown UUID verified")
	}
	rec := e.do(req{path: "/oauth/revoke", body: form("token", tok.AccessToken),
		header: map[string]string{"Authorization": basic(id, secret)}})
	if rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.iss.Verifier().Verify(ctx, tok.AccessToken); err == nil {
		t.Error("a revoked UUID token still verifies")
	}
	// Rotation kills it at once, as for every opaque token.
	tok = e.getToken(id, secret)
	if _, err := e.iss.RotateClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(ctx, tok.AccessToken); err == nil {
		t.Error("a UUID token survived rotation")
	}
}

// hookLog records every hook call, as JSON, so a test can look for secrets
// in what the hooks were given.
type hookLog struct {
	mu     sync.Mutex
	events []string
}

func (h *hookLog) add(name string, v any) {
	b, _ := json.Marshal(v)
	h.mu.Lock()
	h.events = append(h.events, name+" "+string(b))
	h.mu.Unlock()
}

func (h *hookLog) hooks() issuer.Hooks {
	return issuer.Hooks{
		TokenIssued:   func(_ context.Context, e issuer.TokenIssued) { h.add("issued", e) },
		AuthFailed:    func(_ context.Context, e issuer.AuthFailed) { h.add("authfailed", e) },
		Credentials:   func(_ context.Context, e issuer.CredentialsChanged) { h.add("credentials", e) },
		TokenRevoked:  func(_ context.Context, e issuer.TokenRevoked) { h.add("revoked", e) },
		RefreshReused: func(_ context.Context, e issuer.RefreshReused) { h.add("reused", e) },
		Login:         func(_ context.Context, e issuer.Login) { h.add("login", e) },
	}
}

func (h *hookLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.events
	h.events = nil
	return out
}

func TestHooks(t *testing.T) {
	var log hookLog
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Hooks = log.hooks()
		c.Refresh.Enabled = true
	})
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret)
	secrets := []string{secret, tok.AccessToken, tok.RefreshToken}

	wrong := e.do(req{body: form("grant_type", "client_credentials"),
		header: map[string]string{"Authorization": basic(id, "pcs_wrong")}})
	if wrong.Code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", wrong.Code)
	}
	r1 := e.refresh(id, secret, tok.RefreshToken).token(t)
	secrets = append(secrets, r1.AccessToken, r1.RefreshToken)
	if rec := e.refresh(id, secret, tok.RefreshToken); rec.code != http.StatusBadRequest {
		t.Fatalf("reuse: %d", rec.code)
	}
	if rec := e.do(req{path: "/oauth/revoke", body: form("token", r1.AccessToken),
		header: map[string]string{"Authorization": basic(id, secret)}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d", rec.Code)
	}
	got := log.take()
	if len(got) == 0 || !strings.HasPrefix(got[0], `credentials {"Subject":"client","ID":"`+id+`","Action":"created"`) {
		t.Fatalf("first hook call %q, want the client's creation", got)
	}
	got = got[1:]
	want := []string{"issued", "authfailed", "issued", "reused", "revoked"}
	if len(got) != len(want) {
		t.Fatalf("hook calls %q, want %q", got, want)
	}
	for n, ev := range got {
		if !strings.HasPrefix(ev, want[n]+" ") {
			t.Errorf("call %d = %s, want %s", n, ev, want[n])
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(ev, s) {
				t.Errorf("hook %s was given a secret or token", ev)
			}
		}
	}
	for _, check := range []struct {
		n   int
		has string
	}{
		{0, `"Kind":"client","GrantType":"client_credentials","Subject":"` + id + `"`},
		{0, `"Refresh":true`},
		{1, `"Subject":"client","ID":"` + id + `","Reason":"wrong_secret"`},
		{2, `"GrantType":"refresh_token"`},
		{3, `"ClientID":"` + id + `"`},
	} {
		if !strings.Contains(got[check.n], check.has) {
			t.Errorf("call %d = %s, want it to contain %s", check.n, got[check.n], check.has)
		}
	}
}

// Self-rotation is off by default: no route, no metadata member, and its
// path is a 404 like any unknown path (not a 405, which would say that the
// resource exists).
func TestEndpointRegistry(t *testing.T) {
	e := newEnv(t, false, nil)
	var names []string
	for _, rt := range e.iss.Routes() {
		names = append(names, rt.Name)
		if rt.Path == "" || rt.Handler == nil {
			t.Errorf("route %+v", rt)
		}
	}
	if slices.Contains(names, "credentials") || !slices.Contains(names, "token") || !slices.Contains(names, "metadata") {
		t.Errorf("routes %v: credentials should be off, the rest on", names)
	}
	if rec := e.do(req{path: "/oauth/credentials"}); rec.Code != http.StatusNotFound {
		t.Errorf("disabled endpoint answered %d", rec.Code)
	}
	rec := e.do(req{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"})
	if strings.Contains(rec.Body.String(), "portcullis_credentials_endpoint") {
		t.Errorf("metadata advertises a disabled endpoint: %s", rec.Body)
	}
}

func TestCredentialsHooks(t *testing.T) {
	var log hookLog
	e := newEnv(t, false, func(c *issuer.Config) { c.Hooks = log.hooks() })
	ctx := context.Background()
	id, _ := e.client(issuer.ClientSpec{OwnerAccount: "acct-1"})
	if _, err := e.iss.RotateClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(context.Context, string) error{e.iss.DisableClient, e.iss.EnableClient, e.iss.DeleteClient} {
		if err := f(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`{"Subject":"client","ID":"` + id + `","Action":"created","OwnerAccount":"acct-1"}`,
		`{"Subject":"client","ID":"` + id + `","Action":"rotated","OwnerAccount":"acct-1"}`,
		`{"Subject":"client","ID":"` + id + `","Action":"disabled","OwnerAccount":"acct-1"}`,
		`{"Subject":"client","ID":"` + id + `","Action":"enabled","OwnerAccount":"acct-1"}`,
		`{"Subject":"client","ID":"` + id + `","Action":"deleted","OwnerAccount":""}`,
	}
	got := log.take()
	if len(got) != len(want) {
		t.Fatalf("hook calls %q", got)
	}
	for n := range want {
		if got[n] != "credentials "+want[n] {
			t.Errorf("call %d = %s, want %s", n, got[n], want[n])
		}
	}
}

func TestAccountCredentialsHooks(t *testing.T) {
	var log hookLog
	e := newAccountEnv(t, func(c *issuer.Config) { c.Hooks = log.hooks() })
	ctx := context.Background()
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	key, _ := e.client(issuer.ClientSpec{OwnerAccount: a.ID})
	if err := e.iss.SetAccountPassword(ctx, a.ID, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	if err := e.iss.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(log.take(), "\n")
	for _, want := range []string{
		`credentials {"Subject":"account","ID":"` + a.ID + `","Action":"created","OwnerAccount":""}`,
		`credentials {"Subject":"client","ID":"` + key + `","Action":"created","OwnerAccount":"` + a.ID + `"}`,
		`credentials {"Subject":"account","ID":"` + a.ID + `","Action":"rotated","OwnerAccount":""}`,
		`credentials {"Subject":"client","ID":"` + key + `","Action":"deleted","OwnerAccount":"` + a.ID + `"}`,
		`credentials {"Subject":"account","ID":"` + a.ID + `","Action":"deleted","OwnerAccount":""}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hook calls\n%s\nlack\n%s", got, want)
		}
	}
	if strings.Contains(got, alicePassword) || strings.Contains(got, "another long passphrase") {
		t.Error("a hook was given a password")
	}
}
