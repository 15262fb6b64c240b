// Package tokentest holds the fixtures that the tests of internal/token,
// middleware, issuer and e2e share: a clock driven by hand, fixed signing
// keys for every algorithm (ours and an attacker's), a signer for arbitrary
// headers and claims, and key managers and readers over a store at a clock.
//
// It is for tests only: internal/depcheck fails if a package's non-test
// code imports it. It imports nothing above internal/token, so the internal
// tests of middleware can use it too.
package tokentest

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Clock is the time a test drives by hand, so that no test sleeps and no
// delay is crossed by sleeping either. Its Now is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at 2030-01-02 03:04:05 UTC: far enough ahead that
// no key or token made by real time is mistaken for one made by the test.
func NewClock() *Clock { return NewClockAt(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

// NewClockAt returns a clock at t, without t's monotonic reading: what the
// clock says is only ever what the test set.
func NewClockAt(t time.Time) *Clock { return &Clock{t: t.Round(0)} }

// Now is the clock's time; pass c.Now as a Config's Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// RandomID returns 32 random hex digits, for a jti or a token ID that no
// other test uses.
func RandomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
