package bench_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/bench/internal/endpoints"
	"github.com/portcullis/portcullis/internal/cputime"
	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// stores are the backends the token endpoint is timed on. Each but memory
// and SQLite (a file in a temporary directory) needs its server's variable
// (PORTCULLIS_TEST_POSTGRES, _MYSQL, _REDIS) and skips without it; each
// run gets a fresh schema, database or key prefix, removed afterwards
// (internal/dbtest).
var stores = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"memory", func(*testing.B) store.Store { return memory.New() }},
	{"sqlite", func(b *testing.B) store.Store { return sqlStore(b, dbtest.SQLite(b), sqlstore.SQLite) }},
	{"postgres", func(b *testing.B) store.Store { return sqlStore(b, dbtest.Postgres(b), sqlstore.Postgres) }},
	{"mysql", func(b *testing.B) store.Store { return sqlStore(b, dbtest.MySQL(b), sqlstore.MySQL) }},
	{"redis", func(b *testing.B) store.Store {
		rdb, prefix := dbtest.Redis(b)
		st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			b.Fatal(err)
		}
		return st
	}},
}

func sqlStore(b *testing.B, db *sql.DB, d sqlstore.Dialect) store.Store {
	st, err := sqlstore.Open(db, d)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkEndpointStore times client_credentials at Portcullis's token
// endpoint (ES256, the default) on each store, in process, on every core
// (RunParallel), as BenchmarkEndpoint does over memory: the client lookup,
// the rate-limit check and whatever else reaches the store are the
// difference. req/s is requests per second of wall time; cpu-ns/op counts
// this process only, not the database server's CPU, which shares the
// machine.
func BenchmarkEndpointStore(b *testing.B) {
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			e, err := endpoints.PortcullisOn("portcullis-"+s.name, s.open(b), token.ES256)
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
