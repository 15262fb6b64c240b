package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
)

// These tests apply chosen migrations, so they live inside the package.

var dialects = []struct {
	name string
	d    Dialect
	open func(testing.TB) *sql.DB
}{
	{"postgres", Postgres, dbtest.Postgres},
	{"mysql", MySQL, dbtest.MySQL},
	{"sqlite", SQLite, dbtest.SQLite},
}

// openAt1 returns a Store on a fresh database migrated to version 1 only, as
// a binary from before the owner index left it, and the dialect's
// migrations.
func openAt1(t *testing.T, d Dialect, db *sql.DB, opts ...Option) (*Store, []migration) {
	t.Helper()
	s, err := Open(db, d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := s.migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].version != 1 || ms[1].version != 2 {
		t.Fatalf("migrations %v: want versions 1 and 2 first", ms)
	}
	if err := s.migrate(t.Context(), ms[:1]); err != nil {
		t.Fatalf("migrating to version 1: %v", err)
	}
	return s, ms
}

// hasOwnerIndex reports whether the Store's clients table has the index of
// migration 2.
func hasOwnerIndex(t *testing.T, s *Store) bool {
	t.Helper()
	var q string
	switch s.d {
	case Postgres:
		q = "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?"
	case MySQL:
		q = "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() " +
			"AND BINARY table_name = '{p}clients' AND index_name = ?"
	case SQLite:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
	}
	var n int
	if err := s.db.QueryRowContext(t.Context(), s.sql(q), s.prefix+"clients_owner_idx").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestMigrateForward: a database at version 1 with clients in it migrates to
// the current version, and the clients are then listed by owner.
func TestMigrateForward(t *testing.T) {
	for _, b := range dialects {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := b.open(t)
			s, ms := openAt1(t, b.d, db)
			if hasOwnerIndex(t, s) {
				t.Fatal("the owner index exists at version 1")
			}
			// Written by a version-1 binary: the table existed, the index
			// not. c1 is the oldest, c3 the newest.
			t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
			for i, id := range []string{"c3", "c1", "c2"} {
				c := &store.Client{ID: id, OwnerAccount: "acct-1", Generation: 1,
					CreatedAt: t0.Add(time.Duration(id[1]-'0') * time.Hour)}
				if err := s.CreateClient(ctx, c); err != nil {
					t.Fatalf("CreateClient #%d at version 1: %v", i, err)
				}
			}
			if err := s.CreateClient(ctx, &store.Client{ID: "other", OwnerAccount: "acct-2"}); err != nil {
				t.Fatal(err)
			}

			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from version 1: %v", err)
			}
			if !hasOwnerIndex(t, s) {
				t.Fatal("no owner index after Migrate")
			}
			var n int
			if err := db.QueryRowContext(ctx, s.sql("SELECT COUNT(*) FROM {p}schema_migrations")).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != len(ms) {
				t.Errorf("%d versions recorded, want %d", n, len(ms))
			}
			got, err := s.ListClientsByOwner(ctx, "acct-1", 10)
			if err != nil {
				t.Fatal(err)
			}
			if want := "[c1 c2 c3]"; ids(got) != want {
				t.Errorf("ListClientsByOwner after Migrate: got %s, want %s", ids(got), want)
			}
		})
	}
}

func ids(cs []*store.Client) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ID)
	}
	return fmt.Sprint(s)
}

// TestMigrateMySQLCutShort: MySQL commits DDL at once, so a Migrate may stop
// after creating the index and before recording version 2; the next one
// must finish the job rather than fail on the existing index.
func TestMigrateMySQLCutShort(t *testing.T) {
	ctx := t.Context()
	db := dbtest.MySQL(t)
	s, ms := openAt1(t, MySQL, db)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range ms[1].stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	conn.Close()
	if !hasOwnerIndex(t, s) {
		t.Fatal("no owner index after running migration 2 by hand")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after a cut-short migration 2: %v", err)
	}
}

