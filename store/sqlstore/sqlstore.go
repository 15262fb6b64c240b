package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/store"
)

// Dialect names the SQL database behind the *sql.DB. The zero value is not a
// dialect: [Open] rejects it.
type Dialect uint8

// The supported dialects.
const (
	// Postgres is PostgreSQL 9.5 or later (ON CONFLICT), with driver "pgx"
	// from github.com/jackc/pgx/v5/stdlib or another that takes $n
	// placeholders.
	Postgres Dialect = iota + 1
	// MySQL is MySQL 5.7+ or MariaDB 10.3+, with driver "mysql" from
	// github.com/go-sql-driver/mysql.
	MySQL
	// SQLite is SQLite 3.35 or later (RETURNING), with driver "sqlite" from
	// modernc.org/sqlite (pure Go) or another that takes ? placeholders.
	SQLite
)

// String returns the dialect's name: "postgres", "mysql" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d >= Postgres && d <= SQLite }

// DefaultTablePrefix is put before every table name unless [WithTablePrefix]
// says otherwise, so that Portcullis' tables ("clients", "accounts", …) do not
// collide with an application's own tables in a shared database.
const DefaultTablePrefix = "portcullis_"

// maxPrefixLen keeps the longest derived name
// (<prefix>refresh_tokens_expires_idx) within MySQL's 64 and PostgreSQL's 63
// character identifier limits.
const maxPrefixLen = 32

// ErrBadOption is returned by [Open] for an invalid option or dialect.
var ErrBadOption = errors.New("sqlstore: invalid option")

// An Option configures [Open]. Options are made only by this package's With
// functions.
type Option interface {
	apply(*options)
}

type options struct {
	prefix string
	detach time.Duration // 0: the dialect's default
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithTablePrefix puts p before every table and index name. The default is
// [DefaultTablePrefix]; "" means no prefix. p may hold only ASCII letters,
// digits and '_', must not start with a digit and is at most 32 bytes; [Open]
// fails otherwise. Two stores with different prefixes share a database
// without seeing each other's data; note that PostgreSQL folds unquoted names
// to lower case, so prefixes there must differ by more than case.
func WithTablePrefix(p string) Option {
	return optionFunc(func(o *options) { o.prefix = p })
}

// WithDetachedReads lets a read (a client, an account, a token, a
// revocation, a rate-limit count) outlive the context of its caller by up
// to d: the caller is answered with its context's error when that ends,
// and the query goes on, so that its connection goes back to the pool
// when the server answers, instead of being closed. Drivers close a
// connection whose query outlived its context (pgx and go-sql-driver/mysql
// do: they cannot tell what the server will still send on it), so without
// this every read cut short by the issuer's per-call deadline during a
// stall costs a connection, and the recovery a burst of new ones (see
// [NewConnector]). Reads only: a write whose caller gave up is still
// cancelled, so that it commits as rarely as possible after its caller
// was answered 503. Default 10s for PostgreSQL and MySQL, off for SQLite
// (which never stalls on a network); a negative d turns it off.
func WithDetachedReads(d time.Duration) Option {
	return optionFunc(func(o *options) { o.detach = d })
}

// defaultDetach is WithDetachedReads' default on network databases.
const defaultDetach = 10 * time.Second

func validPrefix(p string) error {
	if len(p) > maxPrefixLen {
		return fmt.Errorf("%w: table prefix %q is longer than %d bytes", ErrBadOption, p, maxPrefixLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9':
			if i == 0 {
				return fmt.Errorf("%w: table prefix %q starts with a digit", ErrBadOption, p)
			}
		default:
			return fmt.Errorf("%w: table prefix %q may hold only [A-Za-z0-9_]", ErrBadOption, p)
		}
	}
	return nil
}

// Store implements [store.Store], [store.Sweeper], [store.Pinger],
// [store.RateLimiter], [store.RateCounter], [store.Lister], [store.Nonces]
// and [store.ChangeLog] over a *sql.DB. It is safe for concurrent use.
//
// A Store prepares its statements on the *sql.DB the first time each is
// used; they are released when the caller closes the *sql.DB, which the
// Store never does.
type Store struct {
	db     *sql.DB
	d      Dialect
	prefix string
	// detach is how long a read may outlive its caller's context
	// (WithDetachedReads); 0 for none.
	detach time.Duration

	text  [numQueries]string
	stmts [numQueries]atomic.Pointer[sql.Stmt]
	mu    sync.Mutex // serialises the first preparation of each statement

	// lastClient is the text of the last client GetClient found, which
	// a miss decodes in its place.
	lastClient atomic.Pointer[clientText]

	batch batcher // SQLite's group commits (batch.go)

	// MySQL's procedures for rotations (migration 7) and exchanges
	// (migrations 8 and 9), each with its own clock: one missing does not
	// keep the other from being called.
	rotateProc, exchangeProc procedure
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Sweeper     = (*Store)(nil)
	_ store.Pinger      = (*Store)(nil)
	_ store.RateLimiter = (*Store)(nil)
	_ store.ChangeLog   = (*Store)(nil)
	_ store.RateCounter = (*Store)(nil)
)

// Open returns a Store over db, which must already be open on a database of
// dialect d. Open does not touch the database: call [Store.Migrate] to
// create or upgrade the tables. The caller keeps ownership of db and closes
// it when done.
func Open(db *sql.DB, d Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil *sql.DB", ErrBadOption)
	}
	if !d.valid() {
		return nil, fmt.Errorf("%w: unknown dialect %v", ErrBadOption, d)
	}
	o := options{prefix: DefaultTablePrefix}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if err := validPrefix(o.prefix); err != nil {
		return nil, err
	}
	s := &Store{db: db, d: d, prefix: o.prefix, detach: o.detach}
	if o.detach == 0 && d != SQLite {
		s.detach = defaultDetach
	}
	if s.detach < 0 {
		s.detach = 0
	}
	for i, q := range queryText(d) {
		s.text[i] = s.sql(q)
	}
	return s, nil
}

