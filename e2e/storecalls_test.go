package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/portcullis/portcullis/adapters/otelauth"
	"github.com/portcullis/portcullis/issuer"
)

// TestStoreCallsPerRequest counts the store calls of one token request on
// every backend, through otelauth's store wrapper (which times, and so
// counts, every call by operation): client_credentials with the client
// cache and the rate-limit count cache warm, without and with refresh
// tokens, and the refresh grant; and client_credentials with the count
// cache off. Each call is one round trip on the SQL stores
// (ExchangeRefreshToken is one statement on PostgreSQL, one CALL on MySQL)
// and on a single Redis server (one script, or one MGET for CountMany). The test pins the calls so that a change adding one
// shows, and logs them (go test -v) for bench/README.md. The clock stands
// still, so that no cache runs out between the requests on a slow machine.
func TestStoreCallsPerRequest(t *testing.T) {
	want := map[string][]string{
		// The client and its counters are cached: no round trip at all.
		"cc":         nil,
		"cc+refresh": {"CreateRefreshToken"},
		// Every backend is a store.RefreshExchanger: the read, checks and
		// rotation in one call.
		"refresh": {"ExchangeRefreshToken"},
		// Without the count cache, the pre-check reads both counters at
		// once.
		"cc, counts uncached": {"CountMany"},
	}
	start := time.Now()
	now := func() time.Time { return start }
	forEachBackend(t, func(t *testing.T, be backend) {
		reader := metric.NewManualReader()
		tel, err := otelauth.New(otelauth.Config{MeterProvider: metric.NewMeterProvider(metric.WithReader(reader))})
		if err != nil {
			t.Fatal(err)
		}
		st := tel.Store(be.fresh(t)())
		counter := &callCounter{reader: reader}
		iss, err := issuer.New(issuer.Config{
			Issuer: issuerID, Store: st, Scopes: scopes, Algorithm: issuer.EdDSA,
			Logger: benchLogger(), SweepInterval: -1, Refresh: issuer.RefreshConfig{Enabled: true}, Now: now,
		})
		if err != nil {
			t.Fatal(err)
		}
		c, secret, err := iss.CreateClient(t.Context(), issuer.ClientSpec{})
		if err != nil {
			t.Fatal(err)
		}
		h := iss.Handler()
		post := func(body string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, iss.Paths().Token, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", basicAuth(c.ID, secret))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			return w
		}
		cc := "grant_type=client_credentials&scope=read"
		post(cc) // warms the client cache (and the signing key)
		counter.take(t)
		rt := refreshOf(t, post(cc))
		got := counter.take(t)
		check(t, "cc+refresh", got, want["cc+refresh"])
		post("grant_type=refresh_token&refresh_token=" + rt)
		check(t, "refresh", counter.take(t), want["refresh"])
		// Without refresh tokens, with and without the count cache:
		// other issuers on the same store.
		for _, what := range []string{"cc", "cc, counts uncached"} {
			rl := issuer.RateLimit{}
			if what != "cc" {
				rl.CountCacheTTL = -1
			}
			iss2, err := issuer.New(issuer.Config{
				Issuer: issuerID, Store: st, Scopes: scopes, Algorithm: issuer.EdDSA,
				Logger: benchLogger(), SweepInterval: -1, Now: now, RateLimit: rl,
			})
			if err != nil {
				t.Fatal(err)
			}
			c2, secret2, err := iss2.CreateClient(t.Context(), issuer.ClientSpec{})
			if err != nil {
				t.Fatal(err)
			}
			c, secret, iss, h = c2, secret2, iss2, iss2.Handler()
			post(cc)
			counter.take(t)
			post(cc)
			check(t, what, counter.take(t), want[what])
		}
	})
}

// check compares the store calls of one request with want.
func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	t.Logf("%s: %d store calls %v", what, len(got), got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: store calls %v, want %v", what, got, want)
	}
}

// callCounter counts store calls from otelauth's store metric.
type callCounter struct {
	reader *metric.ManualReader
	prev   map[string]uint64 // the (cumulative) totals at the last take
}

// take returns the store operations recorded since the last take, one
// entry per call, sorted by name.
func (c *callCounter) take(t *testing.T) []string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := c.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	total := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "portcullis.store.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				op, _ := dp.Attributes.Value("operation")
				total[op.AsString()] += dp.Count
			}
		}
	}
	var out []string
	for op, n := range total {
		for range n - c.prev[op] {
			out = append(out, op)
		}
	}
	c.prev = total
	slices.Sort(out)
	return out
}
