package pgwatch

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// Store is a PostgreSQL [sqlstore.Store] that also implements
// [store.Watcher]. Everything but Watch is the embedded sqlstore.Store's,
// Migrate included. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	db *sql.DB

	// The listener's timing; tests shorten it.
	healthEvery time.Duration // an idle listener checks its connection this often
	healthWait  time.Duration // and gives the check this long
	minBackoff  time.Duration // first wait before reconnecting, doubled on each failure
	maxBackoff  time.Duration
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Watcher     = (*Store)(nil)
	_ store.Sweeper     = (*Store)(nil)
	_ store.Pinger      = (*Store)(nil)
	_ store.RateLimiter = (*Store)(nil)
	_ store.ChangeLog   = (*Store)(nil)
)

// The listener's default timing.
const (
	healthEvery = 15 * time.Second
	healthWait  = 5 * time.Second
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 10 * time.Second
)

// ErrNotMigrated is returned by [Store.Watch] when the tables, or the
// triggers that announce their changes (schema version 3), are missing:
// run [sqlstore.Store.Migrate] first.
var ErrNotMigrated = errors.New("pgwatch: tables or change triggers missing: run Migrate")

// Open returns a Store over db, which must be open on PostgreSQL with pgx's
// database/sql driver (github.com/jackc/pgx/v5/stdlib: sql.Open("pgx", …),
// stdlib.OpenDB or stdlib.OpenDBFromPool); opts are sqlstore's. As with
// [sqlstore.Open], Open does not touch the database, and the caller keeps
// ownership of db. An error wraps [sqlstore.ErrBadOption].
func Open(db *sql.DB, opts ...sqlstore.Option) (*Store, error) {
	st, err := sqlstore.Open(db, sqlstore.Postgres, opts...)
	if err != nil {
		return nil, err
	}
	// LISTEN needs the driver's own connection: database/sql has no
	// notifications.
	if _, ok := db.Driver().(*stdlib.Driver); !ok {
		return nil, fmt.Errorf("%w: pgwatch needs a *sql.DB of pgx's driver (github.com/jackc/pgx/v5/stdlib), not %T",
			sqlstore.ErrBadOption, db.Driver())
	}
	return &Store{
		Store: st, db: db,
		healthEvery: healthEvery, healthWait: healthWait,
		minBackoff: minBackoff, maxBackoff: maxBackoff,
	}, nil
}

// Watch implements [store.Watcher]. It takes a connection of its own out
// of the *sql.DB's pool, LISTENs on the store's channel, and returns once
// the server has confirmed it, so that every change committed after Watch
// returns is delivered; or it returns the error that prevented listening
// ([ErrNotMigrated] when Migrate has not run). Then it calls fn for every
// event, one at a time on a goroutine of its own, until ctx is done, when
// the connection is closed.
//
// When the connection fails (the server restarted, the session was
// terminated, or an idle check every 15 s got no answer within 5 s), Watch
// takes another one, waiting 100 ms and then twice as long after each
// failure, up to 10 s; once it listens again it calls fn with a
// [store.EventResync], since changes made in between were not heard.
func (s *Store) Watch(ctx context.Context, fn func(store.Event)) error {
	if fn == nil {
		return errors.New("pgwatch: watch: nil func")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgwatch: watch: %w", err)
	}
	l, err := s.listen(ctx)
	if err != nil {
		return fmt.Errorf("pgwatch: watch: %w", err)
	}
	go s.run(ctx, l, fn)
	return nil
}

// A listener is a connection that LISTENs on channel.
type listener struct {
	conn    *sql.Conn
	channel string
}

// channelQuery finds the store's channel from where its revocations table
// is (to_regclass resolves the name as the store's queries do, through the
// search_path), the way the triggers of migration 3 name it from the
// schema they fire in; and whether that table has its trigger.
const channelQuery = `SELECT 'portcullis_' || md5(n.nspname || '.' || lower($1)),
	EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = lower($1) || 'revocations_notify_ins')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($2)`

