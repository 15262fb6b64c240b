package issuer_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/cputime"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// BenchmarkTokenEndpoint measures the client_credentials grant through the
// handler: decode, rate-limit check, client lookup and secret hash, mint
// (sign, or store an opaque token), encode. The store is memory. cpu-ns/op
// is the process's CPU time per request (package internal/cputime): on a
// shared machine, compare with it rather than with ns/op.
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
			cpu := cputime.Start()
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
			cpu.Report(b)
		})
	}
}

// BenchmarkLogin measures the login endpoint through iss.Handler() at the
// default argon2id parameters (m=64 MiB, t=3, p=4), over the memory
// store: Basic decoding, the rate-limit count, the account lookup, one
// argon2id computation and, on success, minting an account token. known
// is a successful login (200); wrong-password and unknown-login are the
// two refusals (401), which should cost what known does, since an unknown
// login is checked against a dummy hash. serial runs one request at a
// time; parallel runs GOMAXPROCS goroutines, as many as the default
// Passwords.MaxConcurrent lets hash at once. req/s is requests per second
// of wall time; B/op is dominated by argon2id's 64 MiB of memory.
//
// The rate limits are raised out of reach rather than disabled, so that
// the refusals still pay for counting their failures.
func BenchmarkLogin(b *testing.B) {
	const (
		user = "alice"
		pass = "correct horse battery staple"
	)
	iss, err := issuer.New(issuer.Config{
		Issuer: testIssuer, Store: memory.New(), Logger: quietLogger(), SweepInterval: -1,
		RateLimit: issuer.RateLimit{PerClient: math.MaxInt32, PerAddress: math.MaxInt32},
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := iss.CreateAccount(b.Context(), issuer.AccountSpec{Username: user, Password: pass}); err != nil {
		b.Fatal(err)
	}
	h := iss.Handler()
	login := func(tb testing.TB, user, pass string, want int) {
		r := httptest.NewRequest(http.MethodPost, "/account/login", nil)
		r.SetBasicAuth(user, pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			tb.Fatalf("login %q: %d %s, want %d", user, w.Code, w.Body, want)
		}
	}
	cases := []struct {
		name, user, pass string
		want             int
	}{
		{"known", user, pass, http.StatusOK},
		{"wrong-password", user, "not the password at all", http.StatusUnauthorized},
		{"unknown-login", "bob", pass, http.StatusUnauthorized},
	}
	b.Run("serial", func(b *testing.B) {
		for _, tc := range cases {
			b.Run(tc.name, func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					login(b, tc.user, tc.pass, tc.want)
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "req/s")
			})
		}
	})
	b.Run("parallel", func(b *testing.B) {
		for _, tc := range cases {
			b.Run(tc.name, func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						login(b, tc.user, tc.pass, tc.want)
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	})
}
