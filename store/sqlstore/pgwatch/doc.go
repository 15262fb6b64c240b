// Package pgwatch adds [store.Watcher] to the PostgreSQL [sqlstore.Store]:
// every replica hears of a revocation or rotation made at any other as soon
// as it commits, through LISTEN/NOTIFY, as redisstore's replicas do through
// pub/sub. [Open] takes the same *sql.DB and options as [sqlstore.Open] and
// returns a [Store] that is the sqlstore.Store plus [Store.Watch]:
//
//	import _ "github.com/jackc/pgx/v5/stdlib"
//	db, err := sql.Open("pgx", "postgres://user:pass@host:5432/db?sslmode=verify-full")
//	st, err := pgwatch.Open(db)            // instead of sqlstore.Open(db, sqlstore.Postgres)
//	err = st.Migrate(ctx)
//	iss, err := issuer.New(issuer.Config{Issuer: "https://api.example.com", Store: st})
//	ok, err := iss.Watch(ctx)              // ok is true: the guards drop stale answers at once
//
// # Why a package of its own
//
// database/sql has no notifications, so listening needs the driver's own
// connection (pgx's WaitForNotification), and sqlstore imports no driver.
// Keeping Watch here also keeps the capability honest: it is found by type
// assertion, and only a Store of this package, which exists only for
// PostgreSQL over pgx, has it. A sqlstore.Store of any dialect is not a
// [store.Watcher], so issuer.Issuer.Watch reports false for it rather than
// subscribing to something that can never speak.
//
// # How changes are announced
//
// Migration 3 of sqlstore (applied by Migrate) puts triggers on the
// clients, accounts and revocations tables that pg_notify the JSON of a
// [store.Event] from the transaction that made the change: it is delivered
// when that commits, and never when it rolls back. Rejected changes (a lost
// compare-and-swap, a revocation that lengthens nothing) change no row and
// say nothing. The channel is named after the schema and the table prefix,
// so stores in other schemas or with other prefixes never hear each other.
// A change whose event would not fit NOTIFY's 8000-byte payload (an id that
// long) is announced as a [store.EventResync].
//
// PostgreSQL serialises the commits of transactions that NOTIFY; only the
// announced changes do (revocations, rotations, client and account edits),
// not token issuance or refresh, so this costs nothing on the hot paths.
//
// # The listening connection
//
// Each Watch holds one connection of the *sql.DB's pool for as long as it
// runs (leave room for it if you set MaxOpenConns) and closes it when its
// context ends. When that connection fails, Watch takes another, backing
// off up to 10 s between attempts, and then calls its func with a
// [store.EventResync]: changes made while nobody listened went unheard, so
// watchers drop everything they cached (middleware.LocalVerifier.Forget
// does). An idle connection is checked every 15 s, so a silently dead one
// is noticed within 20 s. Between the failure and the resync, guards fall
// back to their cache TTL (issuer.Config.StateTTL), as without Watch.
//
// The *sql.DB must use pgx's driver (github.com/jackc/pgx/v5/stdlib); with
// stdlib.OpenDBFromPool the listening connection comes from the pgxpool and
// is closed, not returned, when Watch ends. Through a connection pooler in
// transaction mode (PgBouncer's default) LISTEN does not work: point the
// *sql.DB at the server, or at a session-mode pool.
package pgwatch
