package bench_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/bench/internal/endpoints"
	"github.com/portcullis/portcullis/internal/cputime"
)

// BenchmarkEndpoint times client_credentials at each token endpoint in
// process, on every core (RunParallel): request in, JSON token out, through
// an httptest recorder. The setups are described in package endpoints.
// ns/op is wall time per request across all cores, so 1e9/(ns/op) is the
// endpoint's requests per second without a network, and cpu-ns/op the
// CPU time of the whole process per request (what a loaded machine does not
// inflate; its inverse times the cores is the ceiling); the loopback figures
// come from cmd/endpoint-server and wrk (run.sh).
//
// run.sh runs each setup in a process of its own: go-oauth2's memory token
// store keeps a goroutine and every token it issued for the life of the
// process, which would slow whatever is measured after it.
func BenchmarkEndpoint(b *testing.B) {
	for _, name := range endpoints.Names {
		b.Run(name, func(b *testing.B) {
			e, err := endpoints.New(name)
			if err != nil {
				b.Fatal(err)
			}
			checkEndpoint(b, e)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cputime.Start()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					e.Handler.ServeHTTP(w, e.Request())
					if w.Code != http.StatusOK {
						b.Errorf("status %d: %s", w.Code, w.Body)
						return
					}
				}
			})
			cpu.Report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// checkEndpoint makes sure e answers a bearer access token before it is
// timed, so that no setup is measured answering errors fast.
func checkEndpoint(b testing.TB, e *endpoints.Endpoint) {
	b.Helper()
	w := httptest.NewRecorder()
	e.Handler.ServeHTTP(w, e.Request())
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if w.Code != http.StatusOK {
		b.Fatalf("%s: status %d: %s", e.Name, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		b.Fatalf("%s: %v: %s", e.Name, err, w.Body)
	}
	if resp.AccessToken == "" || resp.ExpiresIn <= 0 || (resp.TokenType != "Bearer" && resp.TokenType != "bearer") {
		b.Fatalf("%s: not a bearer token response: %s", e.Name, w.Body)
	}
}

// TestEndpoints makes sure that every setup timed above authenticates its
// client: it issues a token for the right secret and refuses a wrong one
// with 401, so that no setup is measured skipping the check.
func TestEndpoints(t *testing.T) {
	for _, name := range endpoints.Names {
		t.Run(name, func(t *testing.T) {
			e, err := endpoints.New(name)
			if err != nil {
				t.Fatal(err)
			}
			checkEndpoint(t, e)
			wrong := *e
			wrong.Secret = e.Secret[:len(e.Secret)-1] + "x"
			if wrong.Secret == e.Secret {
				wrong.Secret = e.Secret[:len(e.Secret)-1] + "y"
			}
			w := httptest.NewRecorder()
			e.Handler.ServeHTTP(w, wrong.Request())
			if w.Code != http.StatusUnauthorized {
				t.Errorf("wrong secret: status %d, want 401: %s", w.Code, w.Body)
			}
		})
	}
}
