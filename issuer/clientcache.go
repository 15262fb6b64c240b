package issuer

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/store"
)

// clientCache keeps what client authentication reads from the store, the
// client record and whether its owner account is active, for
// Config.ClientCacheTTL, so that a client that asks for tokens again and
// again costs no store round trip for its lookup. It follows three rules:
//
//   - It may only accept. A wrong secret, a disabled client or an inactive
//     owner seen in a cached record is asked of the store again before it is
//     refused, so that a secret rotated (or a client enabled) at another
//     replica works here at once; only an old secret can outlive its
//     rotation elsewhere, and only until the entry is TTL old. Unknown ids
//     and inactive accounts are never cached.
//   - A change made through this Issuer, or pushed by a [store.Watcher]
//     while [Issuer.Watch] runs, drops the entry at once; an
//     [store.EventResync] drops them all.
//   - A record read from the store before a change was forgotten is not
//     cached after it: like the verifier's state cache, forgets are counted,
//     and put caches only if the count has not moved since the caller read
//     it (before asking the store).
//
// The record holds the secret's hash only, as the store does. The cache is
// bounded (clientCacheSize entries of each kind); when full, an eighth of it,
// arbitrary entries in Go's map order, makes room.
type clientCache struct {
	ttl       int64 // nanoseconds
	mu        sync.RWMutex
	clients   map[string]cachedClient
	accounts  map[string]int64 // id → when it was read active, unix nanoseconds
	max       int
	forgotten atomic.Uint64
}

// cachedClient is a client as read from the store, shared read-only by
// every request that finds it.
type cachedClient struct {
	c       *store.Client
	fetched int64 // unix nanoseconds
}

// clientCacheSize bounds the cache: about 100k clients of typical size
// hold some 40 MB, far more clients than most deployments have active
// within a TTL.
const clientCacheSize = 100_000

// defaultClientCacheTTL is ClientCacheTTL when neither it nor StateTTL is
// set: the verifier's default StateTTL.
const defaultClientCacheTTL = 5 * time.Second

// newClientCache returns a cache trusting entries for ttl, or nil (no
// caching) when ttl is negative.
func newClientCache(ttl time.Duration, size int) *clientCache {
	if ttl < 0 {
		return nil
	}
	return &clientCache{ttl: int64(ttl), clients: make(map[string]cachedClient), accounts: make(map[string]int64), max: size}
}

// client returns the cached client id if it was read less than the TTL
// before now.
func (cc *clientCache) client(id string, now time.Time) (*store.Client, bool) {
	cc.mu.RLock()
	e, ok := cc.clients[id]
	cc.mu.RUnlock()
	if !ok || !cc.fresh(e.fetched, now) {
		return nil, false
	}
	return e.c, true
}

// accountActive reports whether account id was read active less than the
// TTL before now.
func (cc *clientCache) accountActive(id string, now time.Time) bool {
	cc.mu.RLock()
	at, ok := cc.accounts[id]
	cc.mu.RUnlock()
	return ok && cc.fresh(at, now)
}

// fresh reports whether something read at fetched may still be trusted at
// now. A clock that went backwards does not extend the trust.
func (cc *clientCache) fresh(fetched int64, now time.Time) bool {
	age := now.UnixNano() - fetched
	return age >= 0 && age < cc.ttl
}

// epoch is the forget count, to read before asking the store and hand to
// a put.
func (cc *clientCache) epoch() uint64 { return cc.forgotten.Load() }

// putClient caches c, read at now, unless something was forgotten since
// epoch returned seen.
func (cc *clientCache) putClient(c *store.Client, now time.Time, seen uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.forgotten.Load() != seen {
		return
	}
	if _, ok := cc.clients[c.ID]; !ok && len(cc.clients) >= cc.max {
		makeRoom(cc.clients, cc.max)
	}
	cc.clients[c.ID] = cachedClient{c: c, fetched: now.UnixNano()}
}

// putAccountActive caches that account id was active at now, unless
// something was forgotten since epoch returned seen.
func (cc *clientCache) putAccountActive(id string, now time.Time, seen uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.forgotten.Load() != seen {
		return
	}
	if _, ok := cc.accounts[id]; !ok && len(cc.accounts) >= cc.max {
		makeRoom(cc.accounts, cc.max)
	}
	cc.accounts[id] = now.UnixNano()
}

// makeRoom deletes an eighth of a full map, arbitrary entries.
func makeRoom[V any](m map[string]V, size int) {
	drop := max(1, size/8)
	for k := range m {
		delete(m, k)
		if drop--; drop == 0 {
			return
		}
	}
}

