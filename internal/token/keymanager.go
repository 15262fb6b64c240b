package token

import (
	"context"
	"errors"
	"fmt"
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
	// Algorithm of new keys: ES256, EdDSA, RS256 or HS256. Default ES256.
	// When the key that signs has another algorithm (the configuration
	// changed), the manager rotates to a key of this one exactly as
	// RotateEvery does: the new key is published PublishAhead before it
	// signs, and the old one signs until then and expires RetainFor after.
	// Replicas should agree on it: while replicas with two algorithms run
	// side by side, each rotates back to its own once the other's key
	// signs (no token fails, but a key is added every PublishAhead).
	Algorithm string
	// RotateEvery rotates the signing key when it has signed for this long.
	// Default 0: never rotate automatically (call Rotate).
	RotateEvery time.Duration
	// PublishAhead is how long a new key is published before it signs, so
	// that verifiers that cache the key set learn it first. Default 10m;
	// at least the ReloadEvery of every verifier (KeyReaderConfig too) and
	// the cache lifetime of remote JWKS consumers.
	PublishAhead time.Duration
	// RetainFor is how long a key stays published after it stops signing:
	// at least the longest access token lifetime plus leeway. Default 25h.
	RetainFor time.Duration
	// ReloadEvery is how often the set is reloaded from the store to learn
	// keys made by other replicas. Default 1m.
	ReloadEvery time.Duration
	// MinRefreshInterval limits reloads caused by tokens with an unknown
	// kid, and retries after the store failed, so that a flood of forged
	// kids cannot flood the store. Default 5s.
	MinRefreshInterval time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Created, when set, is called after this manager stored a new key
	// (not when another replica did), for audit logs. It runs with the
	// manager's lock held: keep it fast.
	Created func(ctx context.Context, e KeyCreated)
	// KeyEncryption seals the keys this manager creates with its Current
	// KEK (AES-256-GCM), and unseals stored keys with the KEK each names.
	// Default none: new keys are stored in the clear, and a sealed key in
	// the store is a startup error wrapping [ErrKeyEncryption]. So is a
	// key sealed with a KEK that is not configured, or whose blob does not
	// authenticate: there is no fallback. Keys stored in the clear (from
	// before sealing was configured) are still read; while one signs, or
	// one sealed with an Older KEK, the manager rotates to a key sealed
	// with Current, as for a change of Algorithm, so that the old key
	// expires RetainFor later. Replicas must agree on it.
	KeyEncryption KeyEncryption
}

// KeyCreated describes a key a KeyManager stored; never its key material.
type KeyCreated struct {
	ID        string
	Algorithm string
	Seq       int64
	// ActiveAt is when the key starts signing.
	ActiveAt time.Time
	// Rotation is true when the key replaces one that signs (it is
	// published ahead), false when no key could sign (a new store, or every
	// key had expired) and this one signs at once.
	Rotation bool
}

// KeyManager creates, rotates and expires the signing keys in a
// store.Keys, and serves the current KeySet. It belongs to the issuer: a
// process that only verifies tokens reads the keys with a [KeyReader]
// instead. It is safe for concurrent use.
//
// Of the published keys (those not past their ExpiresAt), the newest by Seq
// whose ActiveAt has come signs, whatever its algorithm; newer ones are
// pending. Every key a newer one replaces expires RetainFor after the newer
// one starts signing.
type KeyManager struct {
	cfg KeyManagerConfig
	l   *keyLoader
}

// NewKeyManager loads the keys, creating the first signing key when there is
// none and rotating when the signing key's algorithm is not
// cfg.Algorithm. Of replicas that start at once, exactly one key is created
// and all use it.
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
	if err := cfg.KeyEncryption.Check(); err != nil {
		return nil, err
	}
	if cfg.PublishAhead <= 0 {
		cfg.PublishAhead = 10 * time.Minute
	}
	if cfg.RetainFor <= 0 {
		cfg.RetainFor = 25 * time.Hour
	}
	l := newKeyLoader(KeyReaderConfig{Keys: cfg.Keys, ReloadEvery: cfg.ReloadEvery, MinRefreshInterval: cfg.MinRefreshInterval, Now: cfg.Now, KeyEncryption: cfg.KeyEncryption})
	cfg.ReloadEvery, cfg.MinRefreshInterval, cfg.Now = l.reloadEvery, l.minRefresh, l.now
	m := &KeyManager{cfg: cfg, l: l}
	l.load = func(ctx context.Context) (*loadedSet, error) { return m.sync(ctx, false) }
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// KeySet returns the current key set, reloading it from the store when it
// is older than ReloadEvery or a key has become due to sign or expire, and
// rotating when RotateEvery has passed. When the store fails it keeps
// serving the keys it has, and retries after MinRefreshInterval.
func (m *KeyManager) KeySet(ctx context.Context) (*KeySet, error) { return m.l.keySet(ctx) }

// Refresh reloads the keys at most once per MinRefreshInterval.
func (m *KeyManager) Refresh(ctx context.Context) (*KeySet, error) { return m.l.refresh(ctx) }

// Reload reads the keys from the store now, creating a signing key if none
// can sign and rotating if one is due.
func (m *KeyManager) Reload(ctx context.Context) error { return m.l.reload(ctx) }

