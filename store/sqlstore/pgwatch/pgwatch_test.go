package pgwatch_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch"
	"github.com/portcullis/portcullis/store/storetest"
)

// open returns a migrated Store over db.
func open(t *testing.T, db *sql.DB, opts ...sqlstore.Option) *pgwatch.Store {
	t.Helper()
	s, err := pgwatch.Open(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWatcher runs the conformance suite's Watcher runner, each subtest on a
// fresh schema. The rest of the suite is sqlstore's own, which runs on
// PostgreSQL with these triggers in place.
func TestWatcher(t *testing.T) {
	storetest.RunWatcher(t, func(t *testing.T) store.Store { return open(t, dbtest.Postgres(t)) })
}

// TestOnlyPostgresWatches: the capability is on the wrapper alone, so a
// plain sqlstore.Store (any dialect) is never taken for a Watcher.
func TestOnlyPostgresWatches(t *testing.T) {
	s := open(t, dbtest.Postgres(t))
	if _, ok := any(s.Store).(store.Watcher); ok {
		t.Error("*sqlstore.Store implements store.Watcher")
	}
	if _, ok := any(s).(store.Watcher); !ok {
		t.Error("*pgwatch.Store does not implement store.Watcher")
	}
	if _, err := pgwatch.Open(dbtest.SQLite(t)); !errors.Is(err, sqlstore.ErrBadOption) {
		t.Errorf("Open on a SQLite *sql.DB: %v, want ErrBadOption", err)
	}
	if _, err := pgwatch.Open(nil); !errors.Is(err, sqlstore.ErrBadOption) {
		t.Errorf("Open(nil): %v, want ErrBadOption", err)
	}
	if _, err := pgwatch.Open(dbtest.Postgres(t), sqlstore.WithTablePrefix("a-b")); !errors.Is(err, sqlstore.ErrBadOption) {
		t.Errorf("Open with a bad prefix: %v, want ErrBadOption", err)
	}
}

func TestWatchErrors(t *testing.T) {
	ctx := t.Context()
	db := dbtest.Postgres(t)
	s, err := pgwatch.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(ctx, func(store.Event) {}); !errors.Is(err, pgwatch.ErrNotMigrated) {
		t.Errorf("Watch before Migrate: %v, want ErrNotMigrated", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(ctx, nil); err == nil {
		t.Error("Watch with a nil func succeeded")
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Watch(done, func(store.Event) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch with a done context: %v, want context.Canceled", err)
	}
	// Tables without their triggers (a hand-made schema, or one restored
	// without them) would never announce anything.
	if _, err := db.ExecContext(ctx, "DROP TRIGGER portcullis_revocations_notify_ins ON portcullis_revocations"); err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(ctx, func(store.Event) {}); !errors.Is(err, pgwatch.ErrNotMigrated) {
		t.Errorf("Watch without the triggers: %v, want ErrNotMigrated", err)
	}
	// Failed calls start no goroutine, and the earlier tests' have ended.
	eventually(t, "listener goroutines left", func() bool { return watchers() == 0 })
}

// recv waits for the next event, failing t if none comes: a liveness
// bound, not a timing assertion.
func recv(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(storetest.WatchTimeout):
		t.Fatalf("no event within %v", storetest.WatchTimeout)
	}
	return store.Event{}
}

// watch subscribes until the test ends and returns the channel events
// arrive on.
func watch(t *testing.T, s *pgwatch.Store) <-chan store.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ch := make(chan store.Event, 64)
	if err := s.Watch(ctx, func(e store.Event) {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestWatchReplicas: two Stores on one schema and prefix, each with its own
// *sql.DB (two replicas), both hear every change, in commit order; stores
// with another prefix in the same schema, or the same prefix in another
// schema of the same database, hear none; rejected changes are not
// announced.
func TestWatchReplicas(t *testing.T) {
	ctx := t.Context()
	dsn := dbtest.PostgresDSN(t)
	a := open(t, dbtest.Open(t, "pgx", dsn))
	b := open(t, dbtest.Open(t, "pgx", dsn))
	other := open(t, dbtest.Open(t, "pgx", dsn), sqlstore.WithTablePrefix("other_"))
	elsewhere := open(t, dbtest.Postgres(t))
	chA, chB, chOther, chElsewhere := watch(t, a), watch(t, b), watch(t, other), watch(t, elsewhere)

	c := &store.Client{ID: "client-1", Generation: 1}
	if err := a.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{ID: "acct-1", Username: "alice", Generation: 1}
	if err := a.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	rot := *c
	rot.Generation = 2
	if err := a.UpdateClient(ctx, &rot, 1); err != nil {
		t.Fatal(err)
	}
	// Rejected: a lost compare-and-swap, a missing client, a revocation
	// that lengthens nothing. None may be announced.
	if err := b.UpdateClient(ctx, &rot, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale UpdateClient: %v", err)
	}
	if err := b.DeleteClient(ctx, "client-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteClient of a missing client: %v", err)
	}
	exp := time.Now().Add(time.Hour)
	if err := b.Revoke(ctx, "jti-1", exp); err != nil {
		t.Fatal(err)
	}
	for _, e := range []time.Time{exp, exp.Add(-time.Minute)} {
		if err := a.Revoke(ctx, "jti-1", e); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Revoke(ctx, "jti-1", exp.Add(time.Minute)); err != nil { // lengthens: announced
		t.Fatal(err)
	}
	for _, s := range []*pgwatch.Store{other, elsewhere} {
		if err := s.Revoke(ctx, "jti-"+s.TablePrefix(), exp); err != nil {
			t.Fatal(err)
		}
	}
	upd := *acct
	upd.Generation = 2
	if err := b.UpdateAccount(ctx, &upd, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteAccount(ctx, "acct-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteClient(ctx, "client-1"); err != nil {
		t.Fatal(err)
	}

	want := []store.Event{
		{Kind: store.EventClientChanged, ID: "client-1", Generation: 2},
		{Kind: store.EventRevoked, ID: "jti-1"},
		{Kind: store.EventRevoked, ID: "jti-1"},
		{Kind: store.EventAccountChanged, ID: "acct-1", Generation: 2},
		{Kind: store.EventAccountChanged, ID: "acct-1", Generation: -1},
		{Kind: store.EventClientChanged, ID: "client-1", Generation: -1},
	}
	// NOTIFY delivers in commit order, so each replica sees exactly this
	// sequence, with nothing in between.
	for name, ch := range map[string]<-chan store.Event{"a": chA, "b": chB} {
		for i, w := range want {
			if got := recv(t, ch); got != w {
				t.Errorf("replica %s, event %d: got %+v, want %+v", name, i, got, w)
			}
		}
	}
	// The others' first events are their own: they heard none of ours.
	if got, w := recv(t, chOther), (store.Event{Kind: store.EventRevoked, ID: "jti-other_"}); got != w {
		t.Errorf("other prefix: got %+v, want %+v", got, w)
	}
	if got, w := recv(t, chElsewhere), (store.Event{Kind: store.EventRevoked, ID: "jti-portcullis_"}); got != w {
		t.Errorf("other schema: got %+v, want %+v", got, w)
	}
}

// TestWatchLongID: an id too long for a NOTIFY payload (8000 bytes) does not
// make the change fail; it is announced as a resync.
func TestWatchLongID(t *testing.T) {
	ctx := t.Context()
	s := open(t, dbtest.Postgres(t))
	ch := watch(t, s)
	long := &store.Client{ID: strings.Repeat("x", 8000), Generation: 1}
	if err := s.CreateClient(ctx, long); err != nil {
		t.Fatal(err)
	}
	rot := *long
	rot.Generation = 2
	if err := s.UpdateClient(ctx, &rot, 1); err != nil {
		t.Fatalf("UpdateClient of a client with an 8000-byte id: %v", err)
	}
	if got := recv(t, ch); got.Kind != store.EventResync {
		t.Errorf("got %+v, want a resync", got)
	}
	if err := s.Revoke(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, w := recv(t, ch), (store.Event{Kind: store.EventRevoked, ID: "jti-1"}); got != w {
		t.Errorf("got %+v, want %+v", got, w)
	}
}

// TestWatchIdle: with health checks every few milliseconds, an idle
// listener checks its connection many times between events, and neither
// loses one nor reconnects (which would show as a resync).
func TestWatchIdle(t *testing.T) {
	ctx := t.Context()
	s := open(t, dbtest.Postgres(t))
	s.SetTiming(20*time.Millisecond, 10*time.Millisecond)
	ch := watch(t, s)
	for i := range 5 {
		time.Sleep(70 * time.Millisecond) // idle for a few checks
		jti := "jti-" + string(rune('a'+i))
		if err := s.Revoke(ctx, jti, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, w := recv(t, ch), (store.Event{Kind: store.EventRevoked, ID: jti}); got != w {
			t.Fatalf("event %d: got %+v, want %+v", i, got, w)
		}
	}
}

// listenerPID returns the server process of the session that LISTENs on
// channel, or 0.
func listenerPID(t *testing.T, db *sql.DB, channel string) int {
	t.Helper()
	var pid int
	err := db.QueryRowContext(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE query = $1", "LISTEN "+channel).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// watchers counts this package's listener goroutines.
func watchers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "store/sqlstore/pgwatch.(*Store)") {
			count++
		}
	}
	return count
}

// eventually polls cond until it holds, failing t after a liveness bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchReconnect terminates the listening session from another
// connection: the watcher listens again on a new session and says resync,
// after which changes are heard again. Cancelling the context then ends
// the session and the goroutine.
func TestWatchReconnect(t *testing.T) {
	ctx := t.Context()
	db := dbtest.Postgres(t)
	s := open(t, db)
	channel, err := s.Channel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Earlier tests' listeners end with them, but not synchronously.
	eventually(t, "earlier tests' listeners still running", func() bool { return watchers() == 0 })
	before := runtime.NumGoroutine()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan store.Event, 64)
	if err := s.Watch(wctx, func(e store.Event) { ch <- e }); err != nil {
		t.Fatal(err)
	}
	if n := watchers(); n != 1 {
		t.Fatalf("%d listener goroutines, want 1", n)
	}
	pid := listenerPID(t, db, channel)
	if pid == 0 {
		t.Fatal("no session LISTENs on the store's channel")
	}
	var ok bool
	if err := db.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	// Made while the listener may be away: announced, or covered by the
	// resync that follows.
	if err := s.Revoke(ctx, "jti-gap", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for {
		e := recv(t, ch)
		if e.Kind == store.EventResync {
			break
		}
		if e != (store.Event{Kind: store.EventRevoked, ID: "jti-gap"}) {
			t.Fatalf("unexpected event %+v before the resync", e)
		}
	}
	// The resync comes once the new session listens: nothing after it is
	// missed.
	if err := s.Revoke(ctx, "jti-after", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, w := recv(t, ch), (store.Event{Kind: store.EventRevoked, ID: "jti-after"}); got != w {
		t.Fatalf("after the resync: got %+v, want %+v", got, w)
	}
	if p := listenerPID(t, db, channel); p == 0 || p == pid {
		t.Errorf("listening session after the reconnect: pid %d (terminated %d)", p, pid)
	}

	cancel()
	eventually(t, "the listening session outlived its context", func() bool { return listenerPID(t, db, channel) == 0 })
	eventually(t, "the listener goroutine outlived its context", func() bool { return watchers() == 0 })
	// Nor did anything it started (pgx's or database/sql's) stay behind.
	eventually(t, "goroutines left after the watch ended", func() bool { return runtime.NumGoroutine() <= before })
}

// TestWatchRelistenRetries: while the watcher cannot listen again, it keeps
// trying, and says resync once it can. Renaming the revocations table
// away makes each attempt fail as a missing table would.
func TestWatchRelistenRetries(t *testing.T) {
	ctx := t.Context()
	db := dbtest.Postgres(t)
	s := open(t, db)
	s.SetTiming(time.Hour, 10*time.Millisecond)
	channel, err := s.Channel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := watch(t, s)
	// Without the trigger Watch's check fails, so reconnects fail until
	// it is back.
	if _, err := db.ExecContext(ctx, "ALTER TABLE portcullis_revocations RENAME TO portcullis_revocations_away"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", listenerPID(t, db, channel)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ch:
		t.Fatalf("event %+v while the watcher cannot listen", e)
	case <-time.After(300 * time.Millisecond): // several failed attempts
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE portcullis_revocations_away RENAME TO portcullis_revocations"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch); got.Kind != store.EventResync {
		t.Fatalf("got %+v, want a resync once the watcher listens again", got)
	}
	if err := s.Revoke(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, w := recv(t, ch), (store.Event{Kind: store.EventRevoked, ID: "jti-1"}); got != w {
		t.Fatalf("got %+v, want %+v", got, w)
	}
}