// Dialect returns the dialect the Store was opened with.
func (s *Store) Dialect() Dialect { return s.d }

// TablePrefix returns the prefix of the Store's table names.
func (s *Store) TablePrefix() string { return s.prefix }

// sql turns a query written with {p} for the table prefix and ? for
// parameters into the dialect's text.
func (s *Store) sql(q string) string {
	q = strings.ReplaceAll(q, "{p}", s.prefix)
	if s.d != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// stmt returns the prepared statement for query id, preparing it on first
// use. Preparing lazily lets Open run before Migrate, and keeps every call a
// single round trip on MySQL, whose driver otherwise prepares, executes and
// closes each parameterised query (three round trips).
func (s *Store) stmt(ctx context.Context, id queryID) (*sql.Stmt, error) {
	if st := s.stmts[id].Load(); st != nil {
		return st, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[id].Load(); st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.text[id])
	if err != nil {
		return nil, err
	}
	s.stmts[id].Store(st)
	return st, nil
}

func (s *Store) exec(ctx context.Context, id queryID, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, id)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// affected runs an exec and returns how many rows it changed.
func (s *Store) affected(ctx context.Context, id queryID, args ...any) (int64, error) {
	res, err := s.exec(ctx, id, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// row runs a query expected to return at most one row and scans it with scan.
// No row is sql.ErrNoRows, as with *sql.Row.
func (s *Store) row(ctx context.Context, id queryID, scan func(rowScanner) error, args ...any) error {
	st, err := s.stmt(ctx, id)
	if err != nil {
		return err
	}
	return scan(st.QueryRowContext(ctx, args...))
}

// readRow is row for a query that only reads: with WithDetachedReads, it
// runs on a context detached from ctx (its values kept, bounded by
// s.detach) and returns ctx's error when ctx ends first, while the query
// goes on and its connection returns to the pool when the server answers.
// scan then runs after the caller has returned: it must write only into
// variables the caller reads after a nil error.
func (s *Store) readRow(ctx context.Context, id queryID, scan func(rowScanner) error, args ...any) error {
	if s.detach <= 0 {
		return s.row(ctx, id, scan, args...)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.detach)
		defer cancel()
		done <- s.row(dctx, id, scan, args...)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) query(ctx context.Context, id queryID, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, id)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

type rowScanner interface {
	Scan(dest ...any) error
}

// micros stores a time as unix microseconds, the zero time as 0, so that
// every dialect and driver keeps times the same way (no time zones, no
// parseTime, no driver-specific precision).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros, in UTC.
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// encode stores a slice or map as JSON text; nil stays distinct from empty
// ("null" against "[]" or "{}") so that records read back as they went in.
func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlstore: encode: %w", err)
	}
	return string(b), nil
}

func decode(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("sqlstore: decode: %w", err)
	}
	return nil
}

// nullable maps "" to NULL, for columns whose unique constraint must only
// apply to real values.
func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// isUniqueViolation reports whether err is a duplicate key error, without
// importing any driver: PostgreSQL drivers expose the SQLSTATE through a
// SQLState method (pgx, lib/pq), modernc.org/sqlite its extended result code
// through Code, and the rest are recognised by their message.
func (s *Store) isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	switch s.d {
	case Postgres:
		var e interface{ SQLState() string }
		if errors.As(err, &e) {
			return e.SQLState() == "23505" // unique_violation
		}
		return strings.Contains(err.Error(), "SQLSTATE 23505") ||
			strings.Contains(err.Error(), "duplicate key value violates unique constraint")
	case MySQL:
		// go-sql-driver/mysql: "Error 1062 (23000): Duplicate entry …"; 1586
		// is the same error with the key name.
		msg := err.Error()
		return strings.HasPrefix(msg, "Error 1062") || strings.HasPrefix(msg, "Error 1586") ||
			strings.Contains(msg, "Duplicate entry")
	case SQLite:
		var e interface{ Code() int }
		if errors.As(err, &e) {
			switch e.Code() {
			case 1555, 2067: // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
				return true
			}
		}
		return strings.Contains(err.Error(), "UNIQUE constraint failed")
	}
	return false
}

// storable reports whether v can be a key in this dialect's text columns.
// PostgreSQL's TEXT refuses NUL and invalid UTF-8, so no row can have such
// a key: lookups by one answer "not found" at once instead of sending it
// and failing as if the database were down (keys are often request input,
// such as a client id or a login).
func (s *Store) storable(v string) bool {
	return s.d != Postgres || (utf8.ValidString(v) && !strings.ContainsRune(v, 0))
}

// fail wraps a driver error with the operation's name.
func fail(op string, err error) error { return fmt.Errorf("sqlstore: %s: %w", op, err) }

// notFound wraps store.ErrNotFound with the operation's name.
func notFound(op string) error { return fmt.Errorf("sqlstore: %s: %w", op, store.ErrNotFound) }
