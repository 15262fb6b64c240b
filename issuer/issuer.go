package issuer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// Issuer mints tokens and manages client credentials. It is safe for
// concurrent use; any number of Issuers (replicas) may share one store.
type Issuer struct {
	cfg      Config
	store    store.Store
	keys     *token.KeyManager
	verifier *middleware.LocalVerifier
	hasher   *token.Hasher
	// dummyHash is what an unknown client id's secret is compared with, so
	// that it costs the same as a known one.
	dummyHash []byte
	limiter   store.RateLimiter
	sweeper   store.Sweeper
	nextSweep atomic.Int64 // unix nanoseconds
	metadata  []byte
	log       *slog.Logger

	token, revoke, introspect, jwks, credentials, meta http.Handler
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
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	km, err := token.NewKeyManager(ctx, token.KeyManagerConfig{
		Keys:        cfg.Store,
		Algorithm:   cfg.Algorithm,
		RotateEvery: cfg.KeyRotation,
		// A key must stay published until the last token it signed expires.
		RetainFor: max(25*time.Hour, cfg.AccessTokenTTL+time.Hour),
		Now:       cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("issuer: signing keys: %w", err)
	}
	i := &Issuer{
		cfg:    cfg,
		store:  cfg.Store,
		keys:   km,
		hasher: token.NewHasher(cfg.Pepper),
		log:    cfg.Logger,
	}
	dummy := make([]byte, 32)
	rand.Read(dummy)
	i.dummyHash = dummy
	if i.verifier, err = middleware.NewLocalVerifier(middleware.LocalConfig{
		Issuer:    cfg.Issuer,
		Audiences: cfg.Audience,
		Store:     cfg.Store,
		Keys:      km,
		Opaque:    cfg.Format == FormatOpaque,
		Pepper:    cfg.Pepper,
		Leeway:    cfg.Leeway,
		StateTTL:  cfg.StateTTL,
		Now:       cfg.Now,
	}); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if rl, ok := cfg.Store.(store.RateLimiter); ok {
		i.limiter = rl
	} else {
		i.limiter = newMemLimiter()
	}
	if sw, ok := cfg.Store.(store.Sweeper); ok && cfg.SweepInterval > 0 {
		i.sweeper = sw
		i.nextSweep.Store(cfg.Now().Add(cfg.SweepInterval).UnixNano())
	}
	i.metadata = i.buildMetadata()
	i.token = http.HandlerFunc(i.serveToken)
	i.revoke = http.HandlerFunc(i.serveRevoke)
	i.introspect = http.HandlerFunc(i.serveIntrospect)
	i.jwks = http.HandlerFunc(i.serveJWKS)
	i.credentials = http.HandlerFunc(i.serveCredentials)
	i.meta = http.HandlerFunc(i.serveMetadata)
	return i, nil
}

// Handler serves every endpoint at its path (see [Issuer.Paths]) and
// answers 404 elsewhere.
func (i *Issuer) Handler() http.Handler { return http.HandlerFunc(i.route) }

func (i *Issuer) route(w http.ResponseWriter, r *http.Request) {
	p := &i.cfg.Paths
	switch r.URL.Path {
	case p.Token:
		i.token.ServeHTTP(w, r)
	case p.Revocation:
		i.revoke.ServeHTTP(w, r)
	case p.Introspection:
		i.introspect.ServeHTTP(w, r)
	case p.JWKS:
		i.jwks.ServeHTTP(w, r)
	case p.Credentials:
		i.credentials.ServeHTTP(w, r)
	case p.Metadata:
		i.meta.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// TokenHandler serves the token endpoint (RFC 6749 §3.2) in the configured
// dialect.
func (i *Issuer) TokenHandler() http.Handler { return i.token }

// RevocationHandler serves RFC 7009 token revocation.
func (i *Issuer) RevocationHandler() http.Handler { return i.revoke }

// IntrospectionHandler serves RFC 7662 token introspection.
func (i *Issuer) IntrospectionHandler() http.Handler { return i.introspect }

// JWKSHandler serves the public signing keys as a JSON Web Key Set.
func (i *Issuer) JWKSHandler() http.Handler { return i.jwks }

// MetadataHandler serves the RFC 8414 authorization server metadata.
func (i *Issuer) MetadataHandler() http.Handler { return i.meta }

// CredentialsHandler serves self-rotation: a client that presents its own
// access token gets a new secret (see [Issuer.RotateClient]).
func (i *Issuer) CredentialsHandler() http.Handler { return i.credentials }

// Paths returns the request paths of the endpoints, defaults filled in.
func (i *Issuer) Paths() Paths { return i.cfg.Paths }

// Route is one endpoint: the path it answers on and its handler.
type Route struct {
	Path    string
	Handler http.Handler
}

// Routes returns every endpoint with its own handler, for routers that
// mount them one by one (the adapters' Mount functions). The paths are
// distinct and start with "/"; every method should reach the handler, which
// answers 405 itself to the ones an endpoint does not take.
func (i *Issuer) Routes() []Route {
	p := &i.cfg.Paths
	return []Route{
		{p.Token, i.token},
		{p.Revocation, i.revoke},
		{p.Introspection, i.introspect},
		{p.Credentials, i.credentials},
		{p.JWKS, i.jwks},
		{p.Metadata, i.meta},
	}
}

// Verifier returns a verifier over the issuer's keys and store: it accepts
// the issuer's access tokens (opaque ones too when Format is FormatOpaque)
// for any audience in Config.Audience. Rotation and revocation made through
// this Issuer reach it at once; made through another replica, within
// Config.StateTTL, or at once while [Issuer.Watch] runs. Guards (the
// middleware package) wrap it.
func (i *Issuer) Verifier() *middleware.LocalVerifier { return i.verifier }

// Watch subscribes the issuer's verifier to the store's change events when
// the store can push them ([store.Watcher], as the Redis store does), so that
// a rotation or revocation made by another replica reaches this one's guards
// at once instead of within Config.StateTTL. It returns false when the store
// cannot push events. The subscription lasts until ctx is done; call it once,
// at start-up, with the server's lifetime context.
func (i *Issuer) Watch(ctx context.Context) (bool, error) { return i.verifier.Watch(ctx) }

// Keys returns the key manager, e.g. to rotate the signing key by hand with
// Rotate.
func (i *Issuer) Keys() *token.KeyManager { return i.keys }

// Hasher returns the hasher of secrets and tokens (peppered with
// Config.Pepper).
func (i *Issuer) Hasher() *token.Hasher { return i.hasher }

// unavailable logs a store failure and returns the 503 the client sees.
func (i *Issuer) unavailable(ctx context.Context, what string, err error) *Error {
	i.log.ErrorContext(ctx, "issuer: store failure", "op", what, "err", err)
	return ErrTemporarilyUnavailable.WithDescription("the service is temporarily unavailable").WithCause(err)
}

// noStore sets the headers that keep tokens and secrets out of caches
// (RFC 6749 §5.1).
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// newID returns 128 random bits, base64url: token ids (jti) and refresh
// token family ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sweepTimeout bounds a background sweep.
const sweepTimeout = time.Minute

// maybeSweep starts a background sweep when one is due. Of concurrent
// callers exactly one starts it.
func (i *Issuer) maybeSweep(now time.Time) {
	if i.sweeper == nil {
		return
	}
	next := i.nextSweep.Load()
	if now.UnixNano() < next || !i.nextSweep.CompareAndSwap(next, now.Add(i.cfg.SweepInterval).UnixNano()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
		defer cancel()
		if _, err := i.sweeper.Sweep(ctx, now); err != nil {
			i.log.WarnContext(ctx, "issuer: sweeping expired records failed", "err", err)
		}
	}()
}

// Sweep deletes the expired tokens, revocations and keys from the store
// now, when it implements [store.Sweeper], and reports how many records
// went; otherwise it does nothing.
func (i *Issuer) Sweep(ctx context.Context) (int64, error) {
	sw, ok := i.store.(store.Sweeper)
	if !ok {
		return 0, nil
	}
	return sw.Sweep(ctx, i.cfg.Now())
}
