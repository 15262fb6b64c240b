package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds migrations/<dialect>/NNNN_name.sql. Each file is one
// schema version, applied whole; {p} stands for the table prefix.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int64
	name    string
	stmts   []string
}

// migrations returns the dialect's migrations in version order, with the
// prefix filled in and split into statements (drivers differ on whether
// one Exec may carry several).
func (s *Store) migrations() ([]migration, error) {
	dir := "migrations/" + s.d.String()
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name, and names start with a zero-padded version
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %s: name must start with a positive version number", name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, stmts: s.splitStatements(string(b))})
	}
	return ms, nil
}

// splitStatements drops "--" comment lines and splits on ";" outside
// dollar-quoted bodies ($$ … $$, PostgreSQL's function bodies), on SQLite
// inside a CREATE TRIGGER until the ";" after its END (a trigger body is
// statements between BEGIN and END), and on MySQL inside a CREATE
// PROCEDURE until the ";" after a line that is "END" alone (its body may
// hold blocks of its own, whose END the files indent or follow with IF).
// The embedded files are ours and keep semicolons out of literals and
// comments.
func (s *Store) splitStatements(text string) []string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
	}
	var stmts []string
	add := func(stmt string) {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			stmts = append(stmts, strings.ReplaceAll(stmt, "{p}", s.prefix))
		}
	}
	text, start, quoted := b.String(), 0, false
	for i := 0; i < len(text); i++ {
		switch {
		case strings.HasPrefix(text[i:], "$$"):
			quoted = !quoted
			i++
		case text[i] == ';' && !quoted:
			if s.d == SQLite && inTriggerBody(text[start:i]) ||
				s.d == MySQL && inRoutineBody(text[start:i]) {
				continue
			}
			add(text[start:i])
			start = i + 1
		}
	}
	add(text[start:])
	return stmts
}

// inTriggerBody reports whether stmt, a statement's text up to a ";", is
// a CREATE TRIGGER whose body has not reached its END yet.
func inTriggerBody(stmt string) bool {
	stmt = strings.ToUpper(strings.TrimSpace(stmt))
	return strings.HasPrefix(stmt, "CREATE TRIGGER") && !strings.HasSuffix(stmt, "END")
}

// inRoutineBody reports whether stmt, a statement's text up to a ";", is
// a CREATE PROCEDURE whose body has not reached its final END, written
// alone at the start of a line.
func inRoutineBody(stmt string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "CREATE PROCEDURE") &&
		!strings.HasSuffix(strings.TrimRight(stmt, " \t\r"), "\nEND")
}

// Migrate creates or upgrades the Store's tables to the schema this version
// of the package knows, recording each applied version in
// <prefix>schema_migrations. It is idempotent, and safe when several
// replicas call it at once: they take a lock first (PostgreSQL: a
// transaction-scoped advisory lock per schema and prefix; MySQL: GET_LOCK
// per database and prefix; SQLite: BEGIN IMMEDIATE), so one migrates and
// the others then find nothing left to do. On PostgreSQL and SQLite all
// pending versions apply in one transaction; on MySQL, whose DDL commits
// implicitly, every statement is idempotent so that a Migrate cut short is
// completed by the next one. Versions in the table that this package does
// not know (a newer replica migrated first) are left alone.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	return s.migrate(ctx, ms)
}

// migrate applies, under the dialect's lock, whichever of ms are not yet
// recorded.
func (s *Store) migrate(ctx context.Context, ms []migration) (err error) {
	switch s.d {
	case Postgres:
		err = s.migratePostgres(ctx, ms)
	case MySQL:
		err = s.migrateMySQL(ctx, ms)
	case SQLite:
		err = s.migrateSQLite(ctx, ms)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// execQuerier is what applying migrations needs: a *sql.Tx or a *sql.Conn.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// apply runs, under a lock the caller holds, every migration not yet
// recorded.
func (s *Store) apply(ctx context.Context, q execQuerier, ms []migration) error {
	if _, err := q.ExecContext(ctx, s.sql("CREATE TABLE IF NOT EXISTS {p}schema_migrations "+
		"(version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)")); err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, s.sql("SELECT version FROM {p}schema_migrations"))
	if err != nil {
		return err
	}
	done := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		done[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		for _, stmt := range m.stmts {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
		if _, err := q.ExecContext(ctx, s.sql("INSERT INTO {p}schema_migrations (version, applied_at) VALUES (?, ?)"),
			m.version, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("%s: record version: %w", m.name, err)
		}
	}
	return nil
}

func (s *Store) migratePostgres(ctx context.Context, ms []migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The lock is per schema and prefix, so that stores in other schemas
	// or with other prefixes migrate in parallel; it ends with the
	// transaction, whatever happens to the connection.
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(COALESCE(current_schema(), '') || $1))",
		".portcullis_migrate."+s.prefix); err != nil {
		return err
	}
	if err := s.apply(ctx, tx, ms); err != nil {
		return err
	}
	return tx.Commit()
}

// mysqlLockName names the GET_LOCK for this database and prefix; hashed
// because lock names are limited to 64 characters.
const mysqlLockName = "CONCAT('portcullis_', SHA1(CONCAT(IFNULL(DATABASE(), ''), '.', ?)))"

func (s *Store) migrateMySQL(ctx context.Context, ms []migration) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// GET_LOCK belongs to the session, so everything runs on this one
	// connection. Waiting a second at a time lets ctx end the wait.
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlLockName+", 1)", s.prefix).Scan(&got); err != nil {
			return err
		}
		if !got.Valid {
			return errors.New("GET_LOCK failed")
		}
		if got.Int64 == 1 {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	defer func() {
		_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+mysqlLockName+")", s.prefix)
		if rerr != nil {
			// A session still holding the lock must not go back to the
			// pool: discard it, which ends the session and the lock.
			discard(conn)
			err = errors.Join(err, rerr)
		}
	}()
	return s.apply(ctx, conn, ms)
}

func (s *Store) migrateSQLite(ctx context.Context, ms []migration) error {
	conn, err := s.sqliteConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// IMMEDIATE takes the write lock up front (waiting up to busy_timeout),
	// so that two migrators never both read "not applied" and then both
	// try to create the tables.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err = s.apply(ctx, conn, ms)
	if err == nil {
		_, err = conn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			discard(conn) // never hand an open transaction back to the pool
		}
		return err
	}
	return nil
}

// discard closes the connection behind conn instead of returning it to the
// pool: database/sql drops a connection whose Raw callback reports
// driver.ErrBadConn.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}

// sqliteOpenRetry bounds how long sqliteConn retries a connection that
// SQLite refused as busy.
const sqliteOpenRetry = 30 * time.Second

// sqliteConn takes a connection, retrying while SQLite answers
// SQLITE_BUSY. Opening a connection runs the DSN's pragmas, and
// journal_mode(WAL) on a file that is not in WAL mode yet needs a lock that
// SQLite does not wait for with busy_timeout: replicas that start at once
// on a new file (as TestMigrateConcurrent does) then fail at once, though
// waiting a moment is all it takes.
func (s *Store) sqliteConn(ctx context.Context) (*sql.Conn, error) {
	deadline := time.Now().Add(sqliteOpenRetry)
	wait := 5 * time.Millisecond
	for {
		conn, err := s.db.Conn(ctx)
		if err == nil || !sqliteBusy(err) || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY (code 5, whatever
// its extended code), from any driver that exposes the code.
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()&0xff == 5
	}
	return strings.Contains(err.Error(), "SQLITE_BUSY")
}
