package sqlstore_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store/sqlstore"
)

// slowConnector opens fake connections, each after gate is closed or its
// context ends: a server slow to accept, as a loaded PostgreSQL is. It
// stands in for no database: the tests below are about who waits for a
// connection and what becomes of it, which no driver decides.
type slowConnector struct {
	gate   chan struct{}
	calls  atomic.Int64 // Connect calls
	opened atomic.Int64
	closed atomic.Int64
}

type fakeConn struct{ c *slowConnector }

func (f fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake") }
func (f fakeConn) Close() error                        { f.c.closed.Add(1); return nil }
func (f fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fake") }

func (s *slowConnector) Connect(ctx context.Context) (driver.Conn, error) {
	s.calls.Add(1)
	select {
	case <-s.gate:
		s.opened.Add(1)
		return fakeConn{s}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *slowConnector) Driver() driver.Driver { return nil }

// A connection still opening when its caller's deadline passes is not
// abandoned: the caller gets its deadline error at once, the opening goes
// on, and the next caller gets that connection without waiting.
func TestConnectorKeepsLateConnections(t *testing.T) {
	inner := &slowConnector{gate: make(chan struct{})}
	c := sqlstore.NewConnector(inner, sqlstore.ConnectorConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect past its deadline: %v, want DeadlineExceeded", err)
	}
	close(inner.gate) // the server answers, late
	waitFor(t, func() bool { return inner.opened.Load() == 1 })
	// The spare is handed out; a second caller opens its own.
	var conns []driver.Conn
	for range 2 {
		conn, err := c.Connect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	if n := inner.opened.Load(); n != 2 {
		t.Errorf("%d connections opened for two callers and one spare, want 2", n)
	}
	for _, conn := range conns {
		conn.Close()
	}
}

// Close closes the spares, and a connection that finishes opening after
// it is closed at once.
func TestConnectorCloseClosesSpares(t *testing.T) {
	for _, closeFirst := range []bool{false, true} {
		inner := &slowConnector{gate: make(chan struct{})}
		c := sqlstore.NewConnector(inner, sqlstore.ConnectorConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c.Connect(ctx) // already done: nothing opens
		if inner.calls.Load() != 0 {
			t.Fatal("a caller whose context was done made a connection open")
		}
		ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		c.Connect(ctx)
		closeIt := func() {
			if err := c.(interface{ Close() error }).Close(); err != nil {
				t.Fatal(err)
			}
		}
		if closeFirst {
			closeIt()
		}
		close(inner.gate)
		waitFor(t, func() bool { return inner.opened.Load() == 1 })
		if !closeFirst {
			time.Sleep(10 * time.Millisecond)
			if inner.closed.Load() != 0 {
				t.Fatal("the spare was closed before Close")
			}
			closeIt()
		}
		waitFor(t, func() bool { return inner.closed.Load() == 1 })
	}
}

// However many callers time out while the server is slow, at most
// MaxOpening connections are being opened at once; the callers queue for
// them.
func TestConnectorBoundsOpenings(t *testing.T) {
	inner := &slowConnector{gate: make(chan struct{})}
	c := sqlstore.NewConnector(inner, sqlstore.ConnectorConfig{MaxOpening: 2})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			c.Connect(ctx)
		})
	}
	wg.Wait()
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("%d openings for 10 callers, want MaxOpening (2)", n)
	}
	close(inner.gate)
	waitFor(t, func() bool { return inner.opened.Load() == 2 })
	c.(interface{ Close() error }).Close()
	waitFor(t, func() bool { return inner.closed.Load() == 2 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