// listen takes a connection and LISTENs on it.
func (s *Store) listen(ctx context.Context) (*listener, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	l := &listener{conn: conn}
	err = conn.Raw(func(dc any) error {
		pc, err := pgxConn(dc)
		if err != nil {
			return err
		}
		prefix := s.TablePrefix()
		var ready bool
		err = pc.QueryRow(ctx, channelQuery, prefix, prefix+"revocations").Scan(&l.channel, &ready)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && !ready {
			return ErrNotMigrated
		}
		if err != nil {
			return err
		}
		// The name is "portcullis_" and hex digits: no quoting needed.
		_, err = pc.Exec(ctx, "LISTEN "+l.channel)
		return err
	})
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func pgxConn(dc any) (*pgx.Conn, error) {
	c, ok := dc.(*stdlib.Conn)
	if !ok {
		return nil, fmt.Errorf("driver connection %T is not pgx's", dc)
	}
	return c.Conn(), nil
}

// close ends the listening session, so that the server forgets the LISTEN
// (and a pgxpool, behind stdlib.OpenDBFromPool, gets back no listening
// connection), and drops the connection from the *sql.DB's pool.
func (l *listener) close() {
	_ = l.conn.Raw(func(dc any) error {
		if pc, err := pgxConn(dc); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), healthWait)
			defer cancel()
			_ = pc.Close(ctx)
		}
		return driver.ErrBadConn // database/sql closes a connection that reports it bad
	})
	_ = l.conn.Close()
}

// run delivers l's notifications to fn, listens again whenever the
// connection fails, and returns when ctx is done.
func (s *Store) run(ctx context.Context, l *listener, fn func(store.Event)) {
	for {
		_ = s.receive(ctx, l, fn) // the error only says why it is time to reconnect
		l.close()
		if l = s.relisten(ctx); l == nil {
			return
		}
		// Whatever changed while nobody listened went unheard.
		fn(store.Event{Kind: store.EventResync})
	}
}

// receive calls fn for every notification on l until the connection fails
// or ctx is done. An idle connection is checked every healthEvery by
// repeating the LISTEN, which the server answers and otherwise ignores.
func (s *Store) receive(ctx context.Context, l *listener, fn func(store.Event)) error {
	return l.conn.Raw(func(dc any) error {
		pc, err := pgxConn(dc)
		if err != nil {
			return err
		}
		for {
			wctx, cancel := context.WithTimeout(ctx, s.healthEvery)
			n, err := pc.WaitForNotification(wctx)
			cancel()
			if n != nil {
				fn(decode(n.Payload))
			}
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err == nil:
			case pgconn.Timeout(err):
				// Idle: is anyone there?
				hctx, cancel := context.WithTimeout(ctx, s.healthWait)
				_, err = pc.Exec(hctx, "LISTEN "+l.channel)
				cancel()
				if err != nil {
					return err
				}
			default:
				return err
			}
		}
	})
}

// relisten listens again, waiting longer after each failure, and returns
// nil when ctx is done first.
func (s *Store) relisten(ctx context.Context) *listener {
	wait := s.minBackoff
	for {
		// A random half to all of wait, so that replicas that lost the
		// server together do not come back in step.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if l, err := s.listen(ctx); err == nil {
			return l
		}
		wait = min(2*wait, s.maxBackoff)
	}
}

// decode turns a payload of migration 3's triggers, the JSON of a
// store.Event, back into one. Anything else on the channel (a payload too
// long for NOTIFY is sent as a resync; someone may have sent garbage) means
// an event may have gone unheard: a resync.
func decode(payload string) store.Event {
	var e struct {
		Kind       store.EventKind `json:"kind"`
		ID         string          `json:"id"`
		Generation int64           `json:"generation"`
	}
	if err := json.Unmarshal([]byte(payload), &e); err == nil {
		switch e.Kind {
		case store.EventRevoked, store.EventClientChanged, store.EventAccountChanged:
			return store.Event(e)
		}
	}
	return store.Event{Kind: store.EventResync}
}
