package e2e

// The refresh grant measured the same way at two commits (issue 10 item 4):
// this file is the same at both, refreshab_cfg_test.go holds the one
// thing that differs (the issuer's Config). BenchmarkRefreshAB times the
// grant with 32 requests in flight; TestRefreshRoundTrips counts what one
// refresh sends to the store, on the client side (a counting driver and a
// go-redis hook) and on the server side (PostgreSQL's log_statement and
// MariaDB's session status on the one connection of the pool, Redis's
// MONITOR lines under the test's key prefix).
//
//	go test -run '^$' -bench RefreshAB -benchtime 3000x ./e2e
//	PORTCULLIS_AB_POOL=8 go test -run '^$' -bench RefreshAB -benchtime 3000x ./e2e
//	PORTCULLIS_AB_COUNT=1 go test -run RefreshRoundTrips -v ./e2e
//
// PORTCULLIS_AB_POOL bounds an SQL store's pool (SetMaxOpenConns) after
// one refresh made alone; by default the pool opens one connection per
// request in flight.

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
)

var abBackends = []string{"memory", "postgres", "mysql", "sqlite", "redis"}

// abHandles are what abStore opened, for the counting test to look into.
type abHandles struct {
	db      *sql.DB
	rdb     *redis.Client
	prefix  string
	appName string // PostgreSQL: the application_name of the pool's connections
}

// abStore makes an empty, migrated store of the named backend (a schema,
// database, file or key prefix of its own, dropped when tb ends). With cnt,
// statements and Redis round trips are counted, and SQL pools keep one
// connection, so that the server's per-session counters see them all.
func abStore(tb testing.TB, name string, cnt *abCounter) (store.Store, abHandles) {
	var h abHandles
	open := func(driverName, dsn string, d sqlstore.Dialect) store.Store {
		if cnt == nil {
			h.db = dbtest.Open(tb, driverName, dsn)
			// As e2e's openSQL: more idle connections than the 2 of
			// database/sql's default, or every other query would dial.
			h.db.SetMaxIdleConns(32)
		} else {
			raw, err := sql.Open(driverName, dsn)
			if err != nil {
				tb.Fatal(err)
			}
			h.db = sql.OpenDB(newABConnector(tb, raw.Driver(), dsn, cnt))
			raw.Close()
			tb.Cleanup(func() { h.db.Close() })
			h.db.SetMaxOpenConns(1)
		}
		st, err := sqlstore.Open(h.db, d)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.Migrate(context.Background()); err != nil {
			tb.Fatal(err)
		}
		return st
	}
	switch name {
	case "memory":
		return memory.New(), h
	case "postgres":
		u, err := url.Parse(dbtest.PostgresDSN(tb))
		if err != nil {
			tb.Fatal(err)
		}
		h.appName = "ab" + strings.TrimPrefix(dbtest.Name(tb), "pc_test_")
		q := u.Query()
		q.Set("application_name", h.appName)
		u.RawQuery = q.Encode()
		return open("pgx", u.String(), sqlstore.Postgres), h
	case "mysql":
		return open("mysql", dbtest.MySQLDSN(tb), sqlstore.MySQL), h
	case "sqlite":
		return open("sqlite", dbtest.SQLiteDSN(tb), sqlstore.SQLite), h
	case "redis":
		opts := dbtest.RedisOptions(tb)
		h.prefix = dbtest.RedisPrefix(tb)
		h.rdb = redis.NewClient(opts)
		tb.Cleanup(func() { h.rdb.Close() })
		if cnt != nil {
			h.rdb.AddHook(abRedisHook{cnt})
		}
		st, err := redisstore.New(h.rdb, redisstore.WithPrefix(h.prefix))
		if err != nil {
			tb.Fatal(err)
		}
		return st, h
	}
	tb.Fatalf("unknown backend %q", name)
	return nil, h
}

