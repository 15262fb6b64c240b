// Package sqlstore keeps Portcullis' state in PostgreSQL, MySQL/MariaDB or
// SQLite through database/sql. [Store] implements [store.Store] and the
// optional [store.Sweeper], [store.Pinger], [store.RateLimiter] with
// [store.RateCounter], [store.Lister], [store.Nonces] and [store.ChangeLog]
// (see "Change log" below). It does not implement [store.Watcher], so guards in front
// of it notice revocations and rotations made at other replicas when their
// cache entries expire; on PostgreSQL,
// [github.com/portcullis/portcullis/store/sqlstore/pgwatch] wraps it with a
// Watch over LISTEN/NOTIFY that tells them at once.
//
// # Opening
//
// The package imports no driver: open the *sql.DB with the driver of your
// choice, pass it to [Open] with its [Dialect], and close it yourself when
// done. The drivers Portcullis is tested with (on PostgreSQL 15, MariaDB
// 10.11 and the SQLite bundled with modernc.org/sqlite):
//
//	// PostgreSQL 9.5+
//	import _ "github.com/jackc/pgx/v5/stdlib"
//	db, err := sql.Open("pgx", "postgres://user:pass@host:5432/db?sslmode=verify-full")
//	st, err := sqlstore.Open(db, sqlstore.Postgres)
//
//	// MySQL 5.7+ / MariaDB 10.3+
//	import _ "github.com/go-sql-driver/mysql"
//	db, err := sql.Open("mysql", "user:pass@tcp(host:3306)/db")
//	st, err := sqlstore.Open(db, sqlstore.MySQL)
//
//	// SQLite (pure Go, no cgo)
//	import _ "modernc.org/sqlite"
//	db, err := sql.Open("sqlite", "file:/var/lib/app/portcullis.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
//	db.SetMaxOpenConns(1) // one process on the file: see below
//	st, err := sqlstore.Open(db, sqlstore.SQLite)
//
// On PostgreSQL and MySQL, prefer [OpenDB] to sql.Open: it opens the pool
// through [NewConnector] and keeps enough connections idle,
//
//	db, err := sqlstore.OpenDB("pgx", "postgres://…", 32) // up to 32 idle connections
//
// because database/sql keeps 2 idle by default and opens a connection with
// the context of the query that needs it, and the drivers close a
// connection whose query outlived its context. Under the issuer's per-call
// deadlines, a stall would otherwise cost every pooled connection, and the
// recovery a connection per request, each abandoned half-open at the
// deadline when the machine is loaded. Reads are also detached from their
// caller's context ([WithDetachedReads], on by default for PostgreSQL and
// MySQL), so that a read cut short by a deadline keeps its connection.
// Measured with bench/cmd/soak (two replicas, 16 workers, PostgreSQL
// paused 3.4 s out of every 11.4 s, on a 2-core machine at load 40):
// requests 864 → 3,132 in 30 s, 503 share 27 % → 5 %, connections through
// the proxy 505 → 92, and service back within 0.5 s of the pause's end
// instead of 3 s.
//
// Times are stored as BIGINT unix microseconds in every dialect, so the
// MySQL DSN needs no parseTime or loc, and no time zone setting matters;
// times come back in UTC. Slices and maps (scopes, audiences, roles,
// metadata) are stored as JSON text.
//
// SQLite allows one writer at a time. Set busy_timeout (as above) so that a
// writer waits for another instead of failing at once with "database is
// locked"; WAL lets readers carry on while someone writes. An in-memory
// database (":memory:") exists once per connection, so give it
// db.SetMaxOpenConns(1).
//
// # SQLite performance
//
// The store never changes the connections you pass it; these settings are
// yours to make, and they decide how fast SQLite is with refresh tokens on,
// where every token request writes:
//
//   - synchronous(NORMAL). With WAL, SQLite's default (FULL) calls fsync on
//     every commit, while the write lock is held: measured on a 2-core
//     machine, that fsync was the largest single cost of a token request with
//     refresh tokens (1.0 ms of CPU per request with FULL, 0.45 ms with
//     NORMAL). NORMAL in WAL mode keeps the database consistent across any
//     crash, and every commit durable across an application crash; a power
//     loss or OS crash may lose the last transactions, which here can bring
//     back a refresh token that was just used or forget a revocation made in
//     the last moments before it. Keep FULL where that matters more than
//     throughput.
//   - One connection per process (db.SetMaxOpenConns(1)) when one process
//     uses the file. SQLite runs inside the process, so more connections add
//     no parallelism to its single writer; they wait for each other in
//     SQLite's busy handler, which sleeps, and under load a refresh request
//     could wait past busy_timeout and fail (503). With one connection
//     database/sql queues the requests instead (0.26-0.35 ms of CPU per
//     request with refresh tokens, against 0.45 ms). A long [Store.Sweep]
//     then delays requests while it runs. Several processes on one file each
//     keep their own connection and rely on busy_timeout between them.
//
// The store itself commits writes in groups on SQLite:
// CreateRefreshToken and RotateRefreshToken calls that arrive while
// another is committing wait for it and then share one transaction (at
// most 64 to a group, committed by one of the callers; the store starts
// no goroutine of its own when idle). Most of the CPU of a lone
// create was the commit (the WAL frames, written one pwrite per header
// and per page, and the shared-memory locks), and a group pays it once.
// Each call still answers as it would alone: a hash taken changes
// nothing for the others, and any other error undoes the group and
// runs each of its writes again on its own. A call whose context ends
// while it waits returns the context's error; its write may still be
// committed with the group, as a statement already sent may be on any
// database. Measured with 32 requests in flight over one connection (2
// cores at load 16-17, medians of 5 runs), CPU per request before and
// after: client credentials with refresh tokens 0.27 → 0.19 ms, the
// refresh grant 0.44 → 0.27 ms. Over a pool of many connections it gains
// nothing measurable: opening connections and the reads' WAL snapshots
// cost more there than the commits.
//
// Statements are prepared once per Store and reused, on every dialect.
//
// # MySQL performance
//
// go-sql-driver/mysql sends one statement per round trip unless the DSN
// sets multiStatements, which the store never asks of yours; a refresh
// rotation (consume the old token, store its successor, atomically) took
// four of them: START TRANSACTION, UPDATE, INSERT, COMMIT. Migration 7
// creates a stored procedure that runs the same UPDATE and INSERT in one
// transaction, so that a rotation is one prepared CALL, and a refresh
// grant two round trips (the read of the presented token, then the CALL)
// instead of five. Any error in it (a successor's hash taken, a deadlock)
// rolls the whole back, and a rotation that consumed nothing rolls back
// and raises SQLSTATE 45000, after which the store finds out why, as on
// every dialect. Measured with 32 refreshes in flight (e2e
// BenchmarkRefreshAB, EdDSA, MariaDB 10.11 with
// innodb_flush_log_at_trx_commit=1, 2 cores at load 16-22, medians of 6
// interleaved runs): 847 → 1,027 requests/s, the server's CPU per refresh
// 657 → 542 µs and the process's 469 → 303 µs (another 6 runs at load
// 18-26: 711 → 1,019 requests/s, 750 → 646 µs, 626 → 426 µs). One
// refresh at a time on one connection, the server's CPU per refresh went
// from 1,331 to 1,011 µs (medians of 8).
//
// Migration 8 creates a second procedure, for [Store.ExchangeRefreshToken]
// (store.RefreshExchanger): the refresh grant's read of the presented
// token, its checks and the rotation in one CALL, so that the common
// refresh is one round trip (see "The refresh grant in one round trip").
// Migration 9 rewrites it with the same parameters and results: its
// checks moved from the consuming UPDATE into a locking read (SELECT …
// FOR UPDATE) before it, and the UPDATE finds the row by its key alone.
// MariaDB had planned the old UPDATE, with its correlated NOT EXISTS, as
// a range scan over multi-range reads; with 32 refreshes in flight the
// server's CPU per refresh went from 320 to 278 µs (medians of 5
// interleaved runs of e2e BenchmarkRefreshAB).
//
// A refresh holds its connection for that one round trip (five before:
// the read, START TRANSACTION, UPDATE, INSERT, COMMIT), so a small pool
// serves it at full speed: with 32 refreshes in flight on 2 cores, a pool
// of 8 connections served 4,063 refreshes/s against 3,940 with one
// connection per request (medians of 10 rounds), where the old path lost
// a quarter (1,700 against 2,243); a pool of 4 served 3,327 (median of
// 5). So the pool (db.SetMaxOpenConns) can be bounded to a few
// connections per database core, which spares MariaDB, with a thread per
// connection, the threads.
//
// What a refresh still costs the process on MySQL is mostly database/sql
// and the driver watching the request's context: a goroutine per query
// that returns rows, and two hand-offs to the connection's watcher
// goroutine, each of which may wake an idle thread. With the database on
// the same two cores, that was about 30 µs of the process's CPU per
// refresh, a fifth of it (measured by calling with a context that cannot
// be cancelled). The store keeps it: without it, a query stalled by the
// network or a lock would hold its request past the issuer's deadline.
//
// Where a procedure cannot be called (a database restored from a dump
// made without --routines, a user without EXECUTE), rotations and
// exchanges go back to a transaction of several statements, and try the
// procedure again a minute later: as correct, and as slow as before.
//
// # The refresh grant in one round trip
//
// The issuer checks a presented refresh token before it consumes it (its
// client, the client's generation, its kind, scopes the client still has,
// the family's lifetime), so that a refused request does not burn it.
// Those are columns no write changes, so [Store.ExchangeRefreshToken]
// makes them conditions of the consuming UPDATE and builds the successor
// from the consumed row: on PostgreSQL one statement (the UPDATE …
// RETURNING the row, and a data-modifying WITH inserting the successor
// from it), on MySQL one CALL of the procedure of migrations 8 and 9. A token the
// exchange does not match is left as it was, and the issuer reads it and
// answers as before (reuse, the grace period, another client's token).
// On SQLite, in process, the exchange is the read and the rotation it
// replaces. Measured with 32 refreshes in flight (e2e BenchmarkRefreshAB,
// EdDSA): see bench/README.md, "Issue 10: the eighth session's runs".
//
// # Migrations
//
// Open does not touch the database. [Store.Migrate] creates the tables, or
// upgrades them after a Portcullis upgrade, from SQL embedded in the binary,
// and records the versions it applied in <prefix>schema_migrations. Call it
// at start-up; it is idempotent, and replicas that start together may all
// call it: a lock makes one of them do the work. On PostgreSQL it also
// creates the triggers that announce changes for pgwatch, whether or not
// pgwatch is used: they fire only on the rare writes a watcher must hear of
// (revocations, client and account updates and deletions). On MySQL it
// also creates two stored procedures, <prefix>rotate_refresh and
// <prefix>exchange_refresh, which run a refresh rotation and the refresh
// grant's exchange in one round trip each (see "MySQL performance"). The
// database user needs the right to create tables (and, on MySQL,
// routines: CREATE ROUTINE and ALTER ROUTINE) for Migrate, and only to
// read and write rows (and, on MySQL, EXECUTE) afterwards.
//
// # Table prefix
//
// Every table (and index) name starts with [DefaultTablePrefix],
// "portcullis_", so that Portcullis can share a database with the
// application. [WithTablePrefix] changes it; two stores with different
// prefixes in one database do not see each other.
//
// # Sweeping
//
// Expired tokens, revocations and rate-limit windows are ignored by every
// read at once but stay on disk until [Store.Sweep] deletes them, along with
// signing keys past their ExpiresAt and revoked refresh families that have no
// tokens left. Call it from one replica now and then:
//
//	n, err := st.Sweep(ctx, time.Now())
//
// # Concurrency
//
// The atomic operations are single conditional statements, so they hold on
// every dialect under concurrent use from any number of replicas:
// [Store.ConsumeRefreshToken] is an UPDATE … WHERE used_at = 0 that exactly
// one caller can match, [Store.UpdateClient] and [Store.UpdateAccount] are
// UPDATE … WHERE generation = prev, and the unique keys on signing keys' id
// and seq let exactly one replica create key n. [Store.RotateRefreshToken]
// is that UPDATE and the successor's INSERT in one statement on PostgreSQL
// (WITH … UPDATE … RETURNING feeding the INSERT) and in one transaction on
// MySQL (run by a stored procedure: see "MySQL performance") and SQLite
// (possibly shared with other rotations and creates: see "SQLite
// performance"). [Store.ExchangeRefreshToken] is the same UPDATE with the
// exchange's conditions, so of concurrent exchanges, rotations and
// consumes of one token exactly one consumes it.
//
// # Change log
//
// [Store.Changes] and [Store.TrimChanges] implement [store.ChangeLog] over
// two tables of migration 6: <prefix>changes (seq, kind, id, generation,
// expires_at, at) and <prefix>change_counter, one row holding the last seq
// handed out and the highest one trimmed. A change and its entry commit
// together, in the change's own transaction: on PostgreSQL and SQLite
// triggers append in the very statement that makes the change (Revoke,
// UpdateClient, DeleteClient, UpdateAccount, DeleteAccount stay one round
// trip; the triggers fire only where pgwatch's would, so a revocation that
// lasts no longer than the one recorded logs nothing); on MySQL, where
// creating a trigger may need SUPER, the store wraps the change in a
// transaction that appends when a row changed (five round trips instead of
// one, three when nothing changed, and an update that rewrites a client or
// account unchanged logs nothing). Each append updates the counter row and
// holds its lock to commit, so seqs are handed out in commit order and
// without gaps: the price is that changes (rare next to token requests)
// take turns on that row. An auto-increment or sequence column would be
// handed out in statement order, and a reader could pass a seq that a slower
// transaction commits later. On PostgreSQL, run the store's connections at
// READ COMMITTED (the default): under REPEATABLE READ or SERIALIZABLE two
// concurrent changes fail with a serialisation error instead of waiting.
//
// Entries are stamped by the database's clock, which TrimChanges reads
// too; it removes the oldest entries in transactions of at most 1000 and
// raises the watermark that Changes reports. [Store.Sweep] never touches
// the log. Changes reads a page (at most [store.MaxListLimit]) and the
// watermark in one query.
//
// # Retries
//
// database/sql sends a statement again only when the driver answers
// driver.ErrBadConn, which pgx, go-sql-driver/mysql and modernc.org/sqlite
// return only when the statement was never sent, so no statement runs
// twice by the library's doing. A caller's own retry after a lost reply
// may: creates then answer ErrAlreadyExists and compare-and-swap updates
// ErrConflict (the caller re-reads and finds its write), while a rotation
// sent again finds its successor recorded and succeeds. Do not wrap the
// driver in one that retries statements after sending them.
package sqlstore
