// Package storespec opens the store that a one-line spec names, the syntax
// of the examples' -store flag and of the portcullis command's --store and
// PORTCULLIS_STORE:
//
//	memory                    in this process only
//	sqlite:PATH               a SQLite file (pure Go driver)
//	postgres://…              PostgreSQL (pgx), also postgresql://…
//	mysql://user:pass@host:port/db?params
//	                          MySQL or MariaDB, as a URL (port 3306 by default;
//	                          percent-encode what the user or password holds)
//	mysql://user:pass@tcp(host:port)/db?params
//	                          the same with a go-sql-driver DSN after the scheme
//	redis://…, rediss://…     Redis (go-redis URL), with a key prefix of Options.RedisPrefix
//
// It is internal, and apart from the examples' package demo, because it
// links every SQL driver and the Redis client: a library user opens the one
// store they use themselves.
package storespec

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// Syntax lists the forms a spec takes, for flag usage and errors.
const Syntax = "memory, sqlite:PATH, postgres://DSN, mysql://user:pass@host:port/db (or a go-sql-driver DSN, mysql://user:pass@tcp(host:port)/db) or redis://URL"

// ErrUnknown is wrapped by Open's error for a spec of no known form.
var ErrUnknown = errors.New("unknown store")

// Options adjust Open.
type Options struct {
	// RedisPrefix is the key prefix in Redis. Default
	// redisstore.DefaultPrefix.
	RedisPrefix string
	// Migrate creates or upgrades a SQL store's tables (sqlstore.Migrate)
	// before Open returns. Default false: the tables must be there.
	Migrate bool
}

// Opened is an open store and what Open knows of it.
type Opened struct {
	Store store.Store
	// SQL is the SQL store, nil for memory and Redis: what Migrate needs.
	SQL *sqlstore.Store
	// Label names the store without its DSN (see [Label]).
	Label string
	// Close closes the database handle or the Redis client Open opened.
	Close func()
}

// sqlIdleConns is the idle connections kept in a PostgreSQL or MySQL pool.
const sqlIdleConns = 32

// Open opens the store spec names. A Redis store is pinged, so that a wrong
// address fails here; a SQL store is not (its first query fails instead),
// unless Options.Migrate is set.
func Open(ctx context.Context, spec string, opt Options) (*Opened, error) {
	if opt.RedisPrefix == "" {
		opt.RedisPrefix = redisstore.DefaultPrefix
	}
	label := Label(spec)
	openSQL := func(driver, dsn string, d sqlstore.Dialect) (*Opened, error) {
		var db *sql.DB
		var err error
		if d == sqlstore.SQLite {
			db, err = sql.Open(driver, dsn)
		} else {
			// Openings that outlive a query's deadline and enough idle
			// connections to survive a stall (see sqlstore's doc).
			db, err = sqlstore.OpenDB(driver, dsn, sqlIdleConns)
		}
		if err != nil {
			return nil, err
		}
		st, err := sqlstore.Open(db, d)
		if err == nil && opt.Migrate {
			err = st.Migrate(ctx)
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("%s store: %w", d, err)
		}
		return &Opened{Store: st, SQL: st, Label: label, Close: func() { db.Close() }}, nil
	}
	switch {
	case spec == "memory":
		return &Opened{Store: memory.New(), Label: label, Close: func() {}}, nil
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, errors.New("store sqlite:PATH needs a path")
		}
		// busy_timeout lets writers wait for each other instead of failing
		// with "database is locked"; WAL lets readers go on meanwhile.
		return openSQL("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", sqlstore.SQLite)
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return openSQL("pgx", spec, sqlstore.Postgres)
	case strings.HasPrefix(spec, "mysql://"):
		dsn, err := MySQLDSN(spec)
		if err != nil {
			return nil, err
		}
		return openSQL("mysql", dsn, sqlstore.MySQL)
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		opts, err := redis.ParseURL(spec)
		if err != nil {
			return nil, fmt.Errorf("store redis://…: %w", err)
		}
		// The issuer's per-call deadline (Config.StoreTimeout) then cuts a
		// stalled read short, not only go-redis' own ReadTimeout.
		opts.ContextTimeoutEnabled = true
		rdb := redis.NewClient(opts)
		st, err := redisstore.New(rdb, redisstore.WithPrefix(opt.RedisPrefix))
		if err == nil {
			err = st.Ping(ctx)
		}
		if err != nil {
			rdb.Close()
			return nil, fmt.Errorf("redis store: %w", err)
		}
		return &Opened{Store: st, Label: label, Close: func() { rdb.Close() }}, nil
	}
	return nil, fmt.Errorf("%w %q: want %s", ErrUnknown, label, Syntax)
}

// MySQLDSN turns a mysql:// spec into the go-sql-driver DSN it names. It
// takes two forms: a URL, mysql://user:pass@host:port/db?params (the port
// defaults to 3306, user and password are percent-decoded, params are the
// driver's), which is what most tools and hosting panels print; and the
// driver's own DSN after the scheme, mysql://user:pass@tcp(host:port)/db,
// told apart by the ")/" that closes its address. Errors never quote the
// spec, which may hold a password.
func MySQLDSN(spec string) (string, error) {
	rest, ok := strings.CutPrefix(spec, "mysql://")
	if !ok {
		return "", fmt.Errorf("%w: not a mysql:// spec", ErrUnknown)
	}
	if strings.Contains(rest, ")/") || strings.HasPrefix(rest, "/") || strings.Contains(rest, "@/") {
		// The driver's DSN: "net(addr)/db", or "/db" for localhost:3306.
		if _, err := mysql.ParseDSN(rest); err != nil {
			// The driver's error does not quote the password.
			return "", fmt.Errorf("store mysql://…: %w", err)
		}
		return rest, nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		// url.Error quotes the URL: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("store mysql://…: not a URL (mysql://user:pass@host:port/db) nor a DSN (mysql://user:pass@tcp(host:port)/db): %w", err)
	}
	if u.Hostname() == "" || u.Opaque != "" || u.Fragment != "" {
		return "", errors.New("store mysql://…: want mysql://user:pass@host:port/db or mysql://user:pass@tcp(host:port)/db")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(db, "/") {
		return "", fmt.Errorf("store mysql://…: database name %q holds a slash", db)
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	// Let the driver read the parameters, then set what the URL carries
	// decoded, so that no character of a password needs DSN escaping.
	cfg, err := mysql.ParseDSN("tcp(" + net.JoinHostPort(u.Hostname(), port) + ")/?" + u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("store mysql://…: %w", err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = db
	return cfg.FormatDSN(), nil
}

// Label names the store of spec for printing without its DSN, which may
// hold a password: "memory", "sqlite:PATH", or the URL's scheme.
func Label(spec string) string {
	if spec == "memory" || strings.HasPrefix(spec, "sqlite:") {
		return spec
	}
	if scheme, _, ok := strings.Cut(spec, "://"); ok {
		return scheme
	}
	return "?"
}
