package issuer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/portcullis/portcullis/store"
)

// memLimiter is the in-memory store.RateLimiter used when the store has
// none: fixed windows aligned like the store's (now.Truncate(window)), so
// the behaviour does not change with the backend. It is bounded: when full
// it first drops windows that have ended and then, under a flood of
// distinct keys, arbitrary ones, which weakens the limit for those keys
// rather than letting memory grow without end. Keys longer than
// memKeyMax (an address from a ClientIP that reads a header can be long)
// are kept as their SHA-256, so that each entry is small and the bound on
// entries is a bound on bytes: about 20 MB when full.
type memLimiter struct {
	mu        sync.Mutex
	m         map[string]memWindow
	max       int
	lastSweep time.Time
}

type memWindow struct {
	start time.Time
	end   time.Time
	n     int64
}

const (
	memLimiterMax = 100_000
	memKeyMax     = 64
)

// memKey is key as the memLimiter keeps it.
func memKey(key string) string {
	if len(key) <= memKeyMax {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return string(sum[:])
}

func newMemLimiter() *memLimiter {
	return &memLimiter{m: make(map[string]memWindow), max: memLimiterMax}
}

func (l *memLimiter) Hit(_ context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	key = memKey(key)
	start := now.Truncate(w)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok || !e.start.Equal(start) {
		if !ok && len(l.m) >= l.max {
			l.makeRoom(now)
		}
		e = memWindow{start: start, end: start.Add(w)}
	}
	e.n++
	l.m[key] = e
	return e.n, e.end, nil
}

// CountMany implements store.RateCounter.
func (l *memLimiter) CountMany(ctx context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	return store.CountEach(ctx, l, keys, w, now)
}

func (l *memLimiter) Count(_ context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	key = memKey(key)
	start := now.Truncate(w)
	l.mu.Lock()
	e, ok := l.m[key]
	l.mu.Unlock()
	if !ok || !e.start.Equal(start) {
		return 0, start.Add(w), nil
	}
	return e.n, e.end, nil
}

// makeRoom drops ended windows (at most once a second, so that a flood
// cannot make every insert scan the map) and else one arbitrary entry.
func (l *memLimiter) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= time.Second || now.Before(l.lastSweep) {
		l.lastSweep = now
		for k, e := range l.m {
			if !now.Before(e.end) {
				delete(l.m, k)
			}
		}
	}
	for k := range l.m {
		if len(l.m) < l.max {
			break
		}
		delete(l.m, k)
	}
}

// retryAfter sets the Retry-After header (RFC 9110 §10.2.3) in whole
// seconds, at least one.
func setRetryAfter(h http.Header, d time.Duration) {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	h.Set("Retry-After", strconv.FormatInt(s, 10))
}

// limiter is the issuer's rate limiter: a store.RateLimiter that reads
// several counters at once (store.CountEach supplies CountMany for one
// that cannot).
type limiter interface {
	store.RateLimiter
	store.RateCounter
}

// countEach gives a store.RateLimiter without CountMany one, a Count per
// key.
type countEach struct{ store.RateLimiter }

func (c countEach) CountMany(ctx context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	return store.CountEach(ctx, c.RateLimiter, keys, w, now)
}

// limited reports how long the caller must wait when the id's counter
// (key, "" for none: limitKeyClient or limitKeyAccount and the id) or the
// address has used up its failures in this window (0 when it may go on).
// The counters the count cache knows are not read (see countCache); the
// others are read in one CountMany: at most one store round trip before
// every authentication instead of two (PERF.md §1), none while the cache
// is warm.
func (i *Issuer) limited(ctx context.Context, key, addr string, now time.Time) (time.Duration, error) {
	rl := i.cfg.RateLimit
	start := now.Truncate(rl.Window)
	// The counters, as a prefix and an id, so that a cache hit needs no
	// concatenated string.
	var ctrBuf [2]counter
	ctrs := ctrBuf[:0]
	if key != "" && rl.PerClient >= 0 {
		ctrs = append(ctrs, counter{id: key, limit: rl.PerClient})
	}
	if rl.PerAddress >= 0 {
		ctrs = append(ctrs, counter{prefix: limitKeyAddr, id: addr, limit: rl.PerAddress})
	}
	if i.counts != nil {
		unknown := ctrs[:0]
		for _, c := range ctrs {
			var b [128]byte
			n, ok := i.counts.get(append(append(b[:0], c.prefix...), c.id...), start.UnixNano(), now)
			switch {
			case !ok:
				unknown = append(unknown, c)
			case n >= int64(c.limit):
				return limitWait(start.Add(rl.Window), now), nil
			}
		}
		ctrs = unknown
	}
	if len(ctrs) == 0 {
		return 0, nil
	}
	return i.readCounts(ctx, ctrs, start, now)
}

