package issuer_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/issuer"
)

// FuzzDialectHandlers throws arbitrary requests at the token endpoint of an
// issuer per seed dialect (OffBlocks, Bloq, DataCrunch, generic), with a
// memory store and a client whose credentials the seeds use, and at the
// request readers every dialect is built on (ReadParams, ClientAuth,
// BasicAuth). Never a panic; never a 5xx but 503; always a JSON object,
// and on an error status the dialect's error member holding an RFC 6749
// §5.2 error code; the readers' errors are *issuer.Error.
func FuzzDialectHandlers(f *testing.F) {
	const id, secret = "fuzz-client", "pcs_fuzz-secret"
	type target struct {
		name    string
		h       http.Handler
		errCode string // the error body's member holding the code
	}
	var targets []target
	for _, d := range []issuer.DialectSpec{issuer.OffBlocks(), issuer.Bloq(), issuer.DataCrunch(), issuer.Generic()} {
		e := newEnv(f, false, func(c *issuer.Config) {
			c.Dialect = d
			c.Refresh.Enabled = true
			c.Scopes = []string{"read", "write"}
			c.MaxBodyBytes = 4 << 10
			c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: -1}
		})
		e.client(issuer.ClientSpec{ID: id, Secret: secret})
		code := d.Error.Code
		if code == "" {
			code = "error"
		}
		targets = append(targets, target{d.Name, endpointHandler(f, e.iss, "token"), code})
	}
	auth := basic(id, secret)
	for _, s := range []struct{ ct, auth, body string }{
		// Each dialect's own success shapes, and the others'.
		{"application/json", "", `{"grant_type":"client_credentials","client_id":"` + id + `","client_secret":"` + secret + `"}`},
		{"application/json", "", `{"grantType":"clientCredentials","clientId":"` + id + `","clientSecret":"` + secret + `"}`},
		{"application/json", "", `{"apiKey":"` + id + `","apiSecret":"` + secret + `"}`},
		{"application/json", "", `{"clientId":"` + id + `","secret":"` + secret + `"}`},
		{"application/x-www-form-urlencoded", auth, "grant_type=client_credentials&scope=read"},
		{"application/x-www-form-urlencoded", "", "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret},
		{"application/json", auth, `{"grant_type":"refresh_token","refresh_token":"pcr_x"}`},
		{"application/json", "", `{"grantType":"refreshToken","refreshToken":"pcr_x","clientId":"` + id + `"}`},
		// Broken ones.
		{"application/json", "", `{"grant_type":["a"],"x":{"y":1}}`},
		{"application/json; charset=latin1", "", `{"a":"\u0000","a":"b"}`},
		{"application/json", "Basic Og==", `{"client_secret":"b"}`},
		{"application/json", "Bearer x", `{"grantType":"clientCredentials"}`},
		{"application/x-www-form-urlencoded", "Basic " + strings.Repeat("A", 100), "a=%zz&a=b;c"},
		{"multipart/form-data; boundary=x", "", "--x--"},
		{"text/plain", "", "x"},
		{"", "", ""},
	} {
		f.Add(s.ct, s.auth, s.body)
	}
	f.Fuzz(func(t *testing.T, ct, authz, body string) {
		request := func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if authz != "" {
				r.Header.Set("Authorization", authz)
			}
			return r
		}

		// The readers alone.
		var e *issuer.Error
		if p, err := issuer.ReadParams(request()); err != nil {
			if !errors.As(err, &e) {
				t.Fatalf("ReadParams: %T %v", err, err)
			}
		} else if _, _, _, err := issuer.ClientAuth(request(), p); err != nil && !errors.As(err, &e) {
			t.Fatalf("ClientAuth: %T %v", err, err)
		}
		if _, _, basic, err := issuer.BasicAuth(request()); err != nil {
			if basic || !errors.As(err, &e) {
				t.Fatalf("BasicAuth: basic %v, %T %v", basic, err, err)
			}
		}

		// Each dialect's endpoint.
		for _, tg := range targets {
			rec := httptest.NewRecorder()
			tg.h.ServeHTTP(rec, request())
			if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s: %d %s for %q %q %q", tg.name, rec.Code, rec.Body, ct, authz, body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Fatalf("%s: Content-Type %q", tg.name, got)
			}
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s: %d body %q is no JSON object: %v", tg.name, rec.Code, rec.Body, err)
			}
			if rec.Code >= 400 {
				code, _ := doc[tg.errCode].(string)
				if !errorCode(code) {
					t.Fatalf("%s: %d error body %s has no error code in %q", tg.name, rec.Code, rec.Body, tg.errCode)
				}
			}
		}
	})
}

// errorCode reports whether s is a valid RFC 6749 §5.2 error code:
// 1*( %x20-21 / %x23-5B / %x5D-7E ).
func errorCode(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
