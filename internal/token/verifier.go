package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/store"
)

// Errors a Verifier returns, wrapped with their cause. Check them with
// errors.Is.
var (
	// ErrInvalidToken: the token is malformed, forged, expired, revoked,
	// of a rotated or disabled client, or otherwise unacceptable. Answer
	// 401 invalid_token; never tell the caller which.
	ErrInvalidToken = errors.New("token: invalid token")
	// ErrUnavailable: the store could not answer, so the token could not
	// be checked. Fail closed: answer 503.
	ErrUnavailable = errors.New("token: verification unavailable")
)

// StateStore is what a Verifier asks about the live state behind a token.
type StateStore interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetAccount(ctx context.Context, id string) (*store.Account, error)
	IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error)
}

// VerifierConfig configures a Verifier. Issuer, Keys and State are
// required; every other field has a safe default.
type VerifierConfig struct {
	// Issuer is the exact iss that tokens must carry.
	Issuer string
	// Audiences that are accepted: a token must name at least one.
	// Default: the Issuer.
	Audiences []string
	// Keys are the keys JWTs are verified with.
	Keys KeySource
	// State answers revocation and generation checks.
	State StateStore
	// Opaque enables opaque access tokens, looked up by hash. Default nil:
	// only JWTs are accepted.
	Opaque interface {
		GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error)
	}
	// Hasher hashes opaque tokens; it must match the issuer's. Default
	// plain SHA-256.
	Hasher *Hasher
	// Leeway for exp, nbf and iat, for clock skew between machines.
	// Default 10s; negative means none.
	Leeway time.Duration
	// StateTTL bounds how long a cached generation or revocation answer is
	// trusted: rotation and revocation reach this verifier within it (at
	// once when the store implements store.Watcher and Watch is running).
	// Default 5s.
	StateTTL time.Duration
	// CacheSize bounds how many verified tokens are remembered. Default
	// 10000; negative disables the cache.
	CacheSize int
	// MaxTokenLength rejects longer tokens before any parsing. Default 8 KiB.
	MaxTokenLength int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Verifier verifies Portcullis access tokens: JWTs signed by the issuer's
// keys, and opaque tokens when configured. It is safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	tokens *tokenCache
	state  *stateCache
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("token: VerifierConfig.Issuer is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("token: VerifierConfig.Keys is required")
	}
	if cfg.State == nil {
		return nil, errors.New("token: VerifierConfig.State is required")
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{cfg.Issuer}
	}
	cfg.Audiences = append([]string(nil), cfg.Audiences...)
	if cfg.Leeway == 0 {
		cfg.Leeway = 10 * time.Second
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 5 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.MaxTokenLength <= 0 {
		cfg.MaxTokenLength = 8 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{ES256, EdDSA, RS256, HS256}),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(cfg.Now),
			// Canonical base64url only: otherwise the unused low bits of a
			// segment's last character give every token 4 to 16 spellings
			// that all verify.
			jwt.WithStrictDecoding(),
		),
		state: newStateCache(stateCacheSize),
	}
	if cfg.CacheSize > 0 {
		v.tokens = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// Verify checks raw completely and says who presented it. Errors wrap
// ErrInvalidToken or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" || len(raw) > v.cfg.MaxTokenLength {
		return nil, fmt.Errorf("%w: empty or too long", ErrInvalidToken)
	}
	now := v.cfg.Now()
	if v.tokens != nil {
		if e := v.tokens.get(raw); e != nil {
			if now.Before(e.expires) {
				if err := v.recheck(ctx, e, now); err != nil {
					return nil, err
				}
				return e.principal, nil
			}
			v.tokens.delete(raw)
		}
	}
	if strings.Count(raw, ".") != 2 {
		if v.cfg.Opaque == nil {
			return nil, fmt.Errorf("%w: not a JWT", ErrInvalidToken)
		}
		return v.verifyOpaque(ctx, raw, now)
	}
	p, kid, err := v.verifyJWT(ctx, raw)
	if err != nil {
		return nil, err
	}
	// Before the revocation check: a revocation forgotten after it must
	// keep the token out of the cache (see tokenCache).
	var epoch uint64
	if v.tokens != nil {
		epoch = v.tokens.epoch()
	}
	if err := v.checkState(ctx, p, now); err != nil {
		return nil, err
	}
	if revoked, err := v.cfg.State.IsRevoked(ctx, p.TokenID, now); err != nil {
		return nil, fmt.Errorf("%w: revocation check: %w", ErrUnavailable, err)
	} else if revoked {
		return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	if v.tokens != nil {
		e := &cacheEntry{principal: p, kid: kid, expires: p.ExpiresAt.Add(v.cfg.Leeway)}
		e.checked.Store(now.UnixNano())
		v.tokens.put(raw, e, epoch)
	}
	return p, nil
}

