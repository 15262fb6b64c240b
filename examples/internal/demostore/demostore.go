// Package demostore opens the store that an example's -store flag names:
// memory, SQLite, PostgreSQL, MySQL or Redis. It is apart from package demo
// so that the examples that keep everything in memory do not link the SQL
// drivers and the Redis client.
package demostore

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
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

// Flags are the -store and -redis-prefix flags of the examples that
// can keep their state in a database.
type Flags struct {
	Spec        string // -store: memory, sqlite:PATH, postgres://…, mysql://…, redis://…
	RedisPrefix string // -redis-prefix
}

// Register adds the flags to fs.
func (s *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&s.Spec, "store", "memory", "memory, sqlite:PATH, postgres://DSN, mysql://user:pass@tcp(host:port)/db or redis://URL")
	fs.StringVar(&s.RedisPrefix, "redis-prefix", redisstore.DefaultPrefix, "key prefix in Redis")
}

// Open opens the store the flags name. Persistent stores are migrated; the
// returned func closes what Open opened.
func (s Flags) Open(ctx context.Context) (store.Store, func(), error) {
	nop := func() {}
	spec := s.Spec
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
		st, err := redisstore.New(rdb, redisstore.WithPrefix(s.RedisPrefix))
		if err == nil {
			err = st.Ping(ctx)
		}
		if err != nil {
			rdb.Close()
			return nil, nop, fmt.Errorf("redis store: %w", err)
		}
		return st, func() { rdb.Close() }, nil
	}
	return nil, nop, fmt.Errorf("unknown -store %q: want memory, sqlite:PATH, postgres://…, mysql://… or redis://…", s.Label())
}

// Label names the store for printing without its DSN, which may hold a
// password.
func (s Flags) Label() string {
	if s.Spec == "memory" || strings.HasPrefix(s.Spec, "sqlite:") {
		return s.Spec
	}
	if scheme, _, ok := strings.Cut(s.Spec, "://"); ok {
		return scheme
	}
	return "?"
}
