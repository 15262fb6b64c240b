package issuer

import (
	"crypto/sha256"
	"sync"
	"time"
)

// countCache keeps, for RateLimit.CountCacheTTL, what this replica last
// learnt of each failure counter in the store, so that an authentication
// whose counters are known to be under their limits needs no store read
// before it (PERF.md §1: that read was one of the two store round trips
// of a client_credentials request, and with the client cache the only one).
//
// An entry holds a lower bound of the counter in one window: the count
// read (CountMany) or written (Hit) at some time, which includes every
// failure the store had counted by then. Counts only grow within a
// window, so the entry may answer for the TTL after that time:
//
//   - a count at or over its limit refuses at once (the store would too);
//   - a count under its limit lets the attempt go on without a read; the
//     failures counted by other replicas since are missed until the TTL
//     ends;
//   - every failure counted here stores the count its Hit returned, so
//     this replica's own failures are seen at once.
//
// Hence the bound of the trade-off: once a counter has reached its limit,
// each other replica holding a fresh entry under the limit lets one more
// attempt in, whose failure reads the true count back and locks the
// counter there as well. Spread over R replicas, an attacker gets at most
// limit + R − 1 failures per counter and window, not limit (attempts in
// flight at once add to either figure alike: the check and the count were
// never atomic).
//
// The cache only ever stands in for a read: an entry of another window,
// one older than the TTL or a missing one sends the attempt to the store,
// so evicting entries costs round trips, never the limit. It is bounded
// like memLimiter: when full, it drops the entries it can no longer use
// (ended windows, expired reads) at most once a second, and then an
// eighth of the rest; keys longer than memKeyMax are kept as their
// SHA-256.
type countCache struct {
	ttl    int64 // nanoseconds
	window time.Duration
	max    int

	mu        sync.RWMutex
	m         map[string]countEntry
	lastSweep int64 // unix nanoseconds
}

// countEntry is a counter as last seen: n failures in the window that
// starts at start, counting every failure the store had by read.
type countEntry struct {
	start int64 // unix nanoseconds
	n     int64
	read  int64 // unix nanoseconds
}

// countCacheSize bounds the cache: about 15 MB when full of long keys.
const countCacheSize = 100_000

// defaultCountCacheTTL is RateLimit.CountCacheTTL's default.
const defaultCountCacheTTL = time.Second

// newCountCache returns a cache trusting what it learns for ttl, or nil
// (every attempt reads the store) when ttl is not positive.
func newCountCache(ttl, window time.Duration, size int) *countCache {
	if ttl <= 0 {
		return nil
	}
	return &countCache{ttl: int64(ttl), window: window, max: size, m: make(map[string]countEntry)}
}

// get returns the count of key (the counter's key as bytes, so that a
// caller can build it on its stack) in the window starting at start, if
// it was learnt less than the TTL before now.
func (c *countCache) get(key []byte, start int64, now time.Time) (int64, bool) {
	var sum [sha256.Size]byte
	if len(key) > memKeyMax {
		sum = sha256.Sum256(key)
		key = sum[:]
	}
	c.mu.RLock()
	e, ok := c.m[string(key)] // no allocation: the compiler looks up the bytes
	c.mu.RUnlock()
	if !ok || e.start != start || !c.fresh(e.read, now.UnixNano()) {
		return 0, false
	}
	return e.n, true
}

// fresh reports whether a count read at read may still answer at now. A
// clock that went backwards does not extend the trust.
func (c *countCache) fresh(read, now int64) bool {
	age := now - read
	return age >= 0 && age < c.ttl
}

// put records that key had at least n failures in the window starting at
// start, every failure counted by the store at now included. Entries only
// move forward: a read that finishes after a later one (or after a Hit)
// must not lower a count that was already seen, nor bring back an older
// window.
func (c *countCache) put(key string, start, n int64, now time.Time) {
	key = memKey(key)
	at := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	switch {
	case ok && e.start > start:
		return
	case ok && e.start == start:
		e.n, e.read = max(e.n, n), max(e.read, at)
	default:
		if !ok && len(c.m) >= c.max {
			c.makeRoom(at)
		}
		e = countEntry{start: start, n: n, read: at}
	}
	c.m[key] = e
}

// drop forgets key, for a counter whose true count is no longer known (a
// Hit that failed may or may not have counted).
func (c *countCache) drop(key string) {
	key = memKey(key)
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// makeRoom drops the entries that can no longer answer (at most once a
// second, so that a flood of distinct keys cannot make every insert scan
// the map) and, if the cache is still full, an eighth of it.
func (c *countCache) makeRoom(now int64) {
	if now-c.lastSweep >= int64(time.Second) || now < c.lastSweep {
		c.lastSweep = now
		start := time.Unix(0, now).Truncate(c.window).UnixNano()
		for k, e := range c.m {
			if e.start < start || !c.fresh(e.read, now) {
				delete(c.m, k)
			}
		}
	}
	if len(c.m) >= c.max {
		makeRoom(c.m, c.max)
	}
}