// Leeway is the clock-skew allowance in force: a token is accepted until
// its exp plus Leeway, so a revocation must last at least that long.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

// VerifyJWT checks a JWT's signature and claims only, without the store:
// no revocation, generation or cache. Issuers use it to find a token's id.
func (v *Verifier) VerifyJWT(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" || len(raw) > v.cfg.MaxTokenLength {
		return nil, fmt.Errorf("%w: empty or too long", ErrInvalidToken)
	}
	p, _, err := v.verifyJWT(ctx, raw)
	return p, err
}

// verifyJWT checks raw and returns who presented it and the kid of the key
// that signed it.
func (v *Verifier) verifyJWT(ctx context.Context, raw string) (*Principal, string, error) {
	ks, err := v.cfg.Keys.KeySet(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var claims Claims
	t, err := v.parser.ParseWithClaims(raw, &claims, ks.Keyfunc)
	if err != nil && errors.Is(err, ErrUnknownKey) {
		// Perhaps another replica rotated: reload (rate limited) and retry once.
		fresh, rerr := v.cfg.Keys.Refresh(ctx)
		if rerr != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, rerr)
		}
		if fresh != ks {
			claims = Claims{}
			t, err = v.parser.ParseWithClaims(raw, &claims, fresh.Keyfunc)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, JWTType) && !strings.EqualFold(typ, "application/"+JWTType) {
		return nil, "", fmt.Errorf("%w: typ %q is not %s", ErrInvalidToken, typ, JWTType)
	}
	if claims.Kind == "" || claims.Subject == "" || claims.ID == "" {
		return nil, "", fmt.Errorf("%w: kind, sub and jti are required", ErrInvalidToken)
	}
	if !anyShared(claims.Audience, v.cfg.Audiences) {
		return nil, "", fmt.Errorf("%w: audience not accepted", ErrInvalidToken)
	}
	kid, _ := t.Header["kid"].(string) // Keyfunc found a key by it
	return principalFromClaims(&claims), kid, nil
}

func (v *Verifier) verifyOpaque(ctx context.Context, raw string, now time.Time) (*Principal, error) {
	at, err := v.cfg.Opaque.GetAccessToken(ctx, v.cfg.Hasher.Hex(raw), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown or expired", ErrInvalidToken)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !now.Before(at.ExpiresAt) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	if at.Kind == "" || at.Subject == "" {
		// As for JWTs: a token without a kind must never pass a guard.
		return nil, fmt.Errorf("%w: kind and sub are required", ErrInvalidToken)
	}
	if !anyShared(at.Audience, v.cfg.Audiences) {
		return nil, fmt.Errorf("%w: audience not accepted", ErrInvalidToken)
	}
	p := &Principal{
		Kind: at.Kind, Subject: at.Subject, ClientID: at.ClientID, AccountID: at.AccountID,
		Scopes: append([]string(nil), at.Scopes...), Audience: append([]string(nil), at.Audience...),
		TokenID: at.ID, Generation: at.Generation, IssuedAt: at.IssuedAt, ExpiresAt: at.ExpiresAt,
		Issuer: v.cfg.Issuer, Opaque: true,
	}
	// Opaque tokens are checked against the store on every use, so rotation
	// reaches them at once: no cached state.
	if err := v.fetchAndCompare(ctx, p, now, false); err != nil {
		return nil, err
	}
	return p, nil
}

