package e2e

// Where the PostgreSQL server's CPU per refresh goes (issue 10 item 4):
// BenchmarkRefreshPGDiag is BenchmarkRefreshAB's postgres run with what
// the server did per refresh beside it (WAL bytes and records, WAL syncs,
// full-page images, the share of consumes that were HOT updates, and the
// backends' page faults and context switches); BenchmarkRefreshPGStatements
// times the grant's two statements alone, one connection, one at a time.
//
//	go test -run '^$' -bench RefreshPG -benchtime 15000x ./e2e
//
// PORTCULLIS_AB_DDL, statements separated by ';', runs after Migrate on the
// benchmark's own schema, to try a schema change without a migration
// (PORTCULLIS_AB_DDL='ALTER TABLE portcullis_refresh_tokens SET
// (fillfactor = 85)'). Run-time parameters for diagnosis go in the DSN,
// which pgx sends to the server (…&synchronous_commit=off).
//
// The WAL figures are the whole server's: other sessions writing at the
// same time add to them.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

func BenchmarkRefreshPGDiag(b *testing.B) {
	st, h := abStore(b, "postgres", nil)
	abDDL(b, h.db)
	ctx := context.Background()
	iss := abIssuer(b, st)
	c, secret, err := iss.CreateClient(ctx, abSpec())
	if err != nil {
		b.Fatal(err)
	}
	post := abPoster(iss.Handler(), iss.Paths().Token, abBasicAuth(c.ID, secret))
	b.SetParallelism(16)
	srv := abServerCPU(b, "postgres", h)
	// A connection of its own for the server's counters, outside the
	// pool's application_name.
	adm, err := sql.Open("pgx", os.Getenv("PORTCULLIS_TEST_POSTGRES"))
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	var schema string
	if err := h.db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		b.Fatal(err)
	}
	pids := abPGPids(b, adm, h.appName)
	w0 := abPGWalNow(b, adm)
	p0 := abPGProcs(pids)
	start := abCPU()
	b.ResetTimer()
	abRefreshChains(b, post)
	b.StopTimer()
	p1 := abPGProcs(pids)
	n := float64(b.N)
	b.ReportMetric(float64(abCPU()-start)/n, "cpu-ns/op")
	if srv != nil {
		b.ReportMetric(float64(srv())/n, "srv-cpu-ns/op")
	}
	b.ReportMetric(n/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(p1.minflt-p0.minflt)/n, "srv-faults/op")
	b.ReportMetric(float64(p1.vcsw-p0.vcsw)/n, "srv-vcsw/op")
	b.ReportMetric(float64(p1.ivcsw-p0.ivcsw)/n, "srv-ivcsw/op")
	b.ReportMetric(float64(p1.stime-p0.stime)/n, "srv-sys-ns/op")
	var lsn1 string
	if err := adm.QueryRow("SELECT pg_current_wal_lsn()::text").Scan(&lsn1); err != nil {
		b.Fatal(err)
	}
	// The pool's backends flush their statistics when they end.
	h.db.SetMaxIdleConns(0)
	time.Sleep(700 * time.Millisecond)
	w1 := abPGWalNow(b, adm)
	var walBytes float64
	if err := adm.QueryRow("SELECT pg_wal_lsn_diff($1, $2)::float8", lsn1, w0.lsn).Scan(&walBytes); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(walBytes/n, "wal-B/op")
	b.ReportMetric(float64(w1.records-w0.records)/n, "wal-rec/op")
	b.ReportMetric(float64(w1.fpi-w0.fpi)/n, "wal-fpi/op")
	b.ReportMetric(float64(w1.sync-w0.sync)/n, "wal-sync/op")
	var upd, hot int64
	if err := adm.QueryRow("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'portcullis_refresh_tokens'", schema).
		Scan(&upd, &hot); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(hot)/float64(max(upd, 1)), "hot/upd")
}

