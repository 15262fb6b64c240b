package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// BenchmarkStoreEndpoint times the token endpoint through iss.Handler()
// on every backend, with many requests in flight (as wrk's connections
// would be) so that store round trips overlap: client_credentials without
// and with refresh tokens, and the refresh grant. The signing algorithm is
// EdDSA, the cheapest, so that the store's share shows. req/s is requests
// per second of wall time in process (no network); cpu-ns/op is the
// process's user+system CPU per request, which counts the database's
// work only when it runs elsewhere (SQLite runs in process). Backends
// without their PORTCULLIS_TEST_* variable are skipped.
//
//	go test -run '^$' -bench StoreEndpoint -benchtime 3s ./e2e
func BenchmarkStoreEndpoint(b *testing.B) {
	// sqlite-1conn is SQLite as store/sqlstore recommends for one
	// process: one connection, so that its writers never wait for each
	// other in SQLite's busy handler.
	all := append(slices.Clone(backends), backend{name: "sqlite-1conn", fresh: freshSQLiteOneConn})
	for _, be := range all {
		if be.name == "postgres-listen" {
			continue // the same SQL as postgres
		}
		for _, mode := range []string{"cc", "cc+refresh", "refresh"} {
			for _, cache := range []string{"cache", "nocache"} {
				b.Run(be.name+"/"+mode+"/"+cache, func(b *testing.B) {
					benchStoreEndpoint(b, be, mode, cache == "cache")
				})
			}
		}
	}
}

func benchStoreEndpoint(b *testing.B, be backend, mode string, cache bool) {
	st := freshStore(b, be)
	cfg := issuer.Config{
		Issuer: issuerID, Store: st, Scopes: scopes, Algorithm: issuer.EdDSA,
		Logger: benchLogger(), SweepInterval: -1,
		Refresh: issuer.RefreshConfig{Enabled: mode != "cc"},
	}
	if !cache {
		cfg.ClientCacheTTL = -1
	}
	iss, err := issuer.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{})
	if err != nil {
		b.Fatal(err)
	}
	h := iss.Handler()
	auth := basicAuth(c.ID, secret)
	post := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, iss.Paths().Token, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	body := "grant_type=client_credentials&scope=read"
	b.SetParallelism(16) // 32 requests in flight on 2 cores
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		refreshToken := ""
		for pb.Next() {
			req := body
			if mode == "refresh" {
				if refreshToken == "" {
					refreshToken = refreshOf(b, post(body))
				}
				req = "grant_type=refresh_token&refresh_token=" + refreshToken
			}
			w := post(req)
			if w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
			if mode == "refresh" {
				refreshToken = refreshOf(b, w)
			}
		}
	})
	b.StopTimer()
	reportCPU(b, start)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// freshSQLiteOneConn is freshSQLite over a pool of one connection.
func freshSQLiteOneConn(t testing.TB) func() store.Store {
	db := dbtest.SQLite(t)
	db.SetMaxOpenConns(1)
	st, err := sqlstore.Open(db, sqlstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return func() store.Store { return st }
}

// refreshOf returns the refresh token of a token response.
func refreshOf(b testing.TB, w *httptest.ResponseRecorder) string {
	s := w.Body.String()
	const key = `"refresh_token":"`
	i := strings.Index(s, key)
	if i < 0 {
		b.Fatalf("no refresh token: %d %s", w.Code, s)
	}
	s = s[i+len(key):]
	return s[:strings.IndexByte(s, '"')]
}

// freshStore makes an empty, migrated store of be for b.
func freshStore(b *testing.B, be backend) store.Store {
	return be.fresh(b)()
}

func basicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkClientScale times the token endpoint's client authentication
// with n distinct clients in the store, each request for a random one:
// the store lookup alone (nocache) and through the issuer's client cache.
// The 100k size runs only with PORTCULLIS_BENCH_SCALE=1, since creating
// the clients takes a while on a database.
func BenchmarkClientScale(b *testing.B) {
	sizes := []int{1000}
	if os.Getenv("PORTCULLIS_BENCH_SCALE") == "1" {
		sizes = append(sizes, 100_000)
	}
	for _, be := range backends {
		if be.name != "memory" && be.name != "sqlite" && be.name != "postgres" && be.name != "mysql" {
			continue
		}
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%dk", be.name, n/1000), func(b *testing.B) {
				benchClientScale(b, be, n)
			})
		}
	}
}

func benchClientScale(b *testing.B, be backend, n int) {
	st := freshStore(b, be)
	ctx := context.Background()
	maker, err := issuer.New(issuer.Config{Issuer: issuerID, Store: st, Scopes: scopes, Algorithm: issuer.EdDSA,
		Logger: slog.New(slog.DiscardHandler), SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	// One secret hash for every client: CreateClient would hash a fresh
	// secret each time; the lookup does not care.
	proto, secret, err := maker.CreateClient(ctx, issuer.ClientSpec{ID: "c0"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := 1; i < n; i++ {
		c := *proto
		c.ID, c.CreatedAt, c.UpdatedAt = fmt.Sprintf("c%d", i), now, now
		if err := st.CreateClient(ctx, &c); err != nil {
			b.Fatal(err)
		}
	}
	for _, cache := range []bool{false, true} {
		name := "nocache"
		if cache {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			cfg := issuer.Config{Issuer: issuerID, Store: st, Scopes: scopes, Algorithm: issuer.EdDSA,
				Logger: slog.New(slog.DiscardHandler), SweepInterval: -1, ClientCacheTTL: time.Hour}
			if !cache {
				cfg.ClientCacheTTL = -1
			}
			iss, err := issuer.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			h := iss.Handler()
			auths := make([]string, n)
			for i := range auths {
				auths[i] = basicAuth(fmt.Sprintf("c%d", i), secret)
			}
			if cache { // warm it: every client once
				for _, a := range auths {
					serveToken(b, h, iss, a)
				}
			}
			b.SetParallelism(16)
			b.ReportAllocs()
			start := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					serveToken(b, h, iss, auths[rand.IntN(n)])
				}
			})
			b.StopTimer()
			reportCPU(b, start)
		})
	}
}

func serveToken(b *testing.B, h http.Handler, iss *issuer.Issuer, auth string) {
	r := httptest.NewRequest(http.MethodPost, iss.Paths().Token, strings.NewReader("grant_type=client_credentials&scope=read"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", auth)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Errorf("status %d: %s", w.Code, w.Body)
	}
}

// benchLogger discards the issuer's log unless PORTCULLIS_BENCH_LOG=1,
// which shows why a request failed.
func benchLogger() *slog.Logger {
	if os.Getenv("PORTCULLIS_BENCH_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}