// TestMigrateMySQLPrefixCase: where MySQL table names are case-sensitive,
// prefixes that differ only in case are two stores, and each gets its own
// index: the migration finds the index of its own table only.
func TestMigrateMySQLPrefixCase(t *testing.T) {
	ctx := t.Context()
	db := dbtest.MySQL(t)
	var lower int
	if err := db.QueryRowContext(ctx, "SELECT @@lower_case_table_names").Scan(&lower); err != nil {
		t.Fatal(err)
	}
	if lower != 0 {
		t.Skipf("lower_case_table_names = %d: table names are not case-sensitive here", lower)
	}
	for _, p := range []string{"pc_", "PC_"} {
		s, err := Open(db, MySQL, WithTablePrefix(p))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("prefix %q: %v", p, err)
		}
		if !hasOwnerIndex(t, s) {
			t.Errorf("prefix %q: no owner index", p)
		}
	}
}

// TestListPlan: the listing reads the owner index in order, without sorting
// (PostgreSQL: only if the index's collation matches the ORDER BY's).
func TestListPlan(t *testing.T) {
	for _, b := range dialects {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(b.open(t), b.d)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				c := &store.Client{ID: fmt.Sprintf("c%02d", i), OwnerAccount: fmt.Sprintf("acct-%d", i%5)}
				if err := s.CreateClient(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			plan := explain(t, s, s.text[qListClientsByOwner], "acct-1", 10)
			t.Logf("plan:\n%s", plan)
			if !strings.Contains(plan, s.prefix+"clients_owner_idx") {
				t.Errorf("the listing does not use the owner index:\n%s", plan)
			}
			for _, sort := range []string{"Sort", "TEMP B-TREE", "filesort"} {
				if strings.Contains(plan, sort) {
					t.Errorf("the listing sorts (%s):\n%s", sort, plan)
				}
			}
		})
	}
}