// recheck revalidates a cached token when its state answers are older than
// StateTTL: generation, revocation, and that the key that signed it is
// still trusted (a key withdrawn from the store, say because it leaked,
// must not go on vouching for tokens from the cache).
func (v *Verifier) recheck(ctx context.Context, e *cacheEntry, now time.Time) error {
	if err := v.checkState(ctx, e.principal, now); err != nil {
		return err
	}
	if now.UnixNano()-e.checked.Load() < int64(v.cfg.StateTTL) {
		return nil
	}
	ks, err := v.cfg.Keys.KeySet(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if _, ok := ks.Key(e.kid); !ok {
		return fmt.Errorf("%w: signing key %q was withdrawn", ErrInvalidToken, e.kid)
	}
	revoked, err := v.cfg.State.IsRevoked(ctx, e.principal.TokenID, now)
	if err != nil {
		return fmt.Errorf("%w: revocation check: %w", ErrUnavailable, err)
	}
	if revoked {
		return fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	e.checked.Store(now.UnixNano())
	return nil
}

// checkState compares the token's generation with its client's (or
// account's), through a cache trusted for StateTTL.
func (v *Verifier) checkState(ctx context.Context, p *Principal, now time.Time) error {
	return v.fetchAndCompare(ctx, p, now, true)
}

func (v *Verifier) fetchAndCompare(ctx context.Context, p *Principal, now time.Time, cached bool) error {
	if p.ClientID != "" {
		if err := v.compare(ctx, subjectClient, p.ClientID, p.Generation, now, cached); err != nil {
			return err
		}
	}
	if p.AccountID != "" {
		if err := v.compare(ctx, subjectAccount, p.AccountID, p.Generation, now, cached); err != nil {
			return err
		}
	}
	if p.ClientID == "" && p.AccountID == "" {
		return fmt.Errorf("%w: token names no client or account", ErrInvalidToken)
	}
	return nil
}

func (v *Verifier) compare(ctx context.Context, kind subjectKind, id string, gen int64, now time.Time, cached bool) error {
	key := stateKey{kind, id}
	if cached {
		// A token of a later generation than the cached one proves the cache
		// stale (generations only grow; the token's is signed): ask the
		// store rather than refuse a client that just rotated elsewhere.
		if s, ok := v.state.get(key); ok && now.UnixNano()-s.fetched < int64(v.cfg.StateTTL) && (s.gone || gen <= s.generation) {
			return s.accepts(gen)
		}
	}
	// Before the store read: a change forgotten after it must keep this
	// answer out of the cache (see stateCache).
	epoch := v.state.epoch()
	var s subjectState
	var err error
	switch kind {
	case subjectClient:
		var c *store.Client
		if c, err = v.cfg.State.GetClient(ctx, id); err == nil {
			s = subjectState{generation: c.Generation, disabled: c.Disabled}
		}
	case subjectAccount:
		var a *store.Account
		if a, err = v.cfg.State.GetAccount(ctx, id); err == nil {
			s = subjectState{generation: a.Generation, disabled: a.Disabled}
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		s = subjectState{gone: true}
	} else if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.fetched = now.UnixNano()
	v.state.put(key, s, epoch)
	return s.accepts(gen)
}

// Forget drops everything cached about a store event's subject, so that the
// next use of an affected token asks the store. Watch calls it; a caller
// that learns of changes another way can too. A Verify in flight that read
// the store before the change does not cache what it read.
func (v *Verifier) Forget(ev store.Event) {
	switch ev.Kind {
	case store.EventClientChanged:
		v.state.forget(stateKey{subjectClient, ev.ID})
	case store.EventAccountChanged:
		v.state.forget(stateKey{subjectAccount, ev.ID})
	case store.EventRevoked:
		if v.tokens != nil {
			v.tokens.forget(ev.ID)
		}
	}
}

// Watch subscribes to the store's change events when it implements
// store.Watcher, so that revocation and rotation reach this verifier at
// once instead of within StateTTL. It returns false when the store cannot
// push events. The subscription lasts until ctx is done.
func (v *Verifier) Watch(ctx context.Context) (bool, error) {
	w, ok := v.cfg.State.(store.Watcher)
	if !ok {
		return false, nil
	}
	return true, w.Watch(ctx, v.Forget)
}

func anyShared(have, accepted []string) bool {
	for _, a := range have {
		for _, b := range accepted {
			if a == b {
				return true
			}
		}
	}
	return false
}
