package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/store"
)

// KeySource gives a verifier the keys it trusts.
type KeySource interface {
	// KeySet returns the current set; it must be cheap.
	KeySet(ctx context.Context) (*KeySet, error)
	// Refresh is called when a token names an unknown kid. It may reload
	// the keys (rate limited) and returns the set to retry with.
	Refresh(ctx context.Context) (*KeySet, error)
}

// StaticKeys is a KeySource that never changes.
type StaticKeys struct{ Set *KeySet }

// KeySet returns the set.
func (s StaticKeys) KeySet(context.Context) (*KeySet, error) { return s.Set, nil }

// Refresh returns the same set.
func (s StaticKeys) Refresh(context.Context) (*KeySet, error) { return s.Set, nil }

// KeyManagerConfig configures a KeyManager. The zero value of every field
// but Keys is a safe default.
type KeyManagerConfig struct {
	// Keys is where signing keys are kept and shared by replicas. Required.
	Keys store.Keys
	// Algorithm of new keys. Default ES256.
	Algorithm string
	// RotateEvery rotates the signing key when it has signed for this long.
	// Default 0: never rotate automatically (call Rotate).
	RotateEvery time.Duration
	// PublishAhead is how long a new key is published before it signs, so
	// that verifiers that cache the key set learn it first. Default 10m;
	// at least the ReloadEvery of every verifier and the cache lifetime of
	// remote JWKS consumers.
	PublishAhead time.Duration
	// RetainFor is how long a key stays published after it stops signing:
	// at least the longest access token lifetime plus leeway. Default 25h.
	RetainFor time.Duration
	// ReloadEvery is how often the set is reloaded from the store to learn
	// keys made by other replicas. Default 1m.
	ReloadEvery time.Duration
	// MinRefreshInterval limits reloads caused by tokens with an unknown
	// kid, so that a flood of forged kids cannot flood the store. Default 5s.
	MinRefreshInterval time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// KeyManager keeps the signing keys in a store.Keys and serves the current
// KeySet. It is safe for concurrent use.
type KeyManager struct {
	cfg         KeyManagerConfig
	set         atomic.Pointer[managedSet]
	mu          sync.Mutex // serialises reloads and rotations
	lastRefresh atomic.Int64
}

type managedSet struct {
	*KeySet
	loadedAt  time.Time
	signingAt time.Time // ActiveAt of the signing key
	pending   bool      // a newer key is published but not yet signing
	nextSwap  time.Time // when a pending key becomes active, or a key expires
}

// NewKeyManager loads the keys, creating the first signing key when there is
// none. Of replicas that start at once, exactly one key is created and all
// use it.
func NewKeyManager(ctx context.Context, cfg KeyManagerConfig) (*KeyManager, error) {
	if cfg.Keys == nil {
		return nil, errors.New("token: KeyManagerConfig.Keys is required")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = ES256
	}
	if _, err := signingMethod(cfg.Algorithm); err != nil {
		return nil, err
	}
	if cfg.PublishAhead <= 0 {
		cfg.PublishAhead = 10 * time.Minute
	}
	if cfg.RetainFor <= 0 {
		cfg.RetainFor = 25 * time.Hour
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &KeyManager{cfg: cfg}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// KeySet returns the current key set, reloading it from the store when it
// is older than ReloadEvery or a pending key has become due, and rotating
// when RotateEvery has passed.
func (m *KeyManager) KeySet(ctx context.Context) (*KeySet, error) {
	cur := m.set.Load()
	now := m.cfg.Now()
	due := now.Sub(cur.loadedAt) >= m.cfg.ReloadEvery || (!cur.nextSwap.IsZero() && !now.Before(cur.nextSwap))
	rotate := m.cfg.RotateEvery > 0 && !cur.pending && now.Sub(cur.signingAt) >= m.cfg.RotateEvery-m.cfg.PublishAhead
	if !due && !rotate {
		return cur.KeySet, nil
	}
	if !m.mu.TryLock() {
		return cur.KeySet, nil // another goroutine is reloading; the old set is still good
	}
	defer m.mu.Unlock()
	var err error
	if rotate {
		err = m.rotateLocked(ctx)
	} else {
		err = m.reloadLocked(ctx)
	}
	if err != nil {
		return cur.KeySet, nil // keep serving the keys we have; the next call retries
	}
	return m.set.Load().KeySet, nil
}

// Refresh reloads the keys at most once per MinRefreshInterval.
func (m *KeyManager) Refresh(ctx context.Context) (*KeySet, error) {
	now := m.cfg.Now().UnixNano()
	last := m.lastRefresh.Load()
	if now-last < int64(m.cfg.MinRefreshInterval) || !m.lastRefresh.CompareAndSwap(last, now) {
		return m.set.Load().KeySet, nil
	}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m.set.Load().KeySet, nil
}

// Reload reads the keys from the store now, creating a signing key if none
// can sign.
func (m *KeyManager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked(ctx)
}

// Rotate publishes a new signing key that starts signing after
// PublishAhead, and schedules the current one to stop being published
// RetainFor after that.
func (m *KeyManager) Rotate(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rotateLocked(ctx)
}

func (m *KeyManager) reloadLocked(ctx context.Context) error {
	for attempt := 0; attempt < 5; attempt++ {
		stored, err := m.cfg.Keys.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("token: loading signing keys: %w", err)
		}
		now := m.cfg.Now()
		ms, maxSeq, err := m.build(stored, now)
		if err != nil {
			return err
		}
		if ms != nil {
			m.set.Store(ms)
			return nil
		}
		// Nothing can sign: create a key that signs at once. A replica
		// that wins the race for maxSeq+1 makes the others retry and use it.
		if err := m.createKey(ctx, maxSeq+1, now); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return err
		}
	}
	return errors.New("token: could not agree on a signing key with the store")
}

func (m *KeyManager) rotateLocked(ctx context.Context) error {
	stored, err := m.cfg.Keys.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: loading signing keys: %w", err)
	}
	now := m.cfg.Now()
	cur, maxSeq, err := m.build(stored, now)
	if err != nil {
		return err
	}
	if cur != nil && cur.pending {
		m.set.Store(cur) // another replica rotated already
		return nil
	}
	activeAt := now.Add(m.cfg.PublishAhead)
	if cur == nil {
		activeAt = now
	}
	if err := m.createKeyAt(ctx, maxSeq+1, now, activeAt); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return err
	}
	if cur != nil {
		old := cur.SigningKey()
		if err := m.cfg.Keys.UpdateKeyExpiry(ctx, old.ID, activeAt.Add(m.cfg.RetainFor)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return m.reloadLocked(ctx)
}

func (m *KeyManager) createKey(ctx context.Context, seq int64, now time.Time) error {
	return m.createKeyAt(ctx, seq, now, now)
}

func (m *KeyManager) createKeyAt(ctx context.Context, seq int64, now, activeAt time.Time) error {
	sk, err := GenerateKey(m.cfg.Algorithm, now)
	if err != nil {
		return err
	}
	sk.Seq, sk.ActiveAt = seq, activeAt
	return m.cfg.Keys.CreateKey(ctx, sk)
}

// build makes the set of published keys at now. It returns nil when no key
// of the configured algorithm can sign.
func (m *KeyManager) build(stored []*store.SigningKey, now time.Time) (*managedSet, int64, error) {
	var (
		keys    []*Key
		signing *Key
		pending bool
		maxSeq  int64
		next    time.Time
	)
	soonest := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, sk := range stored {
		maxSeq = max(maxSeq, sk.Seq)
		k, err := ParseKey(sk)
		if err != nil {
			return nil, 0, err
		}
		if !k.published(now) {
			continue
		}
		soonest(k.ExpiresAt)
		keys = append(keys, k)
		if k.Algorithm != m.cfg.Algorithm {
			continue
		}
		if k.ActiveAt.After(now) {
			pending = true
			soonest(k.ActiveAt)
			continue
		}
		if signing == nil || k.Seq > signing.Seq {
			signing = k
		}
	}
	if signing == nil {
		return nil, maxSeq, nil
	}
	set, err := NewKeySet(keys, signing.ID)
	if err != nil {
		return nil, 0, err
	}
	return &managedSet{KeySet: set, loadedAt: now, signingAt: signing.ActiveAt, pending: pending, nextSwap: next}, maxSeq, nil
}
