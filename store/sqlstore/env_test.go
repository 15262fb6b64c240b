package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// A backend opens fresh, isolated databases of one dialect for tests.
type backend struct {
	name    string
	dialect sqlstore.Dialect
	// open returns a *sql.DB on an empty schema (PostgreSQL), database
	// (MySQL) or file (SQLite) of its own, closed and dropped when tb ends.
	open func(tb testing.TB) *sql.DB
}

var backends = []backend{
	{"postgres", sqlstore.Postgres, openPostgres},
	{"mysql", sqlstore.MySQL, openMySQL},
	{"sqlite", sqlstore.SQLite, openSQLite},
}

// forEach runs f as a subtest per backend, named postgres, mysql, sqlite.
func forEach(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// newStore opens a migrated Store on a fresh database of backend b.
func newStore(tb testing.TB, b backend, opts ...sqlstore.Option) *sqlstore.Store {
	tb.Helper()
	db := b.open(tb)
	st, err := sqlstore.Open(db, b.dialect, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return st
}

// require returns the server's connection string. Tests skip without it
// (and fail under CI=true, see testenv); benchmarks always just skip.
func require(tb testing.TB, env testenv.Backend) string {
	tb.Helper()
	if _, ok := tb.(*testing.B); ok {
		v := os.Getenv(env.EnvVar)
		if v == "" {
			tb.Skip(env.Name + " benchmarks need " + env.EnvVar)
		}
		return v
	}
	return testenv.Require(tb, env)
}

func randomName(tb testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "pc_test_" + hex.EncodeToString(b)
}

// admins holds one administrative *sql.DB per server for the whole test
// binary, to create and drop the per-test schemas and databases. A server
// that did not answer is remembered, so that each later test skips (or fails
// under CI=true) at once instead of trying to connect again.
var admins struct {
	sync.Mutex
	dbs  map[string]*sql.DB
	errs map[string]error
}

func admin(tb testing.TB, env testenv.Backend, driver, dsn string) *sql.DB {
	tb.Helper()
	admins.Lock()
	db, err := admins.dbs[env.Name], admins.errs[env.Name]
	if db == nil && err == nil {
		db, err = connect(driver, dsn)
		if admins.dbs == nil {
			admins.dbs, admins.errs = map[string]*sql.DB{}, map[string]error{}
		}
		admins.dbs[env.Name], admins.errs[env.Name] = db, err
	}
	admins.Unlock()
	if err != nil {
		testenv.Unreachable(tb, env, err)
	}
	return db
}

func connect(driver, dsn string) (*sql.DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openPostgres(tb testing.TB) *sql.DB {
	tb.Helper()
	dsn := require(tb, testenv.Postgres)
	adm := admin(tb, testenv.Postgres, "pgx", dsn)
	schema := randomName(tb)
	if _, err := adm.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := adm.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Error(err)
		}
	})
	// search_path is a run-time parameter: pgx sends unknown DSN keys to the
	// server, so every connection of the pool lands in the schema.
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn = u.String()
	} else {
		dsn += " search_path=" + schema
	}
	return openDB(tb, "pgx", dsn)
}

func openMySQL(tb testing.TB) *sql.DB {
	tb.Helper()
	dsn := require(tb, testenv.MySQL)
	adm := admin(tb, testenv.MySQL, "mysql", dsn)
	name := randomName(tb)
	if _, err := adm.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := adm.Exec("DROP DATABASE " + name); err != nil {
			tb.Error(err)
		}
	})
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DBName = name
	return openDB(tb, "mysql", cfg.FormatDSN())
}

func openSQLite(tb testing.TB) *sql.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "portcullis.db")
	return openDB(tb, "sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
}

// openDB opens dsn and closes it when tb ends, before the schema or database
// it uses is dropped (cleanups run last-in, first-out).
func openDB(tb testing.TB, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
