// Package benchstore opens a fresh store of each backend for a bench
// program that is not a test (cmd/endpoint-server): a PostgreSQL schema, a
// MySQL database, a SQLite file in a temporary directory or a Redis key
// prefix of its own, on the servers that PORTCULLIS_TEST_POSTGRES, _MYSQL
// and _REDIS name, as internal/dbtest does for tests, and removed again
// by the returned close function.
package benchstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// Names lists the backends Open knows.
var Names = []string{"memory", "sqlite", "postgres", "mysql", "redis"}

// maxIdle is the connections a SQL pool keeps idle: more than the bench's
// 32 concurrent requests, so that none opens a connection per request.
const maxIdle = 64

// Open returns a new, empty store of the named backend, migrated, and a
// function that closes it and removes what it made. It fails when the
// backend's variable is unset or its server does not answer.
func Open(ctx context.Context, name string) (store.Store, func() error, error) {
	switch name {
	case "memory":
		return memory.New(), func() error { return nil }, nil
	case "sqlite":
		dir, err := os.MkdirTemp("", "portcullis-bench-")
		if err != nil {
			return nil, nil, err
		}
		dsn := "file:" + filepath.Join(dir, "portcullis.db") +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		db.SetMaxIdleConns(maxIdle)
		return sqlOpen(ctx, db, sqlstore.SQLite, func() error { return os.RemoveAll(dir) })
	case "postgres":
		dsn, err := env("PORTCULLIS_TEST_POSTGRES")
		if err != nil {
			return nil, nil, err
		}
		return sqlFresh(ctx, "pgx", dsn, sqlstore.Postgres, "CREATE SCHEMA %s", "DROP SCHEMA %s CASCADE",
			func(name string) (string, error) { return withSearchPath(dsn, name) })
	case "mysql":
		dsn, err := env("PORTCULLIS_TEST_MYSQL")
		if err != nil {
			return nil, nil, err
		}
		return sqlFresh(ctx, "mysql", dsn, sqlstore.MySQL, "CREATE DATABASE %s", "DROP DATABASE %s",
			func(name string) (string, error) {
				cfg, err := mysql.ParseDSN(dsn)
				if err != nil {
					return "", err
				}
				cfg.DBName = name
				return cfg.FormatDSN(), nil
			})
	case "redis":
		u, err := env("PORTCULLIS_TEST_REDIS")
		if err != nil {
			return nil, nil, err
		}
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, nil, err
		}
		rdb := redis.NewClient(opt)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return nil, nil, err
		}
		prefix := "pcbench:" + randomName() + ":"
		st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			rdb.Close()
			return nil, nil, err
		}
		return st, func() error {
			defer rdb.Close()
			iter := rdb.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
			for iter.Next(context.Background()) {
				if err := rdb.Unlink(context.Background(), iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		}, nil
	}
	return nil, nil, fmt.Errorf("benchstore: unknown store %q (want one of %s)", name, strings.Join(Names, ", "))
}

func env(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", errors.New("benchstore: " + name + " is not set")
	}
	return v, nil
}

// sqlFresh creates a schema or database of a new name through an
// administrative connection on dsn, and opens the store on the DSN that
// dsnFor gives for it.
func sqlFresh(ctx context.Context, driver, dsn string, d sqlstore.Dialect, create, drop string, dsnFor func(string) (string, error)) (store.Store, func() error, error) {
	adm, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, err
	}
	name := "pc_bench_" + randomName()
	if _, err := adm.ExecContext(ctx, fmt.Sprintf(create, name)); err != nil {
		adm.Close()
		return nil, nil, err
	}
	remove := func() error {
		defer adm.Close()
		_, err := adm.ExecContext(context.Background(), fmt.Sprintf(drop, name))
		return err
	}
	fresh, err := dsnFor(name)
	if err != nil {
		return nil, nil, errors.Join(err, remove())
	}
	db, err := sqlstore.OpenDB(driver, fresh, maxIdle)
	if err != nil {
		return nil, nil, errors.Join(err, remove())
	}
	return sqlOpen(ctx, db, d, remove)
}

// sqlOpen opens and migrates the store over db; its close function closes
// db and then calls remove.
func sqlOpen(ctx context.Context, db *sql.DB, d sqlstore.Dialect, remove func() error) (store.Store, func() error, error) {
	closeAll := func() error { return errors.Join(db.Close(), remove()) }
	st, err := sqlstore.Open(db, d)
	if err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	return st, closeAll, nil
}

// withSearchPath returns the PostgreSQL DSN whose connections use schema
// (pgx sends unknown DSN keys to the server as run-time parameters).
func withSearchPath(dsn, schema string) (string, error) {
	if !strings.Contains(dsn, "://") { // keyword/value form
		return dsn + " search_path=" + schema, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func randomName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
