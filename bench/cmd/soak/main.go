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
// (from bench/). It works on a schema (PostgreSQL) or key prefix (Redis)
// of its own, named pc_soak_… or pcsoak:…:, and removes it at the end. The
// servers are PORTCULLIS_TEST_POSTGRES and PORTCULLIS_TEST_REDIS, or the
// -postgres and -redis flags.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/faultload"
	"github.com/portcullis/portcullis/internal/faultproxy"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch"
)

func main() {
	d := flag.Duration("d", 5*time.Minute, "how long to run the load")
	backend := flag.String("store", "postgres", "store: postgres or redis")
	workers := flag.Int("workers", 16, "concurrent clients")
	stateTTL := flag.Duration("state-ttl", time.Second, "the replicas' StateTTL")
	timeout := flag.Duration("client-timeout", faultload.DefaultClientTimeout, "every request's timeout")
	storeTimeout := flag.Duration("store-timeout", time.Second, "the replicas' per-call store deadline (issuer.Config.StoreTimeout); a request makes up to five store calls, so at most a fifth of -client-timeout")
	pg := flag.String("postgres", envOr("PORTCULLIS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL")
	rd := flag.String("redis", envOr("PORTCULLIS_TEST_REDIS", "redis://127.0.0.1:6379/0"), "Redis URL")
	verbose := flag.Bool("v", false, "print each violation as it happens")
	flag.Parse()
	log.SetFlags(0)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	failed, err := run(ctx, *backend, *pg, *rd, faultload.Config{
		Workers:       *workers,
		Duration:      *d,
		StateTTL:      *stateTTL,
		ClientTimeout: *timeout,
		Issuer:        func(cfg *issuer.Config) { cfg.StoreTimeout = *storeTimeout },
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
			db, err := sql.Open("pgx", v.String())
			if err != nil {
				return stores, closes, err
			}
			closes = append(closes, db.Close)
			if stores[i], err = pgwatch.Open(db); err != nil {
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
