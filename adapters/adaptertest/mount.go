package adaptertest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// Mount serves the issuer's endpoints the adapter's way, and GET Path behind
// g.
type Mount func(iss *issuer.Issuer, g *middleware.Guard, h http.Handler) http.Handler

// RunMount checks that the issuer's endpoints mounted through an adapter
// answer as iss.Handler() does, and drive a whole flow: a token from the
// token endpoint passes the guard, introspects as active, and is refused
// once revoked; the credentials endpoint rotates the secret.
func RunMount(t *testing.T, mount Mount) {
	t.Helper()
	ctx := context.Background()
	const base = "https://issuer.mount.adaptertest"
	iss, err := issuer.New(issuer.Config{
		Issuer: base, Store: memory.New(), Scopes: []string{Scope},
		Logger: slog.New(slog.DiscardHandler),
		// Off by default; on here so that Mount is seen to route it.
		Paths: issuer.Paths{Credentials: issuer.DefaultCredentialsPath},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{Name: "adaptertest", IntrospectAny: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{Scope}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{}
	h := mount(iss, g, f.Handler())
	ref := iss.Handler()
	p := iss.Paths()

	t.Run("same answers as Handler", func(t *testing.T) {
		for _, path := range []string{p.Token, p.Revocation, p.Introspection, p.Credentials, p.JWKS, p.Metadata} {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
				want := serve(ref, httptest.NewRequest(method, path, nil))
				got := serve(h, httptest.NewRequest(method, path, nil))
				if got.Code != want.Code || got.Body.String() != want.Body.String() ||
					got.Header().Get("Content-Type") != want.Header().Get("Content-Type") ||
					got.Header().Get("Allow") != want.Header().Get("Allow") {
					t.Errorf("%s %s: got %d %v %q, want %d %v %q", method, path,
						got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
				}
			}
		}
	})

	form := func(path, user, pass string, kv ...string) *httptest.ResponseRecorder {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		return serve(h, r)
	}
	bearer := func(method, path, tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return serve(h, r)
	}
	decode := func(w *httptest.ResponseRecorder, v any) {
		t.Helper()
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if err := json.NewDecoder(io.LimitReader(w.Body, 1<<20)).Decode(v); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("flow", func(t *testing.T) {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		decode(form(p.Token, c.ID, secret, "grant_type", "client_credentials", "scope", Scope), &tok)
		if w := bearer(http.MethodGet, Path, tok.AccessToken); w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "client "+c.ID) {
			t.Fatalf("guarded route: %d %s", w.Code, w.Body)
		}
		var in struct {
			Active   bool   `json:"active"`
			ClientID string `json:"client_id"`
		}
		decode(form(p.Introspection, c.ID, secret, "token", tok.AccessToken), &in)
		if !in.Active || in.ClientID != c.ID {
			t.Errorf("introspection = %+v", in)
		}
		if w := form(p.Revocation, c.ID, secret, "token", tok.AccessToken); w.Code != http.StatusOK {
			t.Fatalf("revocation: %d %s", w.Code, w.Body)
		}
		if w := bearer(http.MethodGet, Path, tok.AccessToken); w.Code != http.StatusUnauthorized {
			t.Errorf("revoked token: %d %s", w.Code, w.Body)
		}

		decode(form(p.Token, c.ID, secret, "grant_type", "client_credentials"), &tok)
		var rot struct {
			ClientSecret string `json:"client_secret"`
		}
		decode(bearer(http.MethodPost, p.Credentials, tok.AccessToken), &rot)
		if rot.ClientSecret == "" || rot.ClientSecret == secret {
			t.Fatalf("rotation returned %q", rot.ClientSecret)
		}
		if w := form(p.Token, c.ID, rot.ClientSecret, "grant_type", "client_credentials"); w.Code != http.StatusOK {
			t.Errorf("new secret: %d %s", w.Code, w.Body)
		}
		var meta struct {
			Issuer        string `json:"issuer"`
			TokenEndpoint string `json:"token_endpoint"`
		}
		decode(serve(h, httptest.NewRequest(http.MethodGet, p.Metadata, nil)), &meta)
		if meta.Issuer != base || meta.TokenEndpoint != base+p.Token {
			t.Errorf("metadata = %+v", meta)
		}
	})
}
