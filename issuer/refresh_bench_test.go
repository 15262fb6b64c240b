package issuer_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// benchBackends opens each store the refresh benchmark runs over; the
// persistent ones skip without their environment variable.
var benchBackends = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"memory", func(*testing.B) store.Store { return memory.New() }},
	{"postgres", func(b *testing.B) store.Store { return benchSQL(b, dbtest.Postgres(b), sqlstore.Postgres) }},
	{"mysql", func(b *testing.B) store.Store { return benchSQL(b, dbtest.MySQL(b), sqlstore.MySQL) }},
	{"sqlite", func(b *testing.B) store.Store { return benchSQL(b, dbtest.SQLite(b), sqlstore.SQLite) }},
	{"redis", func(b *testing.B) store.Store {
		rdb, prefix := dbtest.Redis(b)
		st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			b.Fatal(err)
		}
		return st
	}},
}

func benchSQL(b *testing.B, db *sql.DB, d sqlstore.Dialect) store.Store {
	b.Helper()
	st, err := sqlstore.Open(db, d)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkRefreshGrant measures the refresh_token grant through the token
// handler, one refresh after another down one family, over every backend:
// client authentication, the refresh token's lookup, minting (ES256) and the
// rotation. cpu-µs/op is the process's user and system CPU time per
// refresh (getrusage), which a loaded machine disturbs less than ns/op; the
// database server's own time is not in it.
func BenchmarkRefreshGrant(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			iss, err := issuer.New(issuer.Config{
				Issuer: testIssuer, Store: be.open(b), Refresh: issuer.RefreshConfig{Enabled: true},
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
			post := func(body string) tokenResp {
				r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("Authorization", auth)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				var tr tokenResp
				if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
					b.Fatal(err)
				}
				return tr
			}
			rt := post("grant_type=client_credentials").RefreshToken
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				rt = post("grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt)).RefreshToken
			}
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
