package issuer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
)

func TestJWKSPublishesOnlyPublicKeys(t *testing.T) {
	for _, tc := range []struct {
		alg, kty string
		members  []string
	}{
		{token.ES256, "EC", []string{"kty", "use", "alg", "kid", "crv", "x", "y"}},
		{token.EdDSA, "OKP", []string{"kty", "use", "alg", "kid", "crv", "x"}},
		{token.RS256, "RSA", []string{"kty", "use", "alg", "kid", "n", "e"}},
		{token.HS256, "", nil},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) { c.Algorithm = tc.alg })
			rec := e.do(req{method: http.MethodGet, path: "/.well-known/jwks.json"})
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" ||
				rec.Header().Get("Cache-Control") != "public, max-age=300" {
				t.Fatalf("%d %v", rec.Code, rec.Header())
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
				t.Fatal(err)
			}
			if tc.alg == token.HS256 {
				if rec.Body.String() != `{"keys":[]}` {
					t.Errorf("HS256 JWKS %s, want no keys", rec.Body)
				}
				return
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS %s, want one key", rec.Body)
			}
			k := set.Keys[0]
			if len(k) != len(tc.members) || k["kty"] != tc.kty || k["alg"] != tc.alg || k["use"] != "sig" {
				t.Errorf("key %v, want exactly the public members %v", k, tc.members)
			}
			for _, m := range tc.members {
				if _, ok := k[m]; !ok {
					t.Errorf("key lacks %q", m)
				}
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS publishes private member %q", private)
				}
			}
			// The published key is the one tokens name.
			id, secret := e.client(issuer.ClientSpec{})
			tr := e.getToken(id, secret)
			hdr := strings.Split(tr.AccessToken, ".")[0]
			if !strings.Contains(decodeSegment(t, hdr), `"kid":"`+k["kid"].(string)+`"`) {
				t.Errorf("token header %s does not name kid %v", decodeSegment(t, hdr), k["kid"])
			}
		})
	}
}

func TestWellKnownMethods(t *testing.T) {
	e := newEnv(t, false, nil)
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server"} {
		rec := e.do(req{method: http.MethodPost, path: path})
		wantResponse(t, rec, 405, map[string]string{"Allow": "GET, HEAD", "Content-Type": "application/json"},
			errBody("invalid_request", "the method must be GET or HEAD"))
		rec = e.do(req{method: http.MethodHead, path: path})
		if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD %s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
	}
	if rec := e.do(req{method: http.MethodGet, path: "/nope"}); rec.Code != 404 {
		t.Errorf("unknown path: %d", rec.Code)
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Issuer = "https://auth.example.com/tenant"
		c.Scopes = []string{"read", "write"}
		c.Paths.Token = "/token"
		c.Paths.Credentials = issuer.DefaultCredentialsPath
	})
	rec := e.do(req{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"})
	// The members come from the endpoint registry, in its order.
	want := `{"issuer":"https://auth.example.com/tenant",` +
		`"token_endpoint":"https://auth.example.com/tenant/token",` +
		`"grant_types_supported":["client_credentials"],` +
		`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
		`"revocation_endpoint":"https://auth.example.com/tenant/oauth/revoke",` +
		`"revocation_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
		`"introspection_endpoint":"https://auth.example.com/tenant/oauth/introspect",` +
		`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],` +
		`"portcullis_credentials_endpoint":"https://auth.example.com/tenant/oauth/credentials",` +
		`"jwks_uri":"https://auth.example.com/tenant/.well-known/jwks.json",` +
		`"portcullis_login_endpoint":"https://auth.example.com/tenant/account/login",` +
		`"portcullis_account_keys_endpoint":"https://auth.example.com/tenant/account/keys",` +
		`"portcullis_changes_endpoint":"https://auth.example.com/tenant/oauth/changes",` +
		`"scopes_supported":["read","write"],` +
		`"response_types_supported":[]}`
	wantResponse(t, rec, 200, map[string]string{"Content-Type": "application/json"}, want)
	var m map[string]any
	json.Unmarshal(rec.Body.Bytes(), &m)
	if m["issuer"] != e.cfg.Issuer {
		t.Errorf("issuer %q, want exactly %q", m["issuer"], e.cfg.Issuer)
	}
	if p := e.iss.Paths(); p.Token != "/token" || p.Revocation != "/oauth/revoke" || p.Metadata != "/.well-known/oauth-authorization-server" {
		t.Errorf("Paths() = %+v", p)
	}

	// RFC 8414 §3: the canonical location of a path issuer's metadata is
	// the well-known prefix between the host and the path, served from the
	// host's root, alongside the path-appended one above.
	host := http.NewServeMux()
	host.Handle("/tenant/", http.StripPrefix("/tenant", e.iss.Handler()))
	wk := e.iss.WellKnownRoutes()
	if len(wk) != 1 || wk[0].Name != "metadata" || wk[0].Path != "/.well-known/oauth-authorization-server/tenant" {
		t.Fatalf("WellKnownRoutes() = %+v", wk)
	}
	for _, rt := range wk {
		host.Handle(rt.Path, rt.Handler)
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/oauth-authorization-server"} {
		r := httptest.NewRecorder()
		host.ServeHTTP(r, httptest.NewRequest(http.MethodGet, "https://auth.example.com"+path, nil))
		wantResponse(t, r, 200, map[string]string{"Content-Type": "application/json"}, want)
	}
	r := httptest.NewRecorder()
	host.ServeHTTP(r, httptest.NewRequest(http.MethodPost, "https://auth.example.com"+wk[0].Path, nil))
	if r.Code != 405 {
		t.Errorf("POST at the RFC 8414 location: %d, want 405", r.Code)
	}
}

// An issuer without a path has its metadata at the RFC 8414 location
// already, and no route outside its own; nor has one whose metadata is off.
func TestWellKnownRoutesWithoutPath(t *testing.T) {
	if wk := newEnv(t, false, nil).iss.WellKnownRoutes(); len(wk) != 0 {
		t.Errorf("issuer without a path: %+v", wk)
	}
	off := newEnv(t, false, func(c *issuer.Config) { c.Issuer = "https://auth.example.com/t"; c.Paths.Metadata = "-" })
	if wk := off.iss.WellKnownRoutes(); len(wk) != 0 {
		t.Errorf("metadata off: %+v", wk)
	}
}

func decodeSegment(t *testing.T, s string) string {
	t.Helper()
	b, err := base64URL(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