// Rotate publishes a new signing key of the configured algorithm that
// starts signing after PublishAhead, and schedules the current one to stop
// being published RetainFor after that. When a rotation is already pending
// (another replica rotated), it does nothing.
func (m *KeyManager) Rotate(ctx context.Context) error {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	return m.l.serve(m.sync(ctx, true))
}

// sync brings the store in line with the configuration and returns the set
// to serve: it creates a key that signs at once when none can sign, rotates
// (publishing ahead) when asked, when RotateEvery has passed or when the
// signing key has another algorithm, and schedules the expiry of replaced
// keys. Replicas race to write through Seq: a create with a taken Seq
// fails, and the loser reads again and uses the winner's key. Called with
// l.mu held.
func (m *KeyManager) sync(ctx context.Context, rotate bool) (*loadedSet, error) {
	for attempt := 0; attempt < 5; attempt++ {
		now, stored, keys, next, err := m.l.list(ctx)
		if err != nil {
			return nil, err
		}
		var maxSeq int64
		for _, sk := range stored {
			maxSeq = max(maxSeq, sk.Seq)
		}
		var signing, pending *Key
		for _, k := range keys {
			if !k.ActiveAt.After(now) && (signing == nil || k.Seq > signing.Seq) {
				signing = k
			}
		}
		if signing == nil {
			// Nothing can sign (a new store, or every key expired): create
			// a key that signs at once; no verifier can need it earlier.
			if err := m.create(ctx, maxSeq+1, now, now, false); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
				return nil, err
			}
			continue
		}
		for _, k := range keys {
			if k.Seq > signing.Seq && (pending == nil || k.ActiveAt.Before(pending.ActiveAt)) {
				pending = k
			}
		}
		var rotateAt time.Time // zero: no rotation to come
		if pending == nil {
			switch {
			case rotate || signing.Algorithm != m.cfg.Algorithm || !m.sealedAsConfigured(signing):
				rotateAt = now
			case m.cfg.RotateEvery > 0:
				rotateAt = signing.ActiveAt.Add(m.cfg.RotateEvery - m.cfg.PublishAhead)
			}
		}
		if !rotateAt.IsZero() && !now.Before(rotateAt) {
			if err := m.create(ctx, maxSeq+1, now, now.Add(m.cfg.PublishAhead), true); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
				return nil, err
			}
			continue
		}
		if wrote, err := m.expireReplaced(ctx, stored); err != nil || wrote {
			if err != nil {
				return nil, err
			}
			continue
		}
		set, err := NewKeySet(keys, signing.ID)
		if err != nil {
			return nil, err
		}
		if pending != nil && (next.IsZero() || pending.ActiveAt.Before(next)) {
			next = pending.ActiveAt
		}
		if !rotateAt.IsZero() && (next.IsZero() || rotateAt.Before(next)) {
			next = rotateAt
		}
		return &loadedSet{set: set, loadedAt: now, nextSwap: next}, nil
	}
	return nil, errors.New("token: could not agree on a signing key with the store")
}

func (m *KeyManager) create(ctx context.Context, seq int64, now, activeAt time.Time, rotation bool) error {
	sk, err := GenerateKey(m.cfg.Algorithm, now)
	if err != nil {
		return err
	}
	sk.Seq, sk.ActiveAt = seq, activeAt
	if err := m.cfg.KeyEncryption.seal(sk); err != nil {
		return fmt.Errorf("token: sealing a new key: %w", err)
	}
	if err := m.cfg.Keys.CreateKey(ctx, sk); err != nil {
		return err
	}
	if m.cfg.Created != nil {
		m.cfg.Created(ctx, KeyCreated{ID: sk.ID, Algorithm: sk.Algorithm, Seq: seq, ActiveAt: activeAt, Rotation: rotation})
	}
	return nil
}

// sealedAsConfigured reports whether k is sealed with the Current KEK, or
// in the clear when none is configured: a key that is not is rotated out.
func (m *KeyManager) sealedAsConfigured(k *Key) bool {
	return k.kekID == m.cfg.KeyEncryption.Current.ID
}

// expireReplaced schedules the expiry of every key that a newer one (by
// Seq) replaces and that has none: RetainFor after the newer one starts
// signing, when the last token the old one signed has expired. This is how
// every rotation (RotateEvery, Rotate, a new Algorithm) expires the old
// key; deriving the time from the stored keys makes racing replicas write
// the same value, and heals a rotation cut short between its two writes.
// It reports whether it wrote.
func (m *KeyManager) expireReplaced(ctx context.Context, stored []*store.SigningKey) (bool, error) {
	wrote := false
	for i := 0; i+1 < len(stored); i++ {
		old, newer := stored[i], stored[i+1]
		if !old.ExpiresAt.IsZero() {
			continue
		}
		stops := newer.ActiveAt
		if old.ActiveAt.After(stops) {
			stops = old.ActiveAt
		}
		if err := m.cfg.Keys.UpdateKeyExpiry(ctx, old.ID, stops.Add(m.cfg.RetainFor)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return wrote, fmt.Errorf("token: scheduling the expiry of key %q: %w", old.ID, err)
		}
		wrote = true
	}
	return wrote, nil
}