// readCounts is limited's store read, of the counters ctrs in the window
// that starts at start. The count cache learns what it reads.
func (i *Issuer) readCounts(ctx context.Context, ctrs []counter, start, now time.Time) (time.Duration, error) {
	var keyBuf [2]string
	keys := keyBuf[:0]
	for _, c := range ctrs {
		keys = append(keys, c.prefix+c.id)
	}
	counts, reset, err := i.limiter.CountMany(ctx, keys, i.cfg.RateLimit.Window, now)
	if err != nil {
		return 0, err
	}
	if len(counts) != len(keys) {
		return 0, fmt.Errorf("rate limiter answered %d counts for %d keys", len(counts), len(keys))
	}
	wait := time.Duration(0)
	for k, n := range counts {
		if i.counts != nil {
			i.counts.put(keys[k], start.UnixNano(), n, now)
		}
		if n >= int64(ctrs[k].limit) && wait == 0 {
			wait = limitWait(reset, now)
		}
	}
	return wait, nil
}

// counter is one failure counter limited checks: its key is prefix+id.
type counter struct {
	prefix, id string
	limit      int
}

// limitWait is how long a caller over its limit waits: until the window
// ends, at least a second.
func limitWait(reset, now time.Time) time.Duration {
	if wait := reset.Sub(now); wait > 0 {
		return wait
	}
	return time.Second
}

// failed counts a failed authentication against the id's key (as for
// limited) and the address. The count cache learns each new count, so
// that this replica sees its own failures at once.
func (i *Issuer) failed(ctx context.Context, key, addr string, now time.Time) error {
	rl := i.cfg.RateLimit
	if key != "" && rl.PerClient >= 0 {
		if err := i.hit(ctx, key, now); err != nil {
			return err
		}
	}
	if rl.PerAddress >= 0 {
		if err := i.hit(ctx, limitKeyAddr+addr, now); err != nil {
			return err
		}
	}
	return nil
}

// hit counts one failure against key and tells the count cache.
func (i *Issuer) hit(ctx context.Context, key string, now time.Time) error {
	w := i.cfg.RateLimit.Window
	n, _, err := i.limiter.Hit(ctx, key, w, now)
	if i.counts == nil {
		return err
	}
	if err != nil {
		// The failure may or may not have been counted.
		i.counts.drop(key)
		return err
	}
	i.counts.put(key, now.Truncate(w).UnixNano(), n, now)
	return nil
}

// throttle counts an introspection or revocation request of the
// authenticated client id, and refuses it (429) past
// RateLimit.PerClientCalls in the window.
func (i *Issuer) throttle(ctx context.Context, id string, now time.Time) *Error {
	rl := i.cfg.RateLimit
	if rl.PerClientCalls < 0 {
		return nil
	}
	n, reset, err := i.limiter.Hit(ctx, limitKeyCalls+id, rl.Window, now)
	if err != nil {
		return i.unavailable(ctx, "rate limit", err)
	}
	if n <= int64(rl.PerClientCalls) {
		return nil
	}
	e := ErrRateLimited.WithDescription("too many introspection or revocation requests; retry later").
		WithCause(errors.New("throttled: client " + id))
	e.retryAfter = max(reset.Sub(now), time.Second)
	return e
}

const (
	limitKeyClient  = "authfail:client:"
	limitKeyAccount = "authfail:account:"
	limitKeyAddr    = "authfail:addr:"
	limitKeyCalls   = "calls:client:"
)

// rateLimited is the 429 for a caller that must wait.
func rateLimited(addr string, wait time.Duration) *Error {
	e := ErrRateLimited.WithCause(errors.New("rate limited: " + addr))
	e.retryAfter = wait
	return e
}

// attempt is one authentication try by a client or an account, rate
// limited per presented id and per address: the one mechanism behind the
// token endpoint's client authentication and the login. The id is "" when
// none was presented or it was one no client or account can have; it is
// then counted against the address only.
type attempt struct {
	i           *Issuer
	subject, id string // SubjectClient or SubjectAccount; the id as presented
	key, addr   string // the id's counter key ("" for none); the caller's address
	now         time.Time
}

// It is returned by value: a caller's local attempt stays on its stack.
func (i *Issuer) newAttempt(r *http.Request, subject, keyPrefix, id, counterID string, now time.Time) attempt {
	a := attempt{i: i, subject: subject, id: id, addr: i.cfg.ClientIP(r), now: now}
	if id != "" {
		a.key = keyPrefix + counterID
	}
	return a
}

// begin refuses the attempt (429) while the id or the address has used up
// its failures in this window.
func (a *attempt) begin(ctx context.Context) *Error {
	wait, err := a.i.limited(ctx, a.key, a.addr, a.now)
	if err != nil {
		return a.i.unavailable(ctx, "rate limit", err)
	}
	if wait > 0 {
		a.hook(ctx, ReasonRateLimited)
		return rateLimited(a.addr, wait)
	}
	return nil
}

// fail counts a failure, tells the AuthFailed hook, and returns refusal
// carrying cause (or a 503 when the counter cannot be written).
func (a *attempt) fail(ctx context.Context, reason string, refusal *Error, cause error) *Error {
	a.hook(ctx, reason)
	if err := a.i.failed(ctx, a.key, a.addr, a.now); err != nil {
		return a.i.unavailable(ctx, "rate limit", err)
	}
	return refusal.WithCause(cause)
}

func (a *attempt) hook(ctx context.Context, reason string) {
	call(ctx, a.i.cfg.Hooks.AuthFailed, AuthFailed{Subject: a.subject, ID: a.id, Reason: reason, Address: a.addr})
}
