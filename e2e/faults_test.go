package e2e

import (
	"context"
	"database/sql"
	"net/url"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/internal/faultload"
	"github.com/portcullis/portcullis/internal/faultproxy"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch"
)

// TestFaults runs in go test -race beside every other package on a
// 2-core machine, where CPU starvation alone can hold a request for
// seconds: it gives clients twice the soak's timeout (faultsClientTimeout),
// a store deadline of a tenth of that, and stretches the schedule's long
// pause past the client timeout, so that it still fails a server that does
// not bound its store calls. bench/cmd/soak runs faultload.DefaultSchedule
// with the 5 s default for minutes.
const (
	faultsClientTimeout = 10 * time.Second
	faultsStoreTimeout  = time.Second
)

// faultsSchedule is faultload.DefaultSchedule with its long pause 400 ms
// past faultsClientTimeout; faultsDuration is one cycle of it plus slack,
// so that every fault runs even when the timers run late.
var faultsSchedule, faultsDuration = func() ([]faultload.Step, time.Duration) {
	s := slices.Clone(faultload.DefaultSchedule)
	var d time.Duration
	for i := range s {
		if s[i].Fault == faultload.Pause && s[i].For > faultload.DefaultClientTimeout {
			s[i].For = faultsClientTimeout + 400*time.Millisecond
		}
		d += s[i].For
	}
	return s, d + 800*time.Millisecond
}()

// pendingFixes names, per backend, the invariants that still fail for a
// known cause outside this test; a violation of one is logged, not failed.
// Empty: every invariant holds on both backends.
var pendingFixes = map[string]map[faultload.Invariant]string{}

// withStoreDeadline gives each replica a per-call store deadline of a
// second and, as its default of twice that, a RequestTimeout of 2s for
// all of a request's store calls together, well within the client's
// timeout, so that a stalled store is answered 503 in time however many
// calls a request makes (README's "Deadlines" says how to choose them).
func withStoreDeadline(cfg *issuer.Config) { cfg.StoreTimeout = faultsStoreTimeout }

// TestFaults runs two replicas, each with its own handle on a PostgreSQL or
// Redis store reached through a fault proxy, under a mixed load of
// clients (client credentials, refresh, guarded calls, rotations,
// revocations) while the proxy pauses, delays past go-redis' read timeout,
// and cuts the connections. It fails on any broken invariant (see
// faultload) and on any goroutine left when everything is closed.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: -short")
	}
	for _, b := range []struct {
		name string
		open func(t *testing.T, addr func(target string) string) [2]store.Store
	}{
		{"postgres", faultPostgres},
		{"redis", faultRedis},
	} {
		t.Run(b.name, func(t *testing.T) {
			var proxy *faultproxy.Proxy
			// open sets up the database (its cleanups run last), then
			// asks for the proxy, so that the goroutines counted
			// from here on are the test's own.
			var baseline int
			stores := b.open(t, func(target string) string {
				baseline = runtime.NumGoroutine()
				t.Cleanup(func() {
					if n, stacks := faultload.GoroutinesLeft(baseline, 10*time.Second); n > 0 {
						t.Errorf("%d goroutines left after closing everything:\n%s", n, stacks)
					}
				})
				var err error
				if proxy, err = faultproxy.New(target); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { proxy.Close() })
				return proxy.Addr()
			})
			rep, err := faultload.Run(t.Context(), faultload.Config{
				Stores:        stores,
				Proxy:         proxy,
				Duration:      faultsDuration,
				Schedule:      faultsSchedule,
				ClientTimeout: faultsClientTimeout,
				Issuer:        withStoreDeadline,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:\n%s", b.name, rep)
			if rep.Faults["pause"] == 0 || rep.Faults["delay"] == 0 || rep.Faults["cut"] == 0 || rep.Outcomes["final secret"]["200"] == 0 {
				t.Errorf("the run did not apply every fault, or no client got a token at the end: faults %v", rep.Faults)
			}
			for _, inv := range faultload.Invariants {
				n := rep.Violations[inv]
				if n == 0 {
					continue
				}
				if why, ok := pendingFixes[b.name][inv]; ok {
					t.Logf("PENDING %s: %q broken %d times; expected until %s", b.name, inv, n, why)
					continue
				}
				t.Errorf("%q broken %d times", inv, n)
			}
		})
	}
}

// faultPostgres makes a fresh schema, migrates it directly, and opens two
// PostgreSQL stores (with LISTEN, through pgwatch) on it through the proxy
// that addr starts.
func faultPostgres(t *testing.T, addr func(string) string) [2]store.Store {
	dsn := dbtest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pgwatch.Open(db)
	if err == nil {
		err = st.Migrate(context.Background())
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr(u.Host)
	var stores [2]store.Store
	for i := range stores {
		// As sqlstore's doc advises: openings outlive their caller, and
		// enough connections stay idle to survive a stall.
		db, err := sqlstore.OpenDB("pgx", u.String(), 32)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if stores[i], err = pgwatch.Open(db); err != nil {
			t.Fatal(err)
		}
	}
	return stores
}

// faultRedis opens two Redis stores under a fresh key prefix through the
// proxy that addr starts, each with its own client, configured as the
// README configures it (go-redis' defaults).
func faultRedis(t *testing.T, addr func(string) string) [2]store.Store {
	prefix := dbtest.RedisPrefix(t)
	opts := dbtest.RedisOptions(t)
	opts.Addr = addr(opts.Addr)
	// As README's "Deadlines" asks: the store deadline cuts a read short.
	opts.ContextTimeoutEnabled = true
	var stores [2]store.Store
	for i := range stores {
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { rdb.Close() })
		var err error
		if stores[i], err = redisstore.New(rdb, redisstore.WithPrefix(prefix)); err != nil {
			t.Fatal(err)
		}
	}
	return stores
}
