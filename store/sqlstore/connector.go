package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"slices"
	"sync"
	"time"
)

// ConnectorConfig configures [NewConnector]. The zero value is ready to
// use.
type ConnectorConfig struct {
	// ConnectTimeout bounds the opening of one connection, whoever asked
	// for it and whenever they gave up. Default 10s.
	ConnectTimeout time.Duration
	// Spares bounds how many connections that finished opening after
	// their caller had gone are kept for the next caller. Default 8.
	Spares int
	// MaxOpening bounds the connections being opened at once: callers
	// beyond it wait for one of those (a stalled server is not sent a
	// new connection by every query that times out, to be let in all at
	// once when it recovers). Default 4.
	MaxOpening int
	// SpareTTL is how long such a connection is kept unused before it is
	// closed. Default 1 minute.
	SpareTTL time.Duration
}

// NewConnector wraps a driver's connector so that a connection being
// opened is not thrown away when the query that asked for it gives up.
// Open the *sql.DB with [database/sql.OpenDB] on it (or use [OpenDB]).
//
// Why: database/sql opens a connection with the context of the query that
// needs one, so the issuer's per-call deadline (issuer.Config.StoreTimeout)
// also cuts the connection's opening short. Opening a PostgreSQL
// connection takes several round trips and a server process, easily ten
// times a query on a loaded machine, and a driver closes a connection
// whose query outlived its context (pgx does), so after a stall every
// pooled connection is gone and each request opens one. When those
// openings take longer than the deadline, every one is abandoned half way
// and started again by the next request: the store stays unreachable long
// after the database is back. With this connector the opening goes on in
// the background, bounded by ConnectTimeout, and a connection that
// arrives after its caller left waits, as a spare, for the next caller
// instead of being closed.
//
// The caller still gets its answer by its own deadline: only the work
// outlives it. Spares are not counted by the pool's MaxOpenConns until
// they are handed out, so at most Spares more connections may be open.
// DB.Close closes the spares, and connections that finish opening after
// it are closed at once.
func NewConnector(c driver.Connector, cfg ConnectorConfig) driver.Connector {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Spares <= 0 {
		cfg.Spares = 8
	}
	if cfg.MaxOpening <= 0 {
		cfg.MaxOpening = 4
	}
	if cfg.SpareTTL <= 0 {
		cfg.SpareTTL = time.Minute
	}
	return &connector{inner: c, cfg: cfg}
}

// OpenDB opens a *sql.DB on the named driver and data source through
// [NewConnector] with its defaults, and keeps up to maxIdle connections
// idle in the pool (database/sql keeps 2 by default and closes the rest
// after each use, so that a busy issuer would open a connection for
// nearly every request). The driver must implement
// [driver.DriverContext], as pgx's stdlib and go-sql-driver/mysql do.
// Other pool settings are the caller's, on the returned DB.
func OpenDB(driverName, dsn string, maxIdle int) (*sql.DB, error) {
	probe, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	probe.Close()
	dc, ok := drv.(driver.DriverContext)
	if !ok {
		return nil, errors.New("sqlstore: driver " + driverName + " has no OpenConnector (database/sql/driver.DriverContext)")
	}
	inner, err := dc.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(NewConnector(inner, ConnectorConfig{}))
	if maxIdle > 0 {
		db.SetMaxIdleConns(maxIdle)
	}
	return db, nil
}

type connector struct {
	inner driver.Connector
	cfg   ConnectorConfig

	mu      sync.Mutex
	spares  []spare
	waiters []chan opened // callers waiting for a connection, oldest first
	opening int           // openings in flight
	closed  bool
}

type spare struct {
	conn driver.Conn
	at   time.Time
}

type opened struct {
	conn driver.Conn
	err  error
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

// Connect hands out a spare when there is one; otherwise it queues for the
// next connection to finish opening, starting an opening unless
// MaxOpening are under way, and waits for it or for ctx, whichever comes
// first.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if conn := c.takeSpare(); conn != nil {
		return conn, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := make(chan opened, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("sqlstore: connector closed")
	}
	c.waiters = append(c.waiters, w)
	c.startLocked()
	c.mu.Unlock()
	select {
	case o := <-w:
		return o.conn, o.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if i := slices.Index(c.waiters, w); i >= 0 {
		c.waiters = slices.Delete(c.waiters, i, i+1)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
	c.mu.Unlock()
	// An opening was handed over as ctx ended: take it rather than
	// waste it.
	o := <-w
	return o.conn, o.err
}

// startLocked starts openings for the waiters that no opening in flight
// will serve, up to MaxOpening at once; c.mu is held.
func (c *connector) startLocked() {
	for c.opening < len(c.waiters) && c.opening < c.cfg.MaxOpening {
		c.opening++
		go c.open()
	}
}

// open opens one connection, bounded by ConnectTimeout and by no caller,
// and hands it to the oldest waiter, or keeps it as a spare when every
// waiter has gone.
func (c *connector) open() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.inner.Connect(ctx)
	c.mu.Lock()
	c.opening--
	if len(c.waiters) > 0 {
		w := c.waiters[0]
		c.waiters = c.waiters[1:]
		w <- opened{conn, err} // buffered: never blocks
		c.startLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if err == nil {
		c.keep(conn)
	}
}

// keep adds a connection whose caller left to the spares, or closes it.
func (c *connector) keep(conn driver.Conn) {
	c.mu.Lock()
	if c.closed || len(c.spares) >= c.cfg.Spares {
		c.mu.Unlock()
		conn.Close()
		return
	}
	c.spares = append(c.spares, spare{conn, time.Now()})
	c.mu.Unlock()
}

// takeSpare returns the newest spare young enough, closing the stale ones.
func (c *connector) takeSpare() driver.Conn {
	c.mu.Lock()
	var stale []driver.Conn
	var conn driver.Conn
	for len(c.spares) > 0 && conn == nil {
		s := c.spares[len(c.spares)-1]
		c.spares = c.spares[:len(c.spares)-1]
		if time.Since(s.at) > c.cfg.SpareTTL {
			stale = append(stale, s.conn)
			continue
		}
		conn = s.conn
	}
	c.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
	return conn
}

// Close closes the spares and, when it has one, the inner connector;
// database/sql calls it from DB.Close.
func (c *connector) Close() error {
	c.mu.Lock()
	c.closed = true
	spares := c.spares
	c.spares = nil
	c.mu.Unlock()
	for _, s := range spares {
		s.conn.Close()
	}
	if cl, ok := c.inner.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
