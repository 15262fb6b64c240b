package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/store"
)

// ErrNoKeys is returned, wrapped, by a [KeyReader] while its store publishes
// no key: no issuer has created one yet, or every key has expired. A
// verifier over the reader then fails closed with ErrUnavailable.
var ErrNoKeys = errors.New("token: no signing key published")

// KeyReaderConfig configures a KeyReader. The zero value of every field but
// Keys is a safe default.
type KeyReaderConfig struct {
	// Keys is the store the issuer keeps its signing keys in. Required. The
	// reader only lists it: it never creates, expires or deletes a key.
	Keys store.Keys
	// ReloadEvery is how often the set is reloaded to learn keys the issuer
	// made or expired. Default 1m; at most the issuer's
	// KeyManagerConfig.PublishAhead, so that a new key is known before it
	// signs.
	ReloadEvery time.Duration
	// MinRefreshInterval limits reloads caused by tokens with an unknown
	// kid, and retries while the store has no key or cannot be read, so
	// that a flood of forged kids cannot flood the store. Default 5s.
	MinRefreshInterval time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// KeyEncryption unseals the keys the issuer sealed; it must hold the
	// KEK each key was sealed with. Default none: an asymmetric sealed key
	// is read from the public part stored beside it (all a verifier
	// needs), and a sealed HS256 key, whose secret is what verifies, is an
	// error wrapping [ErrKeyEncryption]. With it, each key's blob is also
	// authenticated, so a key written by someone without the KEK is
	// refused. Keys stored in the clear are read either way.
	KeyEncryption KeyEncryption
}

// KeyReader is the [KeySource] of a process that verifies tokens but does
// not issue them, such as a resource server sharing the issuer's store: it
// serves the keys the issuer publishes there (including keys published
// ahead of signing, and excluding keys past their ExpiresAt), and never
// writes to the store, so the keys stay the issuer's to create and rotate.
// Its sets have no signing key. It is safe for concurrent use.
type KeyReader struct {
	l *keyLoader
}

