// Command quickstart is the smallest complete Portcullis server: an OAuth 2.0
// token endpoint (client credentials), revocation, introspection, JWKS and
// RFC 8414 metadata, and one API route guarded by client access tokens.
//
//	go run ./examples/quickstart
//
// It prints a demo client's id and secret and curl commands to paste: one
// gets a token with HTTP Basic and a form body, the other calls
// GET /v1/whoami, which answers with the caller's principal as JSON.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8080; port 0 picks a free one)
//	-issuer URL           issuer identifier (default http:// + the listen address)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@tcp(host:port)/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret
//
// # Persistent stores
//
// With any store but memory, the tables (or keys) are created on start-up,
// and clients and signing keys survive a restart, so a token from the last
// run still works. The demo client then behaves as follows:
//
//   - without -client-id, a new demo client is created on every start;
//   - with -client-id naming a client that does not exist yet, it is created
//     (with -client-secret, or a generated secret);
//   - with -client-id naming an existing client and the same -client-secret,
//     it is reused as it is;
//   - with a different -client-secret, that secret replaces the stored one
//     and the client's generation moves on, so every token issued with the
//     old secret is refused from then on, as after a rotation;
//   - with -client-id but no -client-secret, the client is rotated: a stored
//     secret cannot be shown again, so a new one is issued and printed.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// demoScopes are the scopes the server knows; the demo client is granted
// both, and /v1/whoami requires "read".
var demoScopes = []string{"read", "write"}

// run serves until ctx is done, then shuts down gracefully. It is main
// without the process: tests call it in-process. The common flags,
// listening and serving are the same in every example (package demo); what
// is the quickstart's is the store, the demo client's reuse across restarts
// and the net/http wiring.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	var issuerURL, storeSpec, redisPrefix string
	flags, err := demo.ParseFlags("quickstart", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&issuerURL, "issuer", "", "issuer identifier (default http:// + the listen address)")
		fs.StringVar(&storeSpec, "store", "memory", "memory, sqlite:PATH, postgres://DSN, mysql://user:pass@tcp(host:port)/db or redis://URL")
		fs.StringVar(&redisPrefix, "redis-prefix", redisstore.DefaultPrefix, "key prefix in Redis")
	})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	// Listen first: with port 0 the issuer URL is only known now.
	ln, listening, err := demo.Listen(flags.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := issuerURL
	if base == "" {
		base = listening
	}

	st, closeStore, err := openStore(ctx, storeSpec, redisPrefix)
	if err != nil {
		return err
	}
	defer closeStore()

	iss, err := issuer.New(issuer.Config{Issuer: base, Store: st, Scopes: demoScopes, Logger: log})
	if err != nil {
		return err
	}
	// With Redis, revocations and rotations reach this verifier's cache at
	// once through pub/sub; other stores are asked again after StateTTL.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if _, err := iss.Watch(watchCtx); err != nil {
		return fmt.Errorf("watch store events: %w", err)
	}

	client, err := demoClient(ctx, iss, st, flags.ClientID, flags.ClientSecret)
	if err != nil {
		return err
	}

	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss) // token, revoke, introspect, credentials, JWKS, metadata
	mux.Handle("GET /v1/whoami", httpauth.Protect(guard, http.HandlerFunc(whoami)))

	demo.PrintIntro(stdout, "Portcullis quickstart (store: "+storeLabel(storeSpec)+")", base, iss.Paths(), client)
	return demo.Serve(ctx, ln, mux, log, stdout)
}

// whoami answers with the principal the guard found: who called, with which
// scopes, and when the token expires.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := httpauth.Principal(r)
	if !ok {
		http.Error(w, "unguarded route", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

// openStore opens the store that spec names. Persistent stores are migrated;
// the returned func closes what openStore opened.
func openStore(ctx context.Context, spec, redisPrefix string) (store.Store, func(), error) {
	nop := func() {}
	openSQL := func(driver, dsn string, d sqlstore.Dialect) (store.Store, func(), error) {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, nop, err
		}
		st, err := sqlstore.Open(db, d)
		if err == nil {
			err = st.Migrate(ctx)
		}
		if err != nil {
			db.Close()
			return nil, nop, fmt.Errorf("%s store: %w", d, err)
		}
		return st, func() { db.Close() }, nil
	}
	switch {
	case spec == "memory":
		return memory.New(), nop, nil
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, nop, errors.New("-store sqlite:PATH needs a path")
		}
		// busy_timeout lets writers wait for each other instead of failing
		// with "database is locked"; WAL lets readers go on meanwhile.
		return openSQL("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", sqlstore.SQLite)
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return openSQL("pgx", spec, sqlstore.Postgres)
	case strings.HasPrefix(spec, "mysql://"):
		dsn := strings.TrimPrefix(spec, "mysql://")
		if _, err := mysql.ParseDSN(dsn); err != nil {
			return nil, nop, fmt.Errorf("-store mysql://…: %w", err)
		}
		return openSQL("mysql", dsn, sqlstore.MySQL)
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		opts, err := redis.ParseURL(spec)
		if err != nil {
			return nil, nop, fmt.Errorf("-store redis://…: %w", err)
		}
		rdb := redis.NewClient(opts)
		st, err := redisstore.New(rdb, redisstore.WithPrefix(redisPrefix))
		if err == nil {
			err = st.Ping(ctx)
		}
		if err != nil {
			rdb.Close()
			return nil, nop, fmt.Errorf("redis store: %w", err)
		}
		return st, func() { rdb.Close() }, nil
	}
	return nil, nop, fmt.Errorf("unknown -store %q: want memory, sqlite:PATH, postgres://…, mysql://… or redis://…", storeLabel(spec))
}

// storeLabel names the store for printing without its DSN, which may hold
// a password.
func storeLabel(spec string) string {
	if spec == "memory" || strings.HasPrefix(spec, "sqlite:") {
		return spec
	}
	if scheme, _, ok := strings.Cut(spec, "://"); ok {
		return scheme
	}
	return "?"
}

// demoClient makes sure the demo client exists as the flags ask (see the
// package comment) and returns it, with what was done in How.
func demoClient(ctx context.Context, iss *issuer.Issuer, st store.Clients, id, secret string) (demo.Client, error) {
	spec := issuer.ClientSpec{ID: id, Secret: secret, Name: "quickstart demo client"}
	create := func() (demo.Client, error) {
		c, secret, err := iss.CreateClient(ctx, spec)
		if err != nil {
			return demo.Client{}, err
		}
		return demo.Client{ID: c.ID, Secret: secret, How: "created"}, nil
	}
	if id == "" {
		return create()
	}
	c, err := st.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return create()
	case err != nil:
		return demo.Client{}, err
	case secret == "":
		secret, err := iss.RotateClient(ctx, id)
		if err != nil {
			return demo.Client{}, err
		}
		return demo.Client{ID: id, Secret: secret, How: "rotated: its stored secret cannot be shown, so it got a new one"}, nil
	case iss.ClientSecretMatches(c, secret):
		return demo.Client{ID: id, Secret: secret, How: "reused"}, nil
	}
	// A different secret: set it, which bumps the generation so that tokens
	// of the old secret die with it.
	if err := iss.SetClientSecret(ctx, id, secret); err != nil {
		return demo.Client{}, fmt.Errorf("set demo client secret: %w", err)
	}
	return demo.Client{ID: id, Secret: secret, How: "secret replaced; tokens issued with the old one are refused"}, nil
}
