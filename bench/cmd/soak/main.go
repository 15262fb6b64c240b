// Command soak runs the fault test of e2e/faults_test.go for as long as
// you like: two issuer replicas, each with its own handle on one
// PostgreSQL or Redis store reached through a fault proxy, under a mixed
// load of clients (client credentials, refresh, guarded calls, rotations,
// revocations) while the proxy pauses, delays past go-redis' read timeout
// and cuts the connections, over and over (see internal/faultload). It
// prints the invariant counts, and exits 1 when one was broken or
// goroutines were left.
//
// # Usage
//
//	go run ./cmd/soak -d 5m -store postgres
//	go run ./cmd/soak -d 5m -store redis -workers 16
//
// (from bench/). On PostgreSQL the replicas' pools are opened as
// sqlstore's doc advises (sqlstore.NewConnector, 32 idle connections,
// detached reads); -pg-max-idle 0 -pg-keep-connecting=false -pg-detach -1s
// opens them as plain sql.Open would, for comparison, and the report ends
// with what the pools did. -schedule replaces the fault schedule (for
// example none:4s,pause:3.4s,none:4s, to see how fast service comes back
// after a pause), -no-faults gives a baseline, and -log FILE keeps the
// replicas' warnings and errors (each store failure with its operation).
//
// It works on a schema (PostgreSQL) or key prefix (Redis)
// of its own, named pc_soak_… or pcsoak:…:, and removes it at the end. The
// servers are PORTCULLIS_TEST_POSTGRES and PORTCULLIS_TEST_REDIS, or the
// -postgres and -redis flags.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/faultload"
	"github.com/portcullis/portcullis/internal/faultproxy"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch"
)