// NewKeyReader loads the published keys. An empty store is not an error:
// KeySet then fails with [ErrNoKeys] until an issuer has created a key, and
// the reader retries at most once per MinRefreshInterval. A store that
// cannot be read is an error.
func NewKeyReader(ctx context.Context, cfg KeyReaderConfig) (*KeyReader, error) {
	if cfg.Keys == nil {
		return nil, errors.New("token: KeyReaderConfig.Keys is required")
	}
	if err := cfg.KeyEncryption.Check(); err != nil {
		return nil, err
	}
	r := &KeyReader{l: newKeyLoader(cfg)}
	r.l.publicOnly = true
	r.l.load = r.load
	if err := r.l.reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// KeySet returns the published keys, reloading them when they are older
// than ReloadEvery or a key has expired. It fails with [ErrNoKeys] while
// the store publishes none. When a reload fails it keeps serving the keys
// it has.
func (r *KeyReader) KeySet(ctx context.Context) (*KeySet, error) { return r.l.keySet(ctx) }

// Refresh reloads the keys at most once per MinRefreshInterval.
func (r *KeyReader) Refresh(ctx context.Context) (*KeySet, error) { return r.l.refresh(ctx) }

func (r *KeyReader) load(ctx context.Context) (*loadedSet, error) {
	now, _, keys, next, err := r.l.list(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		// Retry soon rather than after ReloadEvery: an issuer starting
		// next to us is about to create the first key.
		return &loadedSet{
			err:      fmt.Errorf("%w: the store holds no key that has not expired; an issuer creates one when it starts", ErrNoKeys),
			loadedAt: now,
			nextSwap: now.Add(r.l.minRefresh),
		}, nil
	}
	set, err := NewKeySet(keys, "")
	if err != nil {
		return nil, err
	}
	return &loadedSet{set: set, loadedAt: now, nextSwap: next}, nil
}

// keyLoader is what KeyReader and KeyManager share: serving a set loaded
// from a store.Keys, reloading it when it is stale, rate limiting reloads
// and retries, and parsing stored keys (each once).
type keyLoader struct {
	keys        store.Keys
	reloadEvery time.Duration
	minRefresh  time.Duration
	now         func() time.Time
	kek         KeyEncryption
	// publicOnly lets sealed asymmetric keys be read without a KEK, from
	// their public part: for readers, which never sign.
	publicOnly bool
	// load reads the store and builds the set to serve; the manager's also
	// creates and rotates keys. Called with mu held.
	load func(ctx context.Context) (*loadedSet, error)

	cur         atomic.Pointer[loadedSet]
	mu          sync.Mutex           // serialises loads (and the manager's writes)
	lastRefresh atomic.Int64         // unix nanoseconds of the last Refresh that reloaded
	retryAt     atomic.Int64         // after a failed reload, no other before this (unix nanoseconds)
	parsed      map[string]parsedKey // by key id; guarded by mu
}

// loadedSet is a set as loaded at loadedAt. Exactly one of set and err is set.
type loadedSet struct {
	set      *KeySet
	err      error // why there is no set; wraps ErrNoKeys
	loadedAt time.Time
	// nextSwap is when the set changes with no write to the store (a key
	// expires, a pending key starts signing, a rotation falls due); zero
	// for never.
	nextSwap time.Time
}

// parsedKey is a key as parsed from its stored material, kept across
// reloads so that each key is parsed once.
type parsedKey struct {
	alg     string
	private []byte
	key     *Key
}

func newKeyLoader(cfg KeyReaderConfig) *keyLoader {
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &keyLoader{keys: cfg.Keys, reloadEvery: cfg.ReloadEvery, minRefresh: cfg.MinRefreshInterval, now: cfg.Now, kek: cfg.KeyEncryption}
}

func (s *loadedSet) get() (*KeySet, error) {
	if s.set == nil {
		return nil, s.err
	}
	return s.set, nil
}

func (l *keyLoader) keySet(ctx context.Context) (*KeySet, error) {
	cur := l.cur.Load()
	now := l.now()
	due := now.Sub(cur.loadedAt) >= l.reloadEvery || (!cur.nextSwap.IsZero() && !now.Before(cur.nextSwap))
	if !due || now.UnixNano() < l.retryAt.Load() {
		return cur.get()
	}
	if !l.mu.TryLock() {
		return cur.get() // another goroutine is reloading; the old set is still good
	}
	defer l.mu.Unlock()
	if err := l.reloadLocked(ctx); err != nil {
		if cur.set == nil {
			return nil, err
		}
		return cur.set, nil // keep serving the keys we have; retry after minRefresh
	}
	return l.cur.Load().get()
}

func (l *keyLoader) refresh(ctx context.Context) (*KeySet, error) {
	now := l.now().UnixNano()
	last := l.lastRefresh.Load()
	if now-last < int64(l.minRefresh) || !l.lastRefresh.CompareAndSwap(last, now) {
		return l.cur.Load().get()
	}
	if err := l.reload(ctx); err != nil {
		return nil, err
	}
	return l.cur.Load().get()
}

func (l *keyLoader) reload(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reloadLocked(ctx)
}

func (l *keyLoader) reloadLocked(ctx context.Context) error {
	return l.serve(l.load(ctx))
}

// serve serves ls, or records that loading failed so that the next attempt
// waits minRefresh. Called with mu held.
func (l *keyLoader) serve(ls *loadedSet, err error) error {
	if err != nil {
		l.retryAt.Store(l.now().Add(l.minRefresh).UnixNano())
		return err
	}
	l.retryAt.Store(0)
	l.cur.Store(ls)
	return nil
}

// list reads the store and parses the keys published now, oldest first.
// Expired keys are not parsed. next is the soonest future ExpiresAt.
// Called with mu held.
func (l *keyLoader) list(ctx context.Context) (now time.Time, stored []*store.SigningKey, published []*Key, next time.Time, err error) {
	stored, err = l.keys.ListKeys(ctx)
	if err != nil {
		return now, nil, nil, next, fmt.Errorf("token: loading signing keys: %w", err)
	}
	// Now, not before listing: a key another replica created while we
	// listed must not look as if it started signing in our future.
	now = l.now()
	parsed := make(map[string]parsedKey, len(stored))
	for _, sk := range stored {
		if !sk.ExpiresAt.IsZero() && !now.Before(sk.ExpiresAt) {
			continue
		}
		k, err := l.parse(sk, parsed)
		if err != nil {
			return now, nil, nil, next, err
		}
		published = append(published, k)
		if !k.ExpiresAt.IsZero() && (next.IsZero() || k.ExpiresAt.Before(next)) {
			next = k.ExpiresAt
		}
	}
	l.parsed = parsed // forget keys that expired or went
	return now, stored, published, next, nil
}

// parse returns sk as a Key, from the key material parsed by an earlier
// load when it is the same, and records it in into.
func (l *keyLoader) parse(sk *store.SigningKey, into map[string]parsedKey) (*Key, error) {
	p, ok := l.parsed[sk.ID]
	if !ok || p.alg != sk.Algorithm || !bytes.Equal(p.private, sk.Private) {
		k, kekID, err := l.kek.parseStored(sk, l.publicOnly)
		if err != nil {
			return nil, err
		}
		k.kekID = kekID
		p = parsedKey{alg: sk.Algorithm, private: bytes.Clone(sk.Private), key: k}
	}
	into[sk.ID] = p
	// The times can change (UpdateKeyExpiry); the material cannot.
	k := *p.key
	k.ActiveAt, k.ExpiresAt, k.Seq = sk.ActiveAt, sk.ExpiresAt, sk.Seq
	return &k, nil
}