// explain returns the plan of query with args, one line per row. On
// PostgreSQL sequential scans are turned off for it, since a tiny table
// would be scanned whatever the indexes.
func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	ctx := t.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prefix := "EXPLAIN "
	switch s.d {
	case Postgres:
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
	case SQLite:
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := tx.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			fmt.Fprintf(&b, "%s=%s ", cols[i], v.String)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSplitStatements: semicolons end statements except inside a
// dollar-quoted body, and comment lines go.
func TestSplitStatements(t *testing.T) {
	s := &Store{d: Postgres, prefix: "x_"}
	text := "-- a comment; with a semicolon\n" +
		"CREATE TABLE {p}t (a INT);\n" +
		"CREATE FUNCTION {p}f() RETURNS trigger LANGUAGE plpgsql AS $$\n" +
		"BEGIN\n\tPERFORM 1;\n\t-- gone; too\n\tRETURN NULL;\nEND\n$$;\n" +
		"CREATE TRIGGER {p}g AFTER INSERT ON {p}t FOR EACH ROW EXECUTE PROCEDURE {p}f()\n"
	got := s.splitStatements(text)
	want := []string{
		"CREATE TABLE x_t (a INT)",
		"CREATE FUNCTION x_f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n\tPERFORM 1;\n\tRETURN NULL;\nEND\n$$",
		"CREATE TRIGGER x_g AFTER INSERT ON x_t FOR EACH ROW EXECUTE PROCEDURE x_f()",
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("splitStatements:\n got %q\nwant %q", got, want)
	}

	// SQLite: a trigger's body runs to its END;.
	s.d = SQLite
	text = "CREATE TRIGGER {p}g AFTER INSERT ON {p}t\nBEGIN\n\tUPDATE {p}c SET n = n + 1;\n\tINSERT INTO {p}l SELECT n FROM {p}c;\nEND;\n" +
		"CREATE TABLE {p}u (a INT);\n"
	got = s.splitStatements(text)
	want = []string{
		"CREATE TRIGGER x_g AFTER INSERT ON x_t\nBEGIN\n\tUPDATE x_c SET n = n + 1;\n\tINSERT INTO x_l SELECT n FROM x_c;\nEND",
		"CREATE TABLE x_u (a INT)",
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("splitStatements on SQLite:\n got %q\nwant %q", got, want)
	}

	// MySQL: a procedure's body runs to the ";" after a line that is END
	// alone, past its inner blocks' ENDs.
	s.d = MySQL
	text = "DROP PROCEDURE IF EXISTS {p}r;\n" +
		"CREATE PROCEDURE {p}r(IN x INT)\nBEGIN\n\tDECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\n" +
		"\tIF x <> 1 THEN\n\t\tSIGNAL SQLSTATE '45000';\n\tEND IF;\n\tCOMMIT;\nEND;\n" +
		"CREATE TABLE {p}u (a INT);\n"
	got = s.splitStatements(text)
	want = []string{
		"DROP PROCEDURE IF EXISTS x_r",
		"CREATE PROCEDURE x_r(IN x INT)\nBEGIN\n\tDECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\n" +
			"\tIF x <> 1 THEN\n\t\tSIGNAL SQLSTATE '45000';\n\tEND IF;\n\tCOMMIT;\nEND",
		"CREATE TABLE x_u (a INT)",
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("splitStatements on MySQL:\n got %q\nwant %q", got, want)
	}
}

// TestMigrateRefreshColumns: tokens written before migration 4 read back
// unused, with no successor and no family start, and rotate; on MySQL a
// migration 4 cut short (run by hand, not recorded) is finished by the
// next Migrate.
func TestMigrateRefreshColumns(t *testing.T) {
	for _, b := range dialects {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := b.open(t)
			s, ms := openAt1(t, b.d, db)
			if len(ms) < 4 || ms[3].version != 4 {
				t.Fatalf("migrations %v: want version 4 fourth", ms)
			}
			if err := s.migrate(ctx, ms[:3]); err != nil {
				t.Fatalf("migrating to version 3: %v", err)
			}
			now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
			// As a version-3 binary wrote them.
			if _, err := db.ExecContext(ctx, s.sql("INSERT INTO {p}refresh_tokens (hash, family_id, kind, subject, client_id, "+
				"account_id, scopes, audience, generation, issued_at, expires_at, used_at) VALUES ('old', 'fam', 'client', 'c1', 'c1', '', "+
				"'[]', '[]', 1, ?, ?, 0)"), now.UnixMicro(), now.Add(time.Hour).UnixMicro()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, s.sql("INSERT INTO {p}access_tokens (hash, id, kind, subject, client_id, "+
				"account_id, scopes, audience, generation, issued_at, expires_at) VALUES ('at', 'jti', 'client', 'c1', 'c1', '', "+
				"'[]', '[]', 1, ?, ?)"), now.UnixMicro(), now.Add(time.Hour).UnixMicro()); err != nil {
				t.Fatal(err)
			}
			if b.d == MySQL {
				for _, stmt := range ms[3].stmts {
					if _, err := db.ExecContext(ctx, stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from version 3: %v", err)
			}
			rt, err := s.GetRefreshToken(ctx, "old", now)
			if err != nil {
				t.Fatal(err)
			}
			if !rt.UsedAt.IsZero() || rt.ReplacedBy != "" || !rt.FamilyIssuedAt.IsZero() {
				t.Errorf("token of version 3 after Migrate: %+v, want unused, no successor, no family start", rt)
			}
			if at, err := s.GetAccessToken(ctx, "at", now); err != nil || at.FamilyID != "" {
				t.Errorf("access token of version 3 after Migrate: %+v, %v; want no family", at, err)
			}
			next := &store.RefreshToken{Hash: "new", FamilyID: "fam", Grant: rt.Grant, FamilyIssuedAt: now}
			if err := s.RotateRefreshToken(ctx, "old", next, now); err != nil {
				t.Fatalf("RotateRefreshToken of a token of version 3: %v", err)
			}
		})
	}
}
