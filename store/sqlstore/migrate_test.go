package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// schemaVersions is how many migrations each dialect has: 1 the tables, 2
// the index behind ListClientsByOwner, 3 PostgreSQL's change notifications
// (nothing elsewhere), 4 the columns of refresh rotation and families,
// 5 the nonces of store.Nonces, 6 the change log, 7 and 8 MySQL's
// procedures for refresh rotation and the refresh exchange, 9 the
// exchange's procedure rewritten (7 to 9: nothing elsewhere).
const schemaVersions = 9

func TestMigrateIdempotent(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		st, err := sqlstore.Open(db, b.dialect)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		if n := countVersions(t, db, "portcullis_"); n != schemaVersions {
			t.Errorf("portcullis_schema_migrations has %d rows, want %d", n, schemaVersions)
		}
		if err := st.CreateClient(ctx, &store.Client{ID: "c1"}); err != nil {
			t.Fatalf("CreateClient after two Migrates: %v", err)
		}
	})
}

func TestMigrateConcurrent(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		// Two stores on one database, as two replicas starting at once.
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			st, err := sqlstore.Open(db, b.dialect)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { errs[i] = st.Migrate(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Migrate #%d: %v", i+1, err)
			}
		}
		if n := countVersions(t, db, "portcullis_"); n != schemaVersions {
			t.Errorf("schema_migrations has %d rows, want %d", n, schemaVersions)
		}
	})
}

func countVersions(t *testing.T, db *sql.DB, prefix string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + prefix + "schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTablePrefix(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		a, err := sqlstore.Open(db, b.dialect, sqlstore.WithTablePrefix("app_a_"))
		if err != nil {
			t.Fatal(err)
		}
		bs, err := sqlstore.Open(db, b.dialect, sqlstore.WithTablePrefix(""))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []*sqlstore.Store{a, bs} {
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.CreateClient(ctx, &store.Client{ID: "shared", Name: "in a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := bs.GetClient(ctx, "shared"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("store without prefix sees app_a_'s client: err = %v", err)
		}
		if err := bs.CreateClient(ctx, &store.Client{ID: "shared", Name: "in b"}); err != nil {
			t.Fatalf("same id under another prefix: %v", err)
		}
		if err := a.Revoke(ctx, "jti", farFuture); err != nil {
			t.Fatal(err)
		}
		if revoked, err := bs.IsRevoked(ctx, "jti", now); err != nil || revoked {
			t.Fatalf("revocation leaked across prefixes: %v, %v", revoked, err)
		}
		for st, want := range map[*sqlstore.Store]string{a: "in a", bs: "in b"} {
			c, err := st.GetClient(ctx, "shared")
			if err != nil || c.Name != want {
				t.Errorf("prefix %q: GetClient = %+v, %v; want name %q", st.TablePrefix(), c, err, want)
			}
		}
		if n := countVersions(t, db, "app_a_"); n != schemaVersions {
			t.Errorf("app_a_schema_migrations has %d rows, want %d", n, schemaVersions)
		}
		if n := countVersions(t, db, ""); n != schemaVersions {
			t.Errorf("schema_migrations has %d rows, want %d", n, schemaVersions)
		}
	})
}

func TestOpenRejects(t *testing.T) {
	db, err := sql.Open("sqlite", "file::memory:") // never connects: Open does not touch the database
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{"a-b", "x; DROP TABLE y", "pc.", "1abc", "é_", "a b", strings.Repeat("a", 33)} {
		if _, err := sqlstore.Open(db, sqlstore.SQLite, sqlstore.WithTablePrefix(p)); !errors.Is(err, sqlstore.ErrBadOption) {
			t.Errorf("WithTablePrefix(%q): err = %v, want ErrBadOption", p, err)
		}
	}
	for _, p := range []string{"", "pc_", "App1_", "_x", strings.Repeat("a", 32)} {
		st, err := sqlstore.Open(db, sqlstore.SQLite, sqlstore.WithTablePrefix(p))
		if err != nil {
			t.Errorf("WithTablePrefix(%q): %v", p, err)
		} else if st.TablePrefix() != p {
			t.Errorf("TablePrefix() = %q, want %q", st.TablePrefix(), p)
		}
	}
	if _, err := sqlstore.Open(db, sqlstore.Dialect(0)); !errors.Is(err, sqlstore.ErrBadOption) {
		t.Errorf("zero Dialect: err = %v, want ErrBadOption", err)
	}
	if _, err := sqlstore.Open(nil, sqlstore.Postgres); !errors.Is(err, sqlstore.ErrBadOption) {
		t.Errorf("nil db: err = %v, want ErrBadOption", err)
	}
	st, err := sqlstore.Open(db, sqlstore.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	if st.TablePrefix() != sqlstore.DefaultTablePrefix || st.Dialect() != sqlstore.MySQL {
		t.Errorf("defaults: prefix %q dialect %v", st.TablePrefix(), st.Dialect())
	}
}
