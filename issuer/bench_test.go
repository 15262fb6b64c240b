package issuer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// BenchmarkTokenEndpoint measures the client_credentials grant through the
// handler: decode, rate-limit check, client lookup and secret hash, mint
// (sign, or store an opaque token), encode. The store is memory.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, tc := range []struct {
		name   string
		alg    string
		format issuer.Format
	}{
		{"ES256", token.ES256, issuer.FormatJWT},
		{"EdDSA", token.EdDSA, issuer.FormatJWT},
		{"HS256", token.HS256, issuer.FormatJWT},
		{"opaque", token.ES256, issuer.FormatOpaque},
	} {
		b.Run(tc.name, func(b *testing.B) {
			iss, err := issuer.New(issuer.Config{
				Issuer: testIssuer, Store: memory.New(), Algorithm: tc.alg, Format: tc.format,
				Scopes: []string{"read", "write"}, Logger: quietLogger(), SweepInterval: -1,
			})
			if err != nil {
				b.Fatal(err)
			}
			c, secret, err := iss.CreateClient(b.Context(), issuer.ClientSpec{})
			if err != nil {
				b.Fatal(err)
			}
			h := endpointHandler(b, iss, "token")
			auth := basic(c.ID, secret)
			const body = "grant_type=client_credentials&scope=read"
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("Authorization", auth)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
