package issuer

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/deadline"
	"github.com/portcullis/portcullis/store"
)

// defaultStoreTimeout is Config.StoreTimeout's default.
const defaultStoreTimeout = 5 * time.Second

// defaultRequestTimeout is Config.RequestTimeout's default when
// StoreTimeout sets no bound of its own.
const defaultRequestTimeout = 2 * defaultStoreTimeout

// errRequestTimeout is the cause of a request whose time ran out
// (Config.RequestTimeout), for the logs.
var errRequestTimeout = errors.New("issuer: the request's time for the store (Config.RequestTimeout) ran out")

// withRequestTimeout gives every request that h serves the time of
// Config.RequestTimeout: its store calls, each also bounded by
// StoreTimeout, end by then. It wraps every endpoint (buildRoutes), so
// that an endpoint added to the registry is bounded without a thought.
func (i *Issuer) withRequestTimeout(h http.HandlerFunc) http.HandlerFunc {
	d := i.cfg.RequestTimeout
	if d < 0 || deadline.NeverWaits(i.cfg.Store) {
		// A store that never waits needs no budget: the timer and the
		// request copy would be paid on every request for nothing.
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeoutCause(r.Context(), d, errRequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// retryAfterUnavailable is the Retry-After of a 503 temporarily_unavailable:
// long enough that clients do not pile retries onto a store that is
// struggling, short enough for a blip.
const retryAfterUnavailable = 5 * time.Second

// boundedStore gives every call to a store its own deadline (the earlier of
// the caller's and now + d), so that a stalled store turns into a 503
// within d instead of holding the request, and its connection, for as long
// as the store hangs. The stores honour the context: database/sql cancels
// the query, go-redis stops waiting (see Config.StoreTimeout).
//
// It embeds the store so that a method added to [store.Store] still
// forwards, unbounded, until it is listed here; optional capabilities
// (Pinger, Sweeper, Watcher, Nonces, ChangeLog, …) are found on
// Config.Store, never on this, and bounded by their own wrappers below.
type boundedStore struct {
	store.Store
	d time.Duration
}

// bound wraps s unless d is negative (no per-call deadline) or s never
// waits (the memory store: a deadline would cost a timer for nothing).
func bound(s store.Store, d time.Duration) store.Store {
	if deadline.NeverWaits(s) || d < 0 {
		return s
	}
	return boundedStore{s, d}
}

func (b boundedStore) CreateClient(ctx context.Context, c *store.Client) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.CreateClient(ctx, c) })
}

func (b boundedStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.Client, error) { return b.Store.GetClient(ctx, id) })
}

func (b boundedStore) UpdateClient(ctx context.Context, c *store.Client, prevGeneration int64) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.UpdateClient(ctx, c, prevGeneration) })
}

func (b boundedStore) DeleteClient(ctx context.Context, id string) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.DeleteClient(ctx, id) })
}

func (b boundedStore) ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*store.Client, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) ([]*store.Client, error) {
		return b.Store.ListClientsByOwner(ctx, owner, limit)
	})
}

func (b boundedStore) CreateAccount(ctx context.Context, a *store.Account) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.CreateAccount(ctx, a) })
}

func (b boundedStore) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.Account, error) { return b.Store.GetAccount(ctx, id) })
}

func (b boundedStore) FindAccount(ctx context.Context, login string) (*store.Account, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.Account, error) { return b.Store.FindAccount(ctx, login) })
}

func (b boundedStore) UpdateAccount(ctx context.Context, a *store.Account, prevGeneration int64) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.UpdateAccount(ctx, a, prevGeneration) })
}

func (b boundedStore) DeleteAccount(ctx context.Context, id string) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.DeleteAccount(ctx, id) })
}

func (b boundedStore) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.CreateRefreshToken(ctx, t) })
}

func (b boundedStore) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.RefreshToken, error) {
		return b.Store.GetRefreshToken(ctx, hash, now)
	})
}

func (b boundedStore) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.RotateRefreshToken(ctx, oldHash, next, now) })
}

func (b boundedStore) ConsumeRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.RefreshToken, error) {
		return b.Store.ConsumeRefreshToken(ctx, hash, now)
	})
}

func (b boundedStore) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.RevokeRefreshFamily(ctx, familyID) })
}

func (b boundedStore) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.CreateAccessToken(ctx, t) })
}

