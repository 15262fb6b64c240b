package issuer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/deadline"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// Issuer mints tokens and manages client credentials and accounts. It is
// safe for concurrent use; any number of Issuers (replicas) may share one
// store.
//
// It is an engine over three registries: token kinds ([Kind]: every token
// is minted by one function from a kind and a grant), grant types (the
// token endpoint's grant_type values) and endpoints (the router, the
// routes, the paths and the metadata all derive from the one list).
type Issuer struct {
	cfg      Config
	store    store.Store
	keys     *token.KeyManager
	verifier *middleware.LocalVerifier
	hasher   *token.Hasher
	// clients caches client authentication's store reads; nil when
	// Config.ClientCacheTTL is negative.
	clients *clientCache
	// dummyHash is what an unknown client id's secret is compared with, so
	// that it costs the same as a known one.
	dummyHash []byte
	// remoteKeys caches the JWK Sets of private_key_jwt clients that
	// registered a jwks_uri; nil unless Config.PrivateKeyJWT is enabled.
	remoteKeys *remoteKeySets
	// nonces remembers the jti of assertions and DPoP proofs; nil when
	// the store lacks store.Nonces (then neither can be enabled).
	nonces store.Nonces
	// exchanger runs the refresh grant's common case in one round trip;
	// nil when the store lacks store.RefreshExchanger.
	exchanger store.RefreshExchanger
	// passwords hashes and checks account passwords (argon2id).
	passwords *passwords
	limiter   limiter
	// counts caches the failure counters limited reads; nil when the
	// limiter is in this process anyway or RateLimit.CountCacheTTL is
	// negative.
	counts  *countCache
	sweeper store.Sweeper
	// trimsChanges: the periodic sweep also trims the store's change log
	// (store.ChangeLog) to changeRetention.
	trimsChanges bool
	nextSweep    atomic.Int64 // unix nanoseconds
	log          *slog.Logger

	kinds    map[string]*Kind
	grants   []*grant // the enabled ones, in registry order
	routes   []Route  // the enabled endpoints, in registry order
	exact    map[string]http.Handler
	subtrees []Route
	metadata []byte
	// keyFmt is the account-keys endpoint's wire format, defaults filled in.
	keyFmt KeyFormat
}

// startupTimeout bounds the store calls New makes to load or create the
// signing keys.
const startupTimeout = 30 * time.Second

