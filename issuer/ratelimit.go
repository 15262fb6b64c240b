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
// Both counters are read in one CountMany: one store round trip before
// every authentication instead of two (PERF.md §1).
func (i *Issuer) limited(ctx context.Context, key, addr string, now time.Time) (time.Duration, error) {
	rl := i.cfg.RateLimit
	var keyBuf [2]string
	var limitBuf [2]int
	keys, limits := keyBuf[:0], limitBuf[:0]
	if key != "" && rl.PerClient >= 0 {
		keys, limits = append(keys, key), append(limits, rl.PerClient)
	}
	if rl.PerAddress >= 0 {
		keys, limits = append(keys, limitKeyAddr+addr), append(limits, rl.PerAddress)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	counts, reset, err := i.limiter.CountMany(ctx, keys, rl.Window, now)
	if err != nil {
		return 0, err
	}
	if len(counts) != len(keys) {
		return 0, fmt.Errorf("rate limiter answered %d counts for %d keys", len(counts), len(keys))
	}
	for k, n := range counts {
		if n >= int64(limits[k]) {
			if wait := reset.Sub(now); wait > 0 {
				return wait, nil
			}
			return time.Second, nil
		}
	}
	return 0, nil
}

// failed counts a failed authentication against the id's key (as for
// limited) and the address.
func (i *Issuer) failed(ctx context.Context, key, addr string, now time.Time) error {
	rl := i.cfg.RateLimit
	if key != "" && rl.PerClient >= 0 {
		if _, _, err := i.limiter.Hit(ctx, key, rl.Window, now); err != nil {
			return err
		}
	}
	if rl.PerAddress >= 0 {
		if _, _, err := i.limiter.Hit(ctx, limitKeyAddr+addr, rl.Window, now); err != nil {
			return err
		}
	}
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