// BenchmarkRefreshPGStatements times GetRefreshToken and
// RotateRefreshToken alone on one connection, one call at a time, with
// SELECT 1 for the floor of a round trip: the server's CPU (its backend's
// schedstat) and the wall time per call. 32 families, each token rotated
// into the one 32 further on, as the refresh grant's rows.
func BenchmarkRefreshPGStatements(b *testing.B) {
	st, h := abStore(b, "postgres", nil)
	abDDL(b, h.db)
	ctx := context.Background()
	h.db.SetMaxOpenConns(1)
	var pid int
	if err := h.db.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	stat := fmt.Sprintf("/proc/%d/schedstat", pid)
	now := time.Now()
	token := func(i int) *store.RefreshToken {
		return &store.RefreshToken{
			Hash: fmt.Sprintf("%x", sha256.Sum256([]byte(strconv.Itoa(i)))), FamilyID: fmt.Sprintf("family-%032x", i%32),
			Grant: store.Grant{Kind: "client", Subject: "c_0123456789abcdef0123", ClientID: "c_0123456789abcdef0123",
				Scopes: []string{"read"}, Audience: []string{"https://api.example.com"}, Generation: 1,
				IssuedAt: now, ExpiresAt: now.Add(365 * 24 * time.Hour)},
			FamilyIssuedAt: now,
		}
	}
	for i := range 32 {
		if err := st.CreateRefreshToken(ctx, token(i)); err != nil {
			b.Fatal(err)
		}
	}
	n := b.N
	measure := func(name string, f func(i int) error) {
		cpu, t := abSchedstat(stat), time.Now()
		for i := range n {
			if err := f(i); err != nil {
				b.Fatalf("%s #%d: %v", name, i, err)
			}
		}
		b.ReportMetric(float64(time.Since(t))/float64(n), name+"-wall-ns/op")
		b.ReportMetric(float64(abSchedstat(stat)-cpu)/float64(n), name+"-srv-ns/op")
	}
	b.ResetTimer()
	measure("select1", func(int) error {
		var one int
		return h.db.QueryRow("SELECT 1").Scan(&one)
	})
	measure("get", func(i int) error {
		_, err := st.GetRefreshToken(ctx, token(i%32).Hash, now)
		return err
	})
	measure("rotate", func(i int) error {
		return st.RotateRefreshToken(ctx, token(i).Hash, token(i+32), now)
	})
}

// abDDL runs PORTCULLIS_AB_DDL on the benchmark's schema.
func abDDL(tb testing.TB, db *sql.DB) {
	for _, stmt := range strings.Split(os.Getenv("PORTCULLIS_AB_DDL"), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			tb.Fatalf("PORTCULLIS_AB_DDL %q: %v", stmt, err)
		}
	}
}

type abPGWal struct {
	lsn                string
	records, fpi, sync int64
}

// abPGWalNow reads the server's WAL position and counters.
func abPGWalNow(tb testing.TB, db *sql.DB) abPGWal {
	var w abPGWal
	err := db.QueryRow("SELECT pg_current_wal_lsn()::text, wal_records, wal_fpi, wal_sync FROM pg_stat_wal").
		Scan(&w.lsn, &w.records, &w.fpi, &w.sync)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// abPGPids are the backends of the pool's application_name.
func abPGPids(tb testing.TB, db *sql.DB, app string) []int {
	rows, err := db.Query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			tb.Fatal(err)
		}
		pids = append(pids, p)
	}
	return pids
}

// abPGProc is what /proc tells of a set of processes, summed.
type abPGProc struct {
	minflt, vcsw, ivcsw int64
	stime               time.Duration
}

// abPGProcs sums pids' minor page faults, system time and context
// switches from /proc (zero for processes it cannot read: a server on
// another machine).
func abPGProcs(pids []int) abPGProc {
	var r abPGProc
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		// After "(comm) ": field 3 (state) onwards; minflt is field 10,
		// stime field 15, in clock ticks (100 a second on Linux).
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		minflt, _ := strconv.ParseInt(f[10-3], 10, 64)
		stime, _ := strconv.ParseInt(f[15-3], 10, 64)
		r.minflt += minflt
		r.stime += time.Duration(stime) * 10 * time.Millisecond
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		for line := range strings.Lines(string(status)) {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "voluntary_ctxt_switches":
				r.vcsw += n
			case "nonvoluntary_ctxt_switches":
				r.ivcsw += n
			}
		}
	}
	return r
}