// New checks cfg, fills in its defaults and returns an Issuer. It loads
// the signing keys from cfg.Store, creating the first one when there is none
// (replicas starting at once agree on one key).
func New(cfg Config) (*Issuer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	kinds, err := resolveKinds(&cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	if sc, ok := cfg.Store.(store.StartChecker); ok {
		warnings, err := sc.CheckStart(ctx)
		if err != nil {
			return nil, fmt.Errorf("issuer: store: %w", err)
		}
		for _, w := range warnings {
			cfg.Logger.Warn("issuer: store: " + w)
		}
	}
	st := bound(cfg.Store, cfg.StoreTimeout)
	km, err := token.NewKeyManager(ctx, token.KeyManagerConfig{
		Keys:          st,
		Algorithm:     cfg.Algorithm,
		RotateEvery:   cfg.KeyRotation,
		KeyEncryption: cfg.KeyEncryption,
		// A key must stay published until the last token it signed expires.
		RetainFor: max(25*time.Hour, maxTTL(kinds)+time.Hour),
		Now:       cfg.Now,
		Created: func(ctx context.Context, e token.KeyCreated) {
			call(ctx, cfg.Hooks.SigningKey, SigningKeyCreated{KeyID: e.ID, Algorithm: e.Algorithm,
				Seq: e.Seq, ActiveAt: e.ActiveAt, Rotation: e.Rotation})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("issuer: signing keys: %w", err)
	}
	i := &Issuer{
		cfg:    cfg,
		store:  st,
		keys:   km,
		hasher: token.NewHasher(cfg.Pepper),
		log:    cfg.Logger,
		kinds:  kinds,
	}
	if cfg.PrivateKeyJWT.Enabled {
		i.remoteKeys = &remoteKeySets{cfg: &i.cfg.PrivateKeyJWT, m: map[string]*remoteKeySet{}}
	}
	i.clients = newClientCache(cfg.ClientCacheTTL, clientCacheSize)
	if i.passwords, err = newPasswords(cfg.Passwords); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	dummy := make([]byte, 32)
	rand.Read(dummy)
	i.dummyHash = dummy
	if i.verifier, err = middleware.NewLocalVerifier(middleware.LocalConfig{
		Issuer:        cfg.Issuer,
		Audiences:     cfg.Audience,
		Store:         cfg.Store, // bounded by the verifier itself, so that Watch finds a store.Watcher
		StoreTimeout:  cfg.StoreTimeout,
		VerifyTimeout: cfg.RequestTimeout,
		Keys:          km,
		Opaque:        anyKind(kinds, func(k *Kind) bool { return k.Format != FormatJWT }),
		Pepper:        cfg.Pepper,
		Leeway:        cfg.Leeway,
		StateTTL:      cfg.StateTTL,
		Kinds:         i.Kinds(),
		Now:           cfg.Now,
	}); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if rl, ok := cfg.Store.(store.RateLimiter); ok {
		l, ok := rl.(limiter)
		if !ok {
			l = countEach{rl}
		}
		i.limiter = l
		if !deadline.NeverWaits(cfg.Store) && cfg.StoreTimeout > 0 {
			i.limiter = boundedLimiter{l, cfg.StoreTimeout}
		}
		if !deadline.NeverWaits(cfg.Store) {
			// A counter in this process (the memory store's) costs no
			// round trip to read, and is exact.
			i.counts = newCountCache(cfg.RateLimit.CountCacheTTL, cfg.RateLimit.Window, countCacheSize)
		}
	} else {
		i.limiter = newMemLimiter()
	}
	if n, ok := cfg.Store.(store.Nonces); ok {
		i.nonces = n
		if !deadline.NeverWaits(cfg.Store) && cfg.StoreTimeout > 0 {
			i.nonces = boundedNonces{n, cfg.StoreTimeout}
		}
	}
	if x, ok := cfg.Store.(store.RefreshExchanger); ok {
		i.exchanger = x
		if !deadline.NeverWaits(cfg.Store) && cfg.StoreTimeout > 0 {
			i.exchanger = boundedExchanger{x, cfg.StoreTimeout}
		}
	}
	if sw, ok := cfg.Store.(store.Sweeper); ok && cfg.SweepInterval > 0 {
		i.sweeper = sw
	}
	if _, ok := cfg.Store.(store.ChangeLog); ok && cfg.SweepInterval > 0 {
		i.trimsChanges = true
	}
	if i.sweeper != nil || i.trimsChanges {
		i.nextSweep.Store(cfg.Now().Add(cfg.SweepInterval).UnixNano())
	}
	i.keyFmt = keyFormat(cfg.Dialect)
	i.grants = i.enabledGrants()
	i.buildRoutes()
	i.metadata = i.buildMetadata()
	return i, nil
}

// Verifier returns a verifier over the issuer's keys and store: it accepts
// the issuer's access tokens (opaque ones too when Format is FormatOpaque)
// for any audience in Config.Audience. Rotation and revocation made through
// this Issuer reach it at once; made through another replica, within
// Config.StateTTL, or at once while [Issuer.Watch] runs. Guards (the
// middleware package) wrap it.
func (i *Issuer) Verifier() *middleware.LocalVerifier { return i.verifier }

// Watch subscribes the issuer's verifier and its client cache to the
// store's change events when the store can push them ([store.Watcher]: the
// Redis store, and PostgreSQL through store/sqlstore/pgwatch), so that a
// rotation or revocation made by another replica reaches this one's guards
// and token endpoint at once instead of within Config.StateTTL and
// Config.ClientCacheTTL. It returns false when the store cannot push
// events. The subscription lasts until ctx is done; call it once, at
// start-up, with the server's lifetime context.
func (i *Issuer) Watch(ctx context.Context) (bool, error) {
	// Config.Store, not i.store: the per-call deadline wrapper hides the
	// optional capabilities.
	w, ok := i.cfg.Store.(store.Watcher)
	if !ok {
		return false, nil
	}
	return true, w.Watch(ctx, i.forget)
}

// RotateSigningKey rotates the signing key now, as Config.KeyRotation does
// on schedule: a new key of Config.Algorithm is published at once and signs
// 10 minutes later, so that verifiers caching the key set learn it first;
// the current key signs until then and stays published until the tokens it
// signed have expired. When a rotation is already pending (another replica
// rotated), it does nothing.
func (i *Issuer) RotateSigningKey(ctx context.Context) error {
	if err := i.keys.Rotate(ctx); err != nil {
		return fmt.Errorf("issuer: rotating the signing key: %w", err)
	}
	return nil
}

// ClientSecretMatches reports, in constant time, whether secret is c's
// secret (hashed as the issuer hashes it, with Config.Pepper): for tools
// that must decide whether a configured secret is already the stored one.
func (i *Issuer) ClientSecretMatches(c *store.Client, secret string) bool {
	return i.hasher.Equal(secret, c.SecretHash)
}

// unavailable logs a store failure (a deadline that passed included) and
// returns the 503 the client sees, with a Retry-After.
func (i *Issuer) unavailable(ctx context.Context, what string, err error) *Error {
	if ctx.Err() != nil {
		// Say whether the request's time ran out (Config.RequestTimeout)
		// or its client went away, not only the call's deadline.
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	i.log.ErrorContext(ctx, "issuer: store failure", "op", what, "err", err)
	e := ErrTemporarilyUnavailable.WithDescription("the service is temporarily unavailable").WithCause(err)
	e.retryAfter = retryAfterUnavailable
	return e
}

// noStore sets the headers that keep tokens and secrets out of caches
// (RFC 6749 §5.1).
func noStore(h http.Header) {
	setHeaders(h, "Cache-Control", "no-store", "Pragma", "no-cache")
}

// newID returns 128 random bits, base64url: token ids (jti) and refresh
// token family ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	var s [22]byte // base64.RawURLEncoding.EncodedLen(16)
	base64.RawURLEncoding.Encode(s[:], b[:])
	return string(s[:]) // one allocation, where EncodeToString makes two

}

// sweepTimeout bounds a background sweep.
const sweepTimeout = time.Minute

// maybeSweep starts a background sweep when one is due. Of concurrent
// callers exactly one starts it.
func (i *Issuer) maybeSweep(now time.Time) {
	if i.sweeper == nil && !i.trimsChanges {
		return
	}
	next := i.nextSweep.Load()
	if now.UnixNano() < next || !i.nextSweep.CompareAndSwap(next, now.Add(i.cfg.SweepInterval).UnixNano()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
		defer cancel()
		if i.sweeper != nil {
			if _, err := i.sweeper.Sweep(ctx, now); err != nil {
				i.log.WarnContext(ctx, "issuer: sweeping expired records failed", "err", err)
			}
		}
		if i.trimsChanges {
			if _, err := i.trimChanges(ctx); err != nil {
				i.log.WarnContext(ctx, "issuer: trimming the change log failed", "err", err)
			}
		}
	}()
}

// Sweep deletes the expired tokens, revocations and keys from the store
// now, when it implements [store.Sweeper], and trims its change log when
// it keeps one ([store.ChangeLog]: changes older than the longest token
// lifetime plus Leeway plus 10 minutes go), and reports how many records
// went; otherwise it does nothing.
func (i *Issuer) Sweep(ctx context.Context) (int64, error) {
	var n int64
	if sw, ok := i.cfg.Store.(store.Sweeper); ok {
		swept, err := sw.Sweep(ctx, i.cfg.Now())
		if err != nil {
			return swept, err
		}
		n = swept
	}
	trimmed, err := i.trimChanges(ctx)
	return n + trimmed, err
}
