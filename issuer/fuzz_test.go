package issuer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/issuer"
)

// FuzzTokenRequest throws arbitrary requests at the token endpoint and the
// OAuth2 decoder: never a panic, never a 5xx, always a JSON answer that
// caches nothing.
func FuzzTokenRequest(f *testing.F) {
	e := newEnv(f, false, func(c *issuer.Config) {
		c.Refresh.Enabled = true
		c.Scopes = []string{"read", "write"}
		c.MaxBodyBytes = 4 << 10
		c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: -1}
	})
	const id, secret = "fuzz-client", "pcs_fuzz"
	if _, _, err := e.iss.CreateClient(f.Context(), issuer.ClientSpec{ID: id, Secret: secret}); err != nil {
		f.Fatal(err)
	}
	auth := basic(id, secret)
	for _, s := range []struct{ method, query, ct, auth, body string }{
		{"POST", "", "application/x-www-form-urlencoded", auth, "grant_type=client_credentials"},
		{"POST", "", "application/x-www-form-urlencoded", "", "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret + "&scope=read"},
		{"POST", "", "application/json", "", `{"grant_type":"client_credentials","client_id":"` + id + `","client_secret":"` + secret + `"}`},
		{"POST", "", "application/json", auth, `{"grant_type":"refresh_token","refresh_token":"pcr_x"}`},
		{"POST", "", "application/json", "", `{"grant_type":["a"],"x":{"y":1}}`},
		{"POST", "", "application/json; charset=utf-8", "", `{"a":"\u0000","a":"b"}`},
		{"POST", "x=1", "application/x-www-form-urlencoded", auth, "grant_type=client_credentials"},
		{"GET", "", "", "", ""},
		{"POST", "", "multipart/form-data; boundary=x", "Basic Og==", "--x--"},
		{"POST", "", "application/x-www-form-urlencoded", "Basic " + strings.Repeat("A", 100), "a=%zz&a=b;c"},
		{"POST", "", "application/json", "Bearer x", `{"grant_type":"client_credentials"}` + "\x00"},
	} {
		f.Add(s.method, s.query, s.ct, s.auth, s.body)
	}
	f.Fuzz(func(t *testing.T, method, query, ct, authz, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		if validMethod(method) {
			r.Method = method
		}
		r.URL.RawQuery = query
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		// The decoder alone must not panic either.
		alone := r.Clone(t.Context())
		alone.Body = nopCloser{strings.NewReader(body)}
		if req, err := (issuer.OAuth2{}).DecodeTokenRequest(alone); err == nil {
			switch req.AuthMethod {
			case issuer.AuthNone, issuer.AuthBasic, issuer.AuthPost:
			default:
				t.Fatalf("auth method %q", req.AuthMethod)
			}
			if req.AuthMethod == issuer.AuthNone && req.ClientSecret != "" {
				t.Fatal("a secret without an auth method")
			}
		}
		rec := httptest.NewRecorder()
		endpointHandler(t, e.iss, "token").ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%d %s for %q %q %q %q %q", rec.Code, rec.Body, method, query, ct, authz, body)
		}
		if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", rec.Header())
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }
