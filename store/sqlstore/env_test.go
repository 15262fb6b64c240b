package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// A backend opens fresh, isolated databases of one dialect for tests.
type backend struct {
	name    string
	dialect sqlstore.Dialect
	// open returns a *sql.DB on an empty schema (PostgreSQL), database
	// (MySQL) or file (SQLite) of its own, closed and dropped when tb ends.
	// Without a server, tests skip (fail under CI=true) and benchmarks skip.
	open func(tb testing.TB) *sql.DB
}

var backends = []backend{
	{"postgres", sqlstore.Postgres, dbtest.Postgres},
	{"mysql", sqlstore.MySQL, dbtest.MySQL},
	{"sqlite", sqlstore.SQLite, dbtest.SQLite},
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