// BenchmarkRefreshAB times the refresh grant (rotation on, EdDSA) through
// iss.Handler() with 32 requests in flight on 2 cores, each goroutine
// refreshing its own family; req/s is wall time in process, cpu-ns/op the
// process's user+system CPU per request.
func BenchmarkRefreshAB(b *testing.B) {
	for _, name := range abBackends {
		b.Run(name, func(b *testing.B) {
			st, h := abStore(b, name, nil)
			iss := abIssuer(b, st)
			c, secret, err := iss.CreateClient(context.Background(), abSpec())
			if err != nil {
				b.Fatal(err)
			}
			post := abPoster(iss.Handler(), iss.Paths().Token, abBasicAuth(c.ID, secret))
			if n, _ := strconv.Atoi(os.Getenv("PORTCULLIS_AB_POOL")); n > 0 && h.db != nil {
				// One refresh first, alone: every statement is then
				// prepared before the pool is bounded.
				rt := abRefreshOf(b, post("grant_type=client_credentials&scope=read"))
				abRefreshOf(b, post("grant_type=refresh_token&refresh_token="+rt))
				h.db.SetMaxOpenConns(n)
			}
			b.SetParallelism(16)
			b.ReportAllocs()
			srv := abServerCPU(b, name, h)
			start := abCPU()
			b.ResetTimer()
			abRefreshChains(b, post)
			b.StopTimer()
			b.ReportMetric(float64(abCPU()-start)/float64(b.N), "cpu-ns/op")
			if srv != nil {
				b.ReportMetric(float64(srv())/float64(b.N), "srv-cpu-ns/op")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// TestRefreshRoundTrips counts what one refresh grant sends to the store,
// over abCountN sequential refreshes after a warm-up. Only with
// PORTCULLIS_AB_COUNT=1: it reads the PostgreSQL server's log file
// (PORTCULLIS_AB_PGLOG, when set) and turns log_statement on for its own
// session. The server CPU it reports (PostgreSQL and MariaDB on this
// machine) is that of the one connection, one refresh at a time; logging
// adds to it, so measure it with PORTCULLIS_AB_PGLOG unset.
func TestRefreshRoundTrips(t *testing.T) {
	if os.Getenv("PORTCULLIS_AB_COUNT") != "1" {
		t.Skip("PORTCULLIS_AB_COUNT=1 runs it")
	}
	const warm, n = 20, 200
	for _, name := range abBackends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cnt := &abCounter{}
			st, h := abStore(t, name, cnt)
			iss := abIssuer(t, st)
			c, secret, err := iss.CreateClient(ctx, abSpec())
			if err != nil {
				t.Fatal(err)
			}
			post := abPoster(iss.Handler(), iss.Paths().Token, abBasicAuth(c.ID, secret))
			rt := abRefreshOf(t, post("grant_type=client_credentials&scope=read"))
			refresh := func() {
				w := post("grant_type=refresh_token&refresh_token=" + rt)
				if w.Code != http.StatusOK {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				rt = abRefreshOf(t, w)
			}
			for range warm {
				refresh()
			}
			server := abServerStart(t, name, h)
			cnt.reset()
			for range n {
				refresh()
			}
			client := cnt.snapshot()
			srv := server()
			var parts []string
			var total int64
			for k, v := range client {
				if k != "prepare" {
					total += v
				}
				parts = append(parts, fmt.Sprintf("%s=%.2f", k, float64(v)/n))
			}
			sort.Strings(parts)
			t.Logf("AB %s %s: client round trips/refresh %.2f (%s); server: %s",
				abTree, name, float64(total)/n, strings.Join(parts, " "), srv(n))
		})
	}
}

// abServerStart starts counting on the server's side and returns a func
// that stops, returning a func that formats the count per request.
func abServerStart(t *testing.T, name string, h abHandles) func() func(n int) string {
	ctx := context.Background()
	none := func() func(int) string { return func(int) string { return "n/a" } }
	switch name {
	case "postgres":
		var pid int
		if err := h.db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("/proc/%d/schedstat", pid)
		path := os.Getenv("PORTCULLIS_AB_PGLOG")
		if path == "" {
			// The server's CPU alone, without the cost of logging.
			cpu := abSchedstat(stat)
			return func() func(int) string {
				cpu = abSchedstat(stat) - cpu
				return func(n int) string { return "statements not logged" + abCPUPer(cpu, n) }
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.ExecContext(ctx, "SET log_statement = 'all'"); err != nil {
			t.Fatal(err)
		}
		cpu := abSchedstat(stat)
		return func() func(int) string {
			cpu = abSchedstat(stat) - cpu
			if _, err := h.db.ExecContext(ctx, "SET log_statement = 'none'"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // let the server write its log
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Seek(fi.Size(), 0)
			kinds := map[string]int{}
			tag := fmt.Sprintf("[%d]", pid)
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if !strings.Contains(line, tag) || strings.Contains(line, "log_statement") || strings.Contains(line, "-- ping") {
					continue
				}
				for _, k := range []string{"LOG:  statement: ", "LOG:  execute "} {
					if i := strings.Index(line, k); i >= 0 {
						rest := line[i+len(k):]
						if j := strings.Index(rest, ": "); k == "LOG:  execute " && j >= 0 {
							rest = rest[j+2:]
						}
						kinds[strings.ToUpper(strings.Fields(rest + " ?")[0])]++
					}
				}
			}
			return func(n int) string { return abFormat("log_statement", kinds, n) + abCPUPer(cpu, n) }
		}
	case "mysql":
		status := func() map[string]int {
			rows, err := h.db.QueryContext(ctx, "SHOW SESSION STATUS WHERE Variable_name IN ('Questions','Com_stmt_execute','Com_begin','Com_commit','Com_select','Com_insert','Com_update','Com_stmt_prepare')")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			m := map[string]int{}
			for rows.Next() {
				var k string
				var v int
				if err := rows.Scan(&k, &v); err != nil {
					t.Fatal(err)
				}
				m[k] = v
			}
			return m
		}
		var pidFile string
		var tid int
		if err := h.db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile); err != nil {
			t.Fatal(err)
		}
		if err := h.db.QueryRowContext(ctx, "SELECT TID FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()").Scan(&tid); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(pidFile)
		thread := fmt.Sprintf("/proc/%s/task/%d/schedstat", strings.TrimSpace(string(b)), tid)
		before := status()
		cpu := abSchedstat(thread)
		return func() func(int) string {
			cpu = abSchedstat(thread) - cpu
			after := status()
			for k := range after {
				after[k] -= before[k]
			}
			after["Questions"]-- // the second SHOW
			return func(n int) string { return abFormat("session status", after, n) + abCPUPer(cpu, n) }
		}
	case "redis":
		conn, err := net.Dial("tcp", h.rdb.Options().Addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(conn)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("MONITOR: %q %v", l, err)
		}
		var mu sync.Mutex
		kinds := map[string]int{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if !strings.Contains(l, h.prefix) {
					continue
				}
				i := strings.Index(l, "] \"")
				if i < 0 {
					continue
				}
				cmd := strings.ToUpper(strings.Trim(strings.Fields(l[i+2:])[0], `"`))
				if strings.Contains(l[:i], "lua") {
					cmd = "lua:" + cmd
				}
				mu.Lock()
				kinds[cmd]++
				mu.Unlock()
			}
		}()
		return func() func(int) string {
			// A marker: once MONITOR shows it, every command before it
			// has been read.
			mark := h.prefix + "abmark"
			h.rdb.Get(ctx, mark)
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				seen := kinds["GET"] > 0
				mu.Unlock()
				if seen {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			conn.Close()
			<-done
			kinds["GET"]--
			if kinds["GET"] == 0 {
				delete(kinds, "GET")
			}
			return func(n int) string { return abFormat("MONITOR", kinds, n) }
		}
	}
	return none
}

// abServerCPU returns a func that tells how much CPU the database server
// has spent on the store's connections since abServerCPU was called: the
// PostgreSQL backends of the pool's application_name, or the MariaDB
// threads on the test's database, read from /proc/PID/schedstat (so only
// for a server on this machine). nil for other backends or when the server
// is not visible.
func abServerCPU(tb testing.TB, name string, h abHandles) func() time.Duration {
	ctx := context.Background()
	if h.db != nil {
		// Open the pool's 32 connections first, so that each is counted
		// from here on: MariaDB hands a new connection a cached thread
		// that has served others, and a new PostgreSQL backend's start
		// is no refresh's cost.
		n := 32
		if p := h.db.Stats().MaxOpenConnections; p > 0 {
			n = min(n, p)
		}
		conns := make([]*sql.Conn, n)
		for i := range conns {
			c, err := h.db.Conn(ctx)
			if err != nil {
				tb.Fatal(err)
			}
			conns[i] = c
		}
		for _, c := range conns {
			c.Close()
		}
	}
	var paths func() []string
	switch name {
	case "postgres":
		paths = func() []string {
			var ps []string
			rows, err := h.db.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", h.appName)
			if err != nil {
				tb.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var pid int
				rows.Scan(&pid)
				ps = append(ps, fmt.Sprintf("/proc/%d/schedstat", pid))
			}
			return ps
		}
	case "mysql":
		var pidFile string
		if err := h.db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile); err != nil {
			tb.Fatal(err)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return nil
		}
		pid := strings.TrimSpace(string(b))
		paths = func() []string {
			var ps []string
			rows, err := h.db.QueryContext(ctx, "SELECT TID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()")
			if err != nil {
				tb.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var tid int
				rows.Scan(&tid)
				ps = append(ps, fmt.Sprintf("/proc/%s/task/%d/schedstat", pid, tid))
			}
			return ps
		}
	default:
		return nil
	}
	read := abSchedstat
	start := map[string]time.Duration{}
	for _, p := range paths() {
		start[p] = read(p)
	}
	if len(start) == 0 {
		return nil
	}
	return func() time.Duration {
		var d time.Duration
		for _, p := range paths() {
			d += read(p) - start[p]
		}
		return d
	}
}

// abSchedstat is the CPU time a task has run, from /proc/.../schedstat; 0
// when it cannot be read (the server is not on this machine).
func abSchedstat(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var ns int64
	fmt.Sscan(string(b), &ns)
	return time.Duration(ns)
}

func abCPUPer(d time.Duration, n int) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("; server CPU %.0f us/refresh", float64(d)/float64(n)/1000)
}

func abFormat(what string, m map[string]int, n int) string {
	var parts []string
	total := 0
	for k, v := range m {
		if v == 0 {
			continue
		}
		if !strings.HasPrefix(k, "lua:") && k != "Questions" && k != "Com_stmt_prepare" && !(what == "session status" && k != "Com_stmt_execute" && k != "Com_begin" && k != "Com_commit") {
			total += v
		}
		parts = append(parts, fmt.Sprintf("%s=%.2f", k, float64(v)/float64(n)))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s %.2f/refresh (%s)", what, float64(total)/float64(n), strings.Join(parts, " "))
}

// abSpec is the benchmark's client: every grant allowed (the zero spec).
func abSpec() issuer.ClientSpec { return issuer.ClientSpec{} }

func abPoster(h http.Handler, path, auth string) func(body string) *httptest.ResponseRecorder {
	return func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
}

// abRefreshChains runs b.N refresh grants in parallel chains: each chain
// gets a refresh token by client credentials, then refreshes with the token
// the last refresh returned, as a client that keeps its session would.
func abRefreshChains(b *testing.B, post func(body string) *httptest.ResponseRecorder) {
	b.RunParallel(func(pb *testing.PB) {
		rt := ""
		for pb.Next() {
			if rt == "" {
				rt = abRefreshOf(b, post("grant_type=client_credentials&scope=read"))
			}
			w := post("grant_type=refresh_token&refresh_token=" + rt)
			if w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
			rt = abRefreshOf(b, w)
		}
	})
}

// abRefreshOf returns the refresh token of a token response.
func abRefreshOf(tb testing.TB, w *httptest.ResponseRecorder) string {
	s := w.Body.String()
	const key = `"refresh_token":"`
	i := strings.Index(s, key)
	if i < 0 {
		tb.Fatalf("no refresh token: %d %s", w.Code, s)
	}
	s = s[i+len(key):]
	return s[:strings.IndexByte(s, '"')]
}

// abCPU is the process's user+system CPU time so far.
func abCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func abLogger() *slog.Logger {
	if os.Getenv("PORTCULLIS_BENCH_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// abCounter counts what reaches the store's server, by kind.
type abCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *abCounter) add(k string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[k]++
	c.mu.Unlock()
}

func (c *abCounter) reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

func (c *abCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int64{}
	for k, v := range c.n {
		m[k] = v
	}
	return m
}

// abVerb is a statement's first word, upper case.
func abVerb(q string) string {
	f := strings.Fields(q)
	if len(f) == 0 {
		return "?"
	}
	return strings.ToUpper(f[0])
}

// abRedisHook counts round trips: one per command, one per pipeline.
type abRedisHook struct{ c *abCounter }

func (h abRedisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h abRedisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.c.add(strings.ToUpper(cmd.Name()))
		return next(ctx, cmd)
	}
}

func (h abRedisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = strings.ToUpper(c.Name())
		}
		h.c.add("pipeline[" + strings.Join(slices.Compact(names), ",") + "]")
		return next(ctx, cmds)
	}
}

// The counting SQL driver: a connector whose connections count each
// statement sent (by its first word), each BEGIN, COMMIT and ROLLBACK, and
// each prepare.
type abConnector struct {
	d   driver.Driver
	cn  driver.Connector
	dsn string
	c   *abCounter
}

func newABConnector(tb testing.TB, d driver.Driver, dsn string, c *abCounter) *abConnector {
	k := &abConnector{d: d, dsn: dsn, c: c}
	if dc, ok := d.(driver.DriverContext); ok {
		cn, err := dc.OpenConnector(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		k.cn = cn
	}
	return k
}

func (k *abConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var (
		conn driver.Conn
		err  error
	)
	if k.cn != nil {
		conn, err = k.cn.Connect(ctx)
	} else {
		conn, err = k.d.Open(k.dsn)
	}
	if err != nil {
		return nil, err
	}
	return &abConn{conn, k.c}, nil
}

func (k *abConnector) Driver() driver.Driver { return k.d }

type abConn struct {
	driver.Conn
	c *abCounter
}

func (c *abConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *abConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.c.add("prepare")
	var (
		s   driver.Stmt
		err error
	)
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, q)
	} else {
		s, err = c.Conn.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	return &abStmt{s, c, abVerb(q)}, nil
}

func (c *abConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *abConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	c.c.add("BEGIN")
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, o)
	} else {
		tx, err = c.Conn.Begin() //nolint:staticcheck // the driver has no BeginTx
	}
	if err != nil {
		return nil, err
	}
	return &abTx{tx, c.c}, nil
}

func (c *abConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := e.ExecContext(ctx, q, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.c.add(abVerb(q))
	}
	return r, err
}

func (c *abConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	e, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := e.QueryContext(ctx, q, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.c.add(abVerb(q))
	}
	return r, err
}

func (c *abConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := c.Conn.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *abConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *abConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *abConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

type abTx struct {
	driver.Tx
	c *abCounter
}

func (t *abTx) Commit() error   { t.c.add("COMMIT"); return t.Tx.Commit() }
func (t *abTx) Rollback() error { t.c.add("ROLLBACK"); return t.Tx.Rollback() }

type abStmt struct {
	driver.Stmt
	c    *abConn
	verb string
}

func (s *abStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.c.add(s.verb)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck // the driver has no ExecContext
}

func (s *abStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.c.add(s.verb)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	return s.Stmt.Query(vals) //nolint:staticcheck // the driver has no QueryContext
}

func (s *abStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return s.c.CheckNamedValue(nv)
}

func abBasicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}