func main() {
	d := flag.Duration("d", 5*time.Minute, "how long to run the load")
	backend := flag.String("store", "postgres", "store: postgres or redis")
	workers := flag.Int("workers", 16, "concurrent clients")
	stateTTL := flag.Duration("state-ttl", time.Second, "the replicas' StateTTL")
	timeout := flag.Duration("client-timeout", faultload.DefaultClientTimeout, "every request's timeout")
	storeTimeout := flag.Duration("store-timeout", time.Second, "the replicas' per-call store deadline (issuer.Config.StoreTimeout); RequestTimeout, all of a request's calls together, is twice it by default and must stay below -client-timeout")
	requestTimeout := flag.Duration("request-timeout", 0, "the replicas' issuer.Config.RequestTimeout (0: its default, twice -store-timeout)")
	pg := flag.String("postgres", envOr("PORTCULLIS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL")
	rd := flag.String("redis", envOr("PORTCULLIS_TEST_REDIS", "redis://127.0.0.1:6379/0"), "Redis URL")
	verbose := flag.Bool("v", false, "print each violation as it happens")
	scheduleFlag := flag.String("schedule", "", "a fault schedule instead of faultload.DefaultSchedule, as fault:duration steps separated by commas: none:5s,pause:3.4s,delay:1.5s/1.6s,cut:500ms")
	noFaults := flag.Bool("no-faults", false, "run the load without faults, for a baseline of what the machine and the store manage")
	logFile := flag.String("log", "", "write the replicas' logs (errors and warnings) to this file")
	flag.IntVar(&pgPool.maxIdle, "pg-max-idle", 32, "PostgreSQL: database/sql's MaxIdleConns of each replica's pool (0: database/sql's default, 2)")
	flag.DurationVar(&pgPool.detach, "pg-detach", 0, "PostgreSQL: sqlstore.WithDetachedReads (0: its default, 10s; negative: off)")
	flag.BoolVar(&pgPool.keepConnecting, "pg-keep-connecting", true, "PostgreSQL: open connections through sqlstore.NewConnector, which lets an opening outlive the query that asked for it")
	flag.IntVar(&pgPool.maxOpen, "pg-max-open", 0, "PostgreSQL: database/sql's MaxOpenConns of each replica's pool (0: unlimited)")
	flag.StringVar(&pgPool.onCancel, "pg-on-cancel", "deadline", "PostgreSQL: what pgx does with a query whose context ends: deadline (pgx's default: the connection is closed) or cancel (a cancel request first, the connection kept when the server answers it)")
	flag.Parse()
	log.SetFlags(0)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var logger *slog.Logger
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var schedule []faultload.Step
	if *noFaults {
		schedule = []faultload.Step{{Fault: faultload.None, For: *d}}
	}
	if *scheduleFlag != "" {
		var err error
		if schedule, err = parseSchedule(*scheduleFlag); err != nil {
			log.Fatal(err)
		}
	}
	failed, err := run(ctx, *backend, *pg, *rd, faultload.Config{
		Schedule:      schedule,
		Workers:       *workers,
		Duration:      *d,
		StateTTL:      *stateTTL,
		ClientTimeout: *timeout,
		Issuer: func(cfg *issuer.Config) {
			cfg.StoreTimeout = *storeTimeout
			cfg.RequestTimeout = *requestTimeout
		},
		Logger: logger,
		Logf: func(format string, args ...any) {
			if *verbose {
				log.Printf(format, args...)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if failed {
		os.Exit(1)
	}
}

// pgPool is how the replicas' PostgreSQL pools are set up, and what they
// did.
var pgPool struct {
	maxIdle, maxOpen int
	onCancel         string
	keepConnecting   bool
	detach           time.Duration
	// connects counts the connections pgx opened (the proxy's count also
	// has the LISTEN connections and the attempts that failed).
	connects atomic.Int64
	dbs      []*sql.DB
}

// openPG opens a replica's pool on dsn as the flags say.
func openPG(dsn string) (*sql.DB, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	switch pgPool.onCancel {
	case "deadline":
	case "cancel":
		// Send a cancel request at once; the connection is closed only if
		// the server has not answered it within the grace below, as pgx's
		// default does at once.
		cc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: c, CancelRequestDelay: 0, DeadlineDelay: 100 * time.Millisecond}
		}
	default:
		return nil, fmt.Errorf("-pg-on-cancel %q: want deadline or cancel", pgPool.onCancel)
	}
	var conn driver.Connector = stdlib.GetConnector(*cc,
		stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			pgPool.connects.Add(1)
			return nil
		}))
	if pgPool.keepConnecting {
		conn = sqlstore.NewConnector(conn, sqlstore.ConnectorConfig{})
	}
	db := sql.OpenDB(conn)
	if pgPool.maxIdle != 0 {
		db.SetMaxIdleConns(pgPool.maxIdle)
	}
	if pgPool.maxOpen != 0 {
		db.SetMaxOpenConns(pgPool.maxOpen)
	}
	pgPool.dbs = append(pgPool.dbs, db)
	return db, nil
}

// printPGStats prints what the replicas' pools did.
func printPGStats() {
	if len(pgPool.dbs) == 0 {
		return
	}
	var st sql.DBStats
	for _, db := range pgPool.dbs {
		s := db.Stats()
		st.WaitCount += s.WaitCount
		st.WaitDuration += s.WaitDuration
		st.MaxIdleClosed += s.MaxIdleClosed
		st.MaxIdleTimeClosed += s.MaxIdleTimeClosed
		st.MaxLifetimeClosed += s.MaxLifetimeClosed
	}
	fmt.Printf("  pools (max idle %d, max open %d, on cancel %s, keep connecting %t, detached reads %v): %d connections opened by pgx; waited for a connection %d times (%v); closed as surplus idle %d\n",
		pgPool.maxIdle, pgPool.maxOpen, pgPool.onCancel, pgPool.keepConnecting, pgPool.detach, pgPool.connects.Load(), st.WaitCount, st.WaitDuration.Round(time.Millisecond), st.MaxIdleClosed)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run sets up the backend, runs the load and prints the report. Everything
// it opens is closed before it counts the goroutines left.
func run(ctx context.Context, backend, pgURL, redisURL string, cfg faultload.Config) (failed bool, err error) {
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	var target string
	var open opener
	switch backend {
	case "postgres":
		target, open, err = postgres(ctx, pgURL, &cleanups)
	case "redis":
		target, open, err = redisStores(ctx, redisURL, &cleanups)
	default:
		return false, fmt.Errorf("-store %q: want postgres or redis", backend)
	}
	if err != nil {
		return false, err
	}

	baseline := runtime.NumGoroutine()
	proxy, err := faultproxy.New(target)
	if err != nil {
		return false, err
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		closers = nil
	}
	defer closeAll()
	closers = append(closers, func() { proxy.Close() })
	cfg.Proxy = proxy
	stores, closes, err := open(proxy.Addr())
	for _, c := range closes {
		closers = append(closers, func() { c() })
	}
	if err != nil {
		return false, err
	}
	cfg.Stores = stores
	fmt.Printf("soak: %s through %s for %v, %d workers\n", backend, proxy.Addr(), cfg.Duration, cfg.Workers)
	rep, err := faultload.Run(ctx, cfg)
	if err != nil {
		return false, err
	}
	closeAll()
	left, stacks := faultload.GoroutinesLeft(baseline, 10*time.Second)
	fmt.Print(rep)
	printPGStats()
	fmt.Printf("  %-62s %d\n", "goroutines left:", left)
	if left > 0 {
		fmt.Fprint(os.Stderr, stacks)
	}
	return rep.Failed() || left > 0, nil
}

// opener opens the two replicas' stores through the proxy at addr, and
// returns them with the funcs that close their clients.
type opener func(addr string) ([2]store.Store, []func() error, error)

// postgres makes a schema of its own and migrates it directly; open
// returns two stores on it through addr.
func postgres(ctx context.Context, dsn string, cleanups *[]func()) (string, opener, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("-postgres %q: want a postgres:// URL", dsn)
	}
	adm, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	*cleanups = append(*cleanups, func() { adm.Close() })
	schema := "pc_soak_" + randomHex()
	if _, err := adm.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	*cleanups = append(*cleanups, func() {
		if _, err := adm.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			log.Printf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return "", nil, err
	}
	st, err := pgwatch.Open(db)
	if err == nil {
		err = st.Migrate(ctx)
	}
	db.Close()
	if err != nil {
		return "", nil, err
	}
	target := u.Host
	if u.Port() == "" {
		target += ":5432"
	}
	return target, func(addr string) ([2]store.Store, []func() error, error) {
		var stores [2]store.Store
		var closes []func() error
		v := *u
		v.Host = addr
		for i := range stores {
			db, err := openPG(v.String())
			if err != nil {
				return stores, closes, err
			}
			closes = append(closes, db.Close)
			if stores[i], err = pgwatch.Open(db, sqlstore.WithDetachedReads(pgPool.detach)); err != nil {
				return stores, closes, err
			}
		}
		return stores, closes, nil
	}, nil
}

// redisStores uses a key prefix of its own, deleted at the end; open
// returns two stores through addr, each with its own go-redis client with
// the URL's options (go-redis' defaults otherwise).
func redisStores(ctx context.Context, redisURL string, cleanups *[]func()) (string, opener, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return "", nil, fmt.Errorf("-redis: %w", err)
	}
	adm := redis.NewClient(opts)
	*cleanups = append(*cleanups, func() { adm.Close() })
	if err := adm.Ping(ctx).Err(); err != nil {
		return "", nil, err
	}
	prefix := "pcsoak:" + randomHex() + ":"
	*cleanups = append(*cleanups, func() {
		ctx := context.Background()
		iter := adm.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := adm.Unlink(ctx, iter.Val()).Err(); err != nil {
				log.Printf("clean up %s: %v", prefix, err)
				return
			}
		}
		if err := iter.Err(); err != nil {
			log.Printf("clean up %s: %v", prefix, err)
		}
	})
	return opts.Addr, func(addr string) ([2]store.Store, []func() error, error) {
		var stores [2]store.Store
		var closes []func() error
		for i := range stores {
			o := *opts
			o.Addr = addr
			o.ContextTimeoutEnabled = true // as README's "Deadlines" asks
			rdb := redis.NewClient(&o)
			closes = append(closes, rdb.Close)
			var err error
			if stores[i], err = redisstore.New(rdb, redisstore.WithPrefix(prefix)); err != nil {
				return stores, closes, err
			}
		}
		return stores, closes, nil
	}, nil
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// parseSchedule reads -schedule.
func parseSchedule(spec string) ([]faultload.Step, error) {
	var steps []faultload.Step
	for _, part := range strings.Split(spec, ",") {
		name, dur, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("-schedule: %q: want fault:duration", part)
		}
		var st faultload.Step
		dur, delay, hasDelay := strings.Cut(dur, "/")
		var err error
		if st.For, err = time.ParseDuration(dur); err != nil {
			return nil, fmt.Errorf("-schedule: %q: %w", part, err)
		}
		switch name {
		case "none":
			st.Fault = faultload.None
		case "pause":
			st.Fault = faultload.Pause
		case "cut":
			st.Fault = faultload.Cut
		case "delay":
			st.Fault = faultload.Delay
			if !hasDelay {
				return nil, fmt.Errorf("-schedule: %q: delay:for/each", part)
			}
			if st.Delay, err = time.ParseDuration(delay); err != nil {
				return nil, fmt.Errorf("-schedule: %q: %w", part, err)
			}
		default:
			return nil, fmt.Errorf("-schedule: unknown fault %q", name)
		}
		steps = append(steps, st)
	}
	return steps, nil
}