// forget drops what a store event makes stale, and any put in flight of a
// record read before.
func (cc *clientCache) forget(ev store.Event) {
	switch ev.Kind {
	case store.EventClientChanged, store.EventAccountChanged, store.EventResync:
	default:
		return // a revocation changes no client
	}
	cc.forgotten.Add(1)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch ev.Kind {
	case store.EventClientChanged:
		delete(cc.clients, ev.ID)
	case store.EventAccountChanged:
		delete(cc.accounts, ev.ID)
	case store.EventResync:
		clear(cc.clients)
		clear(cc.accounts)
	}
}

// lookupClient returns the client id for authentication: from the cache
// when it was read within Config.ClientCacheTTL, else from the store
// (caching it). The result is shared: callers must not modify it. A
// cached record must only ever lead to an acceptance; see
// [Issuer.recheckClient] for the way back to the store before a refusal.
func (i *Issuer) lookupClient(ctx context.Context, id string, now time.Time) (c *store.Client, cached bool, err error) {
	if i.clients != nil {
		if c, ok := i.clients.client(id, now); ok {
			return c, true, nil
		}
	}
	c, err = i.fetchClient(ctx, id, now)
	return c, false, err
}

// fetchClient reads the client id from the store and caches it.
func (i *Issuer) fetchClient(ctx context.Context, id string, now time.Time) (*store.Client, error) {
	if i.clients == nil {
		return i.store.GetClient(ctx, id)
	}
	seen := i.clients.epoch()
	c, err := i.store.GetClient(ctx, id)
	if err == nil {
		i.clients.putClient(c, now, seen)
	}
	return c, err
}

// checkClient decides whether c, found by lookupClient, lets secret in:
// it returns "" when the secret matches and the client is enabled, and
// otherwise the AuthFailed reason (ReasonWrongSecret, ReasonDisabled, or
// ReasonUnknown for a client deleted since it was cached). When c came
// from the cache and would be refused, the client is read from the store
// again (it may have been rotated or enabled at another replica) and the
// fresh record decides; it is returned in place of c.
func (i *Issuer) checkClient(ctx context.Context, c *store.Client, cached bool, secret string, now time.Time) (*store.Client, string, error) {
	reason := i.refusal(c, secret)
	if reason == "" || !cached {
		return c, reason, nil
	}
	fresh, err := i.fetchClient(ctx, c.ID, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ReasonUnknown, nil
	}
	if err != nil {
		return nil, "", err
	}
	if bytes.Equal(fresh.SecretHash, c.SecretHash) && fresh.Disabled == c.Disabled {
		// Nothing the answer depends on changed: no second hash, so that
		// a wrong secret costs what it costs for an unknown id (one hash
		// and one store read).
		return fresh, reason, nil
	}
	return fresh, i.refusal(fresh, secret), nil
}

// refusal is why c refuses secret, "" when it accepts it.
func (i *Issuer) refusal(c *store.Client, secret string) string {
	switch {
	case !i.hasher.Equal(secret, c.SecretHash) || usesAssertions(c):
		// A client registered with keys (private_key_jwt) has no secret
		// that works, even one set before its keys were.
		return ReasonWrongSecret
	case c.Disabled:
		return ReasonDisabled
	}
	return ""
}

// ownerActive reports whether the account id exists and is not disabled,
// from the cache when it was read active within Config.ClientCacheTTL.
// Only an active account is cached, so a refusal always comes from the
// store. errAccountGone stands for a disabled or deleted account.
func (i *Issuer) ownerActive(ctx context.Context, id string, now time.Time) error {
	if i.clients != nil && i.clients.accountActive(id, now) {
		return nil
	}
	var seen uint64
	if i.clients != nil {
		seen = i.clients.epoch()
	}
	a, err := i.store.GetAccount(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && a.Disabled):
		return errAccountGone
	case err != nil:
		return err
	}
	if i.clients != nil {
		i.clients.putAccountActive(id, now, seen)
	}
	return nil
}

// errAccountGone: the owner account is disabled or deleted.
var errAccountGone = errors.New("issuer: owner account disabled or deleted")

// forget drops what the issuer's caches (the verifier's state and tokens,
// and the client cache) know about an event's subject. Every change made
// through this Issuer calls it, and so does Watch for changes pushed by
// the store.
func (i *Issuer) forget(ev store.Event) {
	// The client cache first: once the guard refuses a rotated client's
	// token, its old secret is refused too.
	if i.clients != nil {
		i.clients.forget(ev)
	}
	i.verifier.Forget(ev)
}