func (b boundedStore) GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.AccessToken, error) {
		return b.Store.GetAccessToken(ctx, hash, now)
	})
}

func (b boundedStore) DeleteAccessToken(ctx context.Context, hash string) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.DeleteAccessToken(ctx, hash) })
}

func (b boundedStore) Revoke(ctx context.Context, tokenID string, expiresAt time.Time) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.Revoke(ctx, tokenID, expiresAt) })
}

func (b boundedStore) IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (bool, error) { return b.Store.IsRevoked(ctx, tokenID, now) })
}

func (b boundedStore) CreateKey(ctx context.Context, k *store.SigningKey) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.CreateKey(ctx, k) })
}

func (b boundedStore) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return deadline.Call(ctx, b.d, b.Store.ListKeys)
}

func (b boundedStore) UpdateKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.UpdateKeyExpiry(ctx, id, expiresAt) })
}

func (b boundedStore) DeleteKey(ctx context.Context, id string) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Store.DeleteKey(ctx, id) })
}

// boundedLimiter does the same for a store's rate-limit counters.
// boundedNonces gives store.Nonces, which private_key_jwt and DPoP use, the
// same per-call deadline.
type boundedNonces struct {
	store.Nonces
	d time.Duration
}

func (b boundedNonces) UseNonce(ctx context.Context, id string, expiresAt, now time.Time) error {
	return deadline.Do(ctx, b.d, func(ctx context.Context) error { return b.Nonces.UseNonce(ctx, id, expiresAt, now) })
}

// boundedExchanger gives store.RefreshExchanger, which the refresh grant
// uses, the same per-call deadline.
type boundedExchanger struct {
	store.RefreshExchanger
	d time.Duration
}

func (b boundedExchanger) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.RefreshToken, error) {
		return b.RefreshExchanger.ExchangeRefreshToken(ctx, x)
	})
}

// boundedChangeLog gives store.ChangeLog the same per-call deadline.
type boundedChangeLog struct {
	store.ChangeLog
	d time.Duration
}

// changeLog finds store.ChangeLog on s, which must be Config.Store (a
// boundedStore hides it), bounded as the other calls are unless d is not
// positive or s never waits.
func changeLog(s store.Store, d time.Duration) (store.ChangeLog, bool) {
	cl, ok := s.(store.ChangeLog)
	if !ok || deadline.NeverWaits(s) || d <= 0 {
		return cl, ok
	}
	return boundedChangeLog{cl, d}, true
}

// page is a change log's answer.
type page struct {
	changes []store.Change
	trimmed int64
}

func (b boundedChangeLog) Changes(ctx context.Context, after int64, limit int) ([]store.Change, int64, error) {
	p, err := deadline.Call(ctx, b.d, func(ctx context.Context) (page, error) {
		cs, trimmed, err := b.ChangeLog.Changes(ctx, after, limit)
		return page{cs, trimmed}, err
	})
	return p.changes, p.trimmed, err
}

func (b boundedChangeLog) TrimChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.ChangeLog.TrimChanges(ctx, olderThan) })
}

type boundedLimiter struct {
	limiter
	d time.Duration
}

// hit is a rate limiter's answer.
type hit struct {
	count   int64
	resetAt time.Time
}

func (b boundedLimiter) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	h, err := deadline.Call(ctx, b.d, func(ctx context.Context) (hit, error) {
		n, at, err := b.limiter.Hit(ctx, key, window, now)
		return hit{n, at}, err
	})
	return h.count, h.resetAt, err
}

func (b boundedLimiter) Count(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	h, err := deadline.Call(ctx, b.d, func(ctx context.Context) (hit, error) {
		n, at, err := b.limiter.Count(ctx, key, window, now)
		return hit{n, at}, err
	})
	return h.count, h.resetAt, err
}

// counts is a rate counter's answer.
type counts struct {
	n       []int64
	resetAt time.Time
}

func (b boundedLimiter) CountMany(ctx context.Context, keys []string, window time.Duration, now time.Time) ([]int64, time.Time, error) {
	c, err := deadline.Call(ctx, b.d, func(ctx context.Context) (counts, error) {
		n, at, err := b.limiter.CountMany(ctx, keys, window, now)
		return counts{n, at}, err
	})
	return c.n, c.resetAt, err
}
