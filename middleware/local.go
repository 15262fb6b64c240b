package middleware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/deadline"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// KeySource gives a [LocalVerifier] the keys it trusts: the issuer passes
// its key manager.
type KeySource = token.KeySource

// LocalStore is what a [LocalVerifier] asks the store about the live state
// behind a token. Every store.Store has these methods; GetAccessToken is
// asked only when [LocalConfig.Opaque] is set.
type LocalStore interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetAccount(ctx context.Context, id string) (*store.Account, error)
	IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error)
	GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error)
}

// LocalConfig configures a [LocalVerifier]. Issuer, Store and Keys are
// required; every other field's zero value is a safe default.
type LocalConfig struct {
	// Issuer is the exact iss that tokens must carry. Required.
	Issuer string
	// Audiences that are accepted: a token must name at least one.
	// Default: the Issuer.
	Audiences []string
	// Store answers revocation and generation checks, and looks opaque
	// tokens up. Required.
	Store LocalStore
	// StoreTimeout bounds each call to Store (and each read of the keys
	// in it): past it, Verify fails with ErrUnavailable (the guard answers
	// 503), so that a stalled store never holds a request for longer.
	// Tokens already in the cache are not affected, nor is a store that
	// never waits (the memory store). Default 5s; negative means no bound
	// of its own (the request's context still applies).
	StoreTimeout time.Duration
	// VerifyTimeout bounds the store calls of one Verify together: a
	// token may need four (its client, the client's account, its own
	// revocation and its refresh family's), each bounded by StoreTimeout,
	// and a guard must still answer within its client's timeout. Every
	// call ends by the earlier of StoreTimeout and what is left of
	// VerifyTimeout, which starts at the first store call (a token
	// answered from the cache starts no timer); past it, Verify fails with
	// ErrUnavailable. Default 2 × StoreTimeout (10s with its default), or
	// 10s when StoreTimeout is negative; negative means none. Not applied
	// to a store that never waits (the memory store).
	VerifyTimeout time.Duration
	// Keys are the keys JWTs are verified with. Default: the signing keys
	// published in Store, which must then also be a [store.Keys], read
	// and never written (a verify-only process never creates a key; it
	// answers ErrUnavailable until an issuer has). The issuer passes its
	// own key manager.
	Keys KeySource
	// KeyEncryption unseals the keys read from Store when Keys is unset;
	// ignored otherwise. It must hold the KEK each key was sealed with
	// (issuer.Config.KeyEncryption). Default none: keys sealed with an
	// asymmetric algorithm (ES256, EdDSA, RS256) are read from the public
	// part the issuer stores in the clear beside the sealed private key,
	// which is all verification needs; a sealed HS256 key, whose secret is
	// what verifies, makes NewLocalVerifier fail with ErrKeyEncryption.
	// With it, each key's record is also authenticated.
	KeyEncryption KeyEncryption
	// Opaque accepts opaque access tokens, looked up in Store by their
	// hash. Default false: only JWTs are accepted.
	Opaque bool
	// Pepper is the pepper opaque tokens are hashed with; it must be the
	// issuer's (issuer.Config.Pepper). Default none: plain SHA-256.
	Pepper []byte
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
	// Kinds are the token kinds the issuer defines, which guards over this
	// verifier may ask for (see [Config.Kinds]). Default KindClient and
	// KindAccount.
	Kinds []string
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// LocalVerifier verifies Portcullis access tokens with the issuer's keys
// and store: JWTs signed by those keys, and opaque tokens when configured.
// It is what issuer.Issuer.Verifier returns, and what a resource server
// that shares the issuer's store builds. It is safe for concurrent use.
//
// # What it checks
//
// The signature with the algorithm pinned by the key (never by the token's
// alg; jku and x5u are ignored), typ, iss, aud, exp, nbf and iat with a
// small leeway, and that kind, sub and jti are present. The token is read
// strictly: one spelling (canonical base64url), claim and header names
// matched exactly ("EXP" or "Scope" are unknown claims, and ignored) and
// never repeated, exp, nbf and iat JSON numbers from 0 to year 9999, gen
// an integer, aud a string or an array of strings, and a header with crit
// or b64 refused (Portcullis understands no JWS extension). Then the live
// state: the token must not be revoked, nor the refresh family it was
// minted with (its fam claim, or the opaque token's FamilyID: a second
// revocation lookup, for such tokens only), and a token that names a client
// must carry that client's current generation (the client exists and is
// not disabled); a client token that also names an account (a client key
// the account owns) needs that account to exist and not be disabled; a
// token that names an account and no client must carry the account's
// current generation. A token that names neither is refused.
//
// # Caching
//
// Verified tokens are cached by their exact string, so that a token seen
// before costs about a microsecond; the cache honours expiry, and
// revocation and rotation reach it within [LocalConfig.StateTTL] (or at
// once when the store pushes events, see [LocalVerifier.Watch]).
type LocalVerifier struct {
	cfg    LocalConfig
	jwt    *jwtCheck
	hasher *token.Hasher
	tokens *tokenCache
	state  *stateCache
	// verifyTimeout is cfg.VerifyTimeout, or 0 when the store never
	// waits.
	verifyTimeout time.Duration
}

// keyLoadTimeout bounds the first read of the keys in the store when
// NewLocalVerifier makes its own key reader.
const keyLoadTimeout = 30 * time.Second

// NewLocalVerifier checks cfg and returns a LocalVerifier.
func NewLocalVerifier(cfg LocalConfig) (*LocalVerifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("middleware: LocalConfig.Issuer is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("middleware: LocalConfig.Store is required")
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = defaultStoreTimeout
	}
	if cfg.VerifyTimeout == 0 {
		cfg.VerifyTimeout = defaultVerifyTimeout
		if cfg.StoreTimeout > 0 {
			cfg.VerifyTimeout = 2 * cfg.StoreTimeout
		}
	}
	if cfg.Keys == nil {
		keys, ok := cfg.Store.(store.Keys)
		if !ok {
			return nil, errors.New("middleware: LocalConfig.Keys is required when Store holds no keys (store.Keys)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), keyLoadTimeout)
		defer cancel()
		reader, err := token.NewKeyReader(ctx, token.KeyReaderConfig{Keys: boundKeys(keys, cfg.StoreTimeout), Now: cfg.Now, KeyEncryption: cfg.KeyEncryption})
		if err != nil {
			return nil, fmt.Errorf("middleware: signing keys: %w", err)
		}
		cfg.Keys = reader
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{cfg.Issuer}
	}
	cfg.Audiences = slices.Clone(cfg.Audiences)
	cfg.Pepper = slices.Clone(cfg.Pepper)
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
	var err error
	if cfg.Kinds, err = kindsOrDefault("LocalConfig", cfg.Kinds); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var verifyTimeout time.Duration
	if cfg.VerifyTimeout > 0 && !deadline.NeverWaits(cfg.Store) {
		verifyTimeout = cfg.VerifyTimeout
	}
	cfg.Store = boundLocal(cfg.Store, cfg.StoreTimeout)
	v := &LocalVerifier{
		verifyTimeout: verifyTimeout,
		cfg:           cfg,
		jwt:           newJWTCheck(cfg.Issuer, cfg.Audiences, cfg.Leeway, cfg.Now, cfg.Keys),
		hasher:        token.NewHasher(cfg.Pepper),
		state:         newStateCache(stateCacheSize),
	}
	if cfg.CacheSize > 0 {
		v.tokens = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// kindsOrDefault checks a verifier's Kinds and fills in the default.
func kindsOrDefault(where string, kinds []string) ([]string, error) {
	if len(kinds) == 0 {
		return []string{KindClient, KindAccount}, nil
	}
	for _, k := range kinds {
		if k == "" {
			return nil, fmt.Errorf("middleware: %s.Kinds holds an empty kind", where)
		}
	}
	return dedup(kinds), nil
}

// Kinds returns the token kinds the issuer defines (LocalConfig.Kinds).
func (v *LocalVerifier) Kinds() []string { return slices.Clone(v.cfg.Kinds) }

// Verify checks raw completely and says who presented it. Errors wrap
// ErrInvalidToken or ErrUnavailable.
func (v *LocalVerifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	p, _, err := v.verifyCached(ctx, raw)
	return p, err
}

// verifyCached is Verify that also reports whether the token cache
// answered (see cacheReporter).
func (v *LocalVerifier) verifyCached(ctx context.Context, raw string) (*Principal, bool, error) {
	if raw == "" || len(raw) > v.cfg.MaxTokenLength {
		return nil, false, invalid("empty or too long")
	}
	now := v.cfg.Now()
	var e *cacheEntry
	if v.tokens != nil {
		if e = v.tokens.get(raw, now); e != nil && v.current(e, now) {
			return e.principal, true, nil // nothing to ask: no budget to start
		}
	}
	b := budget{ctx: ctx, d: v.verifyTimeout}
	defer b.end()
	if e != nil {
		if err := v.recheck(&b, e, now); err != nil {
			return nil, true, err
		}
		return e.principal, true, nil
	}
	p, err := v.verifyUncached(&b, raw, now)
	return p, false, err
}

// verifyUncached checks a token the cache did not answer for, and caches
// it when it passes.
func (v *LocalVerifier) verifyUncached(b *budget, raw string, now time.Time) (*Principal, error) {
	if strings.Count(raw, ".") != 2 {
		if !v.cfg.Opaque {
			return nil, invalid("not a JWT")
		}
		return v.verifyOpaque(b, raw, now)
	}
	p, kid, err := v.jwt.verify(b.ctx, raw)
	if err != nil {
		return nil, err
	}
	// Before the revocation check: a revocation forgotten after it must
	// keep the token out of the cache (see tokenCache).
	var epoch uint64
	if v.tokens != nil {
		epoch = v.tokens.epoch()
	}
	version := v.state.version.Load() // before the check: see stateMemo
	until, err := v.checkState(b, p, now)
	if err != nil {
		return nil, err
	}
	if err := v.checkRevoked(b, p, now); err != nil {
		return nil, err
	}
	if v.tokens != nil {
		e := &cacheEntry{principal: p, kid: kid, expires: p.ExpiresAt.Add(v.cfg.Leeway)}
		e.checked.Store(now.UnixNano())
		e.firstState = stateMemo{version: version, until: until}
		e.state.Store(&e.firstState)
		v.tokens.put(raw, e, epoch)
	}
	return p, nil
}

// Leeway is the clock-skew allowance in force: a token is accepted until
// its exp plus Leeway, so a revocation must last at least that long.
func (v *LocalVerifier) Leeway() time.Duration { return v.cfg.Leeway }

// VerifyJWT checks a JWT's signature and claims only, without the store:
// no revocation, generation or cache. Issuers use it to find a token's id.
func (v *LocalVerifier) VerifyJWT(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" || len(raw) > v.cfg.MaxTokenLength {
		return nil, invalid("empty or too long")
	}
	p, _, err := v.jwt.verify(ctx, raw)
	return p, err
}

// jwtCheck is the signature and claims check of every verifier that holds
// the issuer's keys, local or fetched from its JWKS: one decoder, one set
// of rules.
//
// golang-jwt checks the signature, with the method of the key the kid
// names; the token is split, and its header and claims decoded, by
// token.KeySet.VerifyJWT's strict decoders rather than by golang-jwt's
// parser, whose map header and reflective claims cost more than the
// signature of an HS256 token and match claim names case-insensitively.
type jwtCheck struct {
	issuer    string
	audiences []string
	leeway    time.Duration
	now       func() time.Time
	keys      KeySource
}

func newJWTCheck(issuer string, audiences []string, leeway time.Duration, now func() time.Time, keys KeySource) *jwtCheck {
	return &jwtCheck{issuer: issuer, audiences: audiences, leeway: leeway, now: now, keys: keys}
}

// verify checks raw and returns who presented it and the kid of the key
// that signed it.
func (c *jwtCheck) verify(ctx context.Context, raw string) (*Principal, string, error) {
	ks, err := c.keys.KeySet(ctx)
	if err != nil {
		return nil, "", unavailable("%w", err)
	}
	// The principal and room for its audience and scopes are one
	// allocation; the claims decode into it.
	pb := new(principalBuf)
	claims := token.AccessClaims{Audience: pb.aud[:0]}
	h, err := ks.VerifyJWT(raw, &claims)
	if err != nil && errors.Is(err, token.ErrUnknownKey) {
		// Perhaps another replica rotated: reload (rate limited) and retry once.
		fresh, rerr := c.keys.Refresh(ctx)
		if rerr != nil {
			return nil, "", unavailable("%w", rerr)
		}
		if fresh != ks {
			claims = token.AccessClaims{Audience: pb.aud[:0]}
			h, err = fresh.VerifyJWT(raw, &claims)
		}
	}
	if err != nil {
		return nil, "", invalid("%w", err)
	}
	if err := c.check(&h, &claims); err != nil {
		return nil, "", err
	}
	return pb.fill(&claims), h.Kid, nil
}

// check applies the rules to a token whose signature verified: typ, iss,
// exp (required), nbf and iat with leeway, kind, sub and jti present, and
// an accepted audience.
func (c *jwtCheck) check(h *token.Header, cl *token.AccessClaims) error {
	if !strings.EqualFold(h.Typ, token.JWTType) && !strings.EqualFold(h.Typ, "application/"+token.JWTType) {
		return invalid("typ %q is not %s", h.Typ, token.JWTType)
	}
	if cl.Has&token.HasIssuer == 0 || cl.Issuer != c.issuer {
		return invalid("%w: iss %q is not %q", jwt.ErrTokenInvalidIssuer, cl.Issuer, c.issuer)
	}
	now := c.now()
	if cl.Has&token.HasExpiresAt == 0 {
		return invalid("%w: exp is required", jwt.ErrTokenRequiredClaimMissing)
	}
	if !now.Before(time.Unix(cl.ExpiresAt, 0).Add(c.leeway)) {
		return invalid("%w", jwt.ErrTokenExpired)
	}
	late := now.Add(c.leeway)
	if cl.Has&token.HasNotBefore != 0 && late.Before(time.Unix(cl.NotBefore, 0)) {
		return invalid("%w", jwt.ErrTokenNotValidYet)
	}
	if cl.Has&token.HasIssuedAt != 0 && late.Before(time.Unix(cl.IssuedAt, 0)) {
		return invalid("%w", jwt.ErrTokenUsedBeforeIssued)
	}
	if cl.Kind == "" || cl.Subject == "" || cl.ID == "" {
		return invalid("kind, sub and jti are required")
	}
	if !anyShared(cl.Audience, c.audiences) {
		return invalid("audience not accepted")
	}
	return nil
}

func (v *LocalVerifier) verifyOpaque(b *budget, raw string, now time.Time) (*Principal, error) {
	if !b64token(raw) {
		// Never worth a store round trip; and a guard counts on it (see
		// syntaxChecker).
		return nil, invalid("not a b64token")
	}
	at, err := v.cfg.Store.GetAccessToken(b.store(), v.hasher.Hex(raw), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid("unknown or expired")
	}
	if err != nil {
		return nil, unavailable("%w", b.why(err))
	}
	if !now.Before(at.ExpiresAt) {
		return nil, invalid("expired")
	}
	if at.Kind == "" || at.Subject == "" {
		// As for JWTs: a token without a kind must never pass a guard.
		return nil, invalid("kind and sub are required")
	}
	if !anyShared(at.Audience, v.cfg.Audiences) {
		return nil, invalid("audience not accepted")
	}
	p := &Principal{
		Kind: at.Kind, Subject: at.Subject, ClientID: at.ClientID, AccountID: at.AccountID,
		Scopes: slices.Clone(at.Scopes), Audience: slices.Clone(at.Audience),
		TokenID: at.ID, Generation: at.Generation, IssuedAt: at.IssuedAt, ExpiresAt: at.ExpiresAt,
		Issuer: v.cfg.Issuer, Opaque: true, FamilyID: at.FamilyID,
	}
	// Opaque tokens are checked against the store on every use, so rotation
	// reaches them at once: no cached state.
	if _, err := v.fetchAndCompare(b, p, now, false); err != nil {
		return nil, err
	}
	// An opaque token is revoked by deleting it; its family is revoked in
	// the revocation list.
	if p.FamilyID != "" {
		if err := v.checkRevoked(b, &Principal{FamilyID: p.FamilyID}, now); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// recheck revalidates a cached token when its state answers are older than
// StateTTL: generation, revocation, and that the key that signed it is
// still trusted (a key withdrawn from the store, say because it leaked,
// must not go on vouching for tokens from the cache).
//
// The state answer is remembered in the entry (see stateMemo), so that
// a token served from the cache again and again does not look its client
// up in the state cache on every request.
func (v *LocalVerifier) recheck(b *budget, e *cacheEntry, now time.Time) error {
	if !v.stateCurrent(e, now.UnixNano()) {
		version := v.state.version.Load()
		until, err := v.checkState(b, e.principal, now)
		if err != nil {
			return err
		}
		e.state.Store(&stateMemo{version: version, until: until})
	}
	if now.UnixNano()-e.checked.Load() < int64(v.cfg.StateTTL) {
		return nil
	}
	ks, err := v.cfg.Keys.KeySet(b.ctx)
	if err != nil {
		return unavailable("%w", err)
	}
	if _, ok := ks.Key(e.kid); !ok {
		return invalid("signing key %q was withdrawn", e.kid)
	}
	if err := v.checkRevoked(b, e.principal, now); err != nil {
		return err
	}
	e.checked.Store(now.UnixNano())
	return nil
}

// current reports whether everything recheck would check of e is known
// and still trusted at now, so that it has nothing to do.
func (v *LocalVerifier) current(e *cacheEntry, now time.Time) bool {
	n := now.UnixNano()
	return v.stateCurrent(e, n) && n-e.checked.Load() < int64(v.cfg.StateTTL)
}

// stateCurrent reports whether e's memo of the state check still holds.
func (v *LocalVerifier) stateCurrent(e *cacheEntry, now int64) bool {
	m := e.state.Load()
	return m != nil && m.version == v.state.version.Load() && now < m.until
}

// checkRevoked asks the store whether the token's id, or its refresh
// family (recorded under token.FamilyRevocationID), is revoked: a second
// lookup, only for tokens minted with a family.
func (v *LocalVerifier) checkRevoked(b *budget, p *Principal, now time.Time) error {
	if p.TokenID != "" {
		revoked, err := v.cfg.Store.IsRevoked(b.store(), p.TokenID, now)
		if err != nil {
			return unavailable("revocation check: %w", b.why(err))
		}
		if revoked {
			return invalid("revoked")
		}
	}
	if p.FamilyID != "" {
		revoked, err := v.cfg.Store.IsRevoked(b.store(), token.FamilyRevocationID(p.FamilyID), now)
		if err != nil {
			return unavailable("revocation check: %w", b.why(err))
		}
		if revoked {
			return invalid("refresh family revoked")
		}
	}
	return nil
}

// checkState checks the client or account behind the token, through a
// cache trusted for StateTTL, and returns until when, in unix nanoseconds,
// that answer may be trusted: StateTTL after the oldest state it read.
func (v *LocalVerifier) checkState(b *budget, p *Principal, now time.Time) (until int64, err error) {
	fetched, err := v.fetchAndCompare(b, p, now, true)
	if err != nil {
		return 0, err
	}
	return fetched + int64(v.cfg.StateTTL), nil
}

// fetchAndCompare applies the generation rule: a token that names a client
// carries its client's generation, and when it also names an account (the
// client's owner), that account must exist and not be disabled, whatever
// its generation (a password change does not kill the account's client
// keys); a token that names only an account carries the account's
// generation.
//
// fetched is when the oldest of the states it compared was read from the
// store, in unix nanoseconds.
func (v *LocalVerifier) fetchAndCompare(b *budget, p *Principal, now time.Time, cached bool) (fetched int64, err error) {
	switch {
	case p.ClientID != "":
		if fetched, err = v.compare(b, subjectClient, p.ClientID, p.Generation, true, now, cached); err != nil {
			return 0, err
		}
		if p.AccountID != "" {
			account, err := v.compare(b, subjectAccount, p.AccountID, 0, false, now, cached)
			return min(fetched, account), err
		}
		return fetched, nil
	case p.AccountID != "":
		return v.compare(b, subjectAccount, p.AccountID, p.Generation, true, now, cached)
	}
	return 0, invalid("token names no client or account")
}

// compare checks that the client or account id exists and is not
// disabled, and when withGen is set that its generation is gen. fetched
// is when the state it compared was read from the store.
func (v *LocalVerifier) compare(b *budget, kind subjectKind, id string, gen int64, withGen bool, now time.Time, cached bool) (fetched int64, err error) {
	key := stateKey{kind, id}
	if cached {
		// A token of a later generation than the cached one proves the cache
		// stale (generations only grow; the token's is signed): ask the
		// store rather than refuse a client that just rotated elsewhere.
		if s, ok := v.state.get(key); ok && now.UnixNano()-s.fetched < int64(v.cfg.StateTTL) && (s.gone || !withGen || gen <= s.generation) {
			return s.fetched, s.accepts(gen, withGen)
		}
	}
	// Before the store read: a change forgotten after it must keep this
	// answer out of the cache (see stateCache).
	epoch := v.state.epoch()
	var s subjectState
	switch kind {
	case subjectClient:
		var c *store.Client
		if c, err = v.cfg.Store.GetClient(b.store(), id); err == nil {
			s = subjectState{generation: c.Generation, disabled: c.Disabled}
		}
	case subjectAccount:
		var a *store.Account
		if a, err = v.cfg.Store.GetAccount(b.store(), id); err == nil {
			s = subjectState{generation: a.Generation, disabled: a.Disabled}
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		s = subjectState{gone: true}
	} else if err != nil {
		return 0, unavailable("%w", b.why(err))
	}
	s.fetched = now.UnixNano()
	v.state.put(key, s, epoch)
	return s.fetched, s.accepts(gen, withGen)
}

// Forget drops everything cached about a store event's subject, so that the
// next use of an affected token asks the store. Watch calls it; a caller
// that learns of changes another way can too. A Verify in flight that read
// the store before the change does not cache what it read. An
// [store.EventResync] (events may have been lost) drops everything cached.
func (v *LocalVerifier) Forget(ev store.Event) {
	switch ev.Kind {
	case store.EventClientChanged:
		v.state.forget(stateKey{subjectClient, ev.ID})
	case store.EventAccountChanged:
		v.state.forget(stateKey{subjectAccount, ev.ID})
	case store.EventRevoked:
		if v.tokens != nil {
			v.tokens.forget(ev.ID)
		}
	case store.EventResync:
		// Events were lost: any cached answer may be stale.
		v.state.flush()
		if v.tokens != nil {
			v.tokens.flush()
		}
	}
}

// Watch subscribes to the store's change events when it implements
// store.Watcher, so that revocation and rotation reach this verifier at
// once instead of within StateTTL. It returns false when the store cannot
// push events. The subscription lasts until ctx is done.
func (v *LocalVerifier) Watch(ctx context.Context) (bool, error) {
	w, ok := unbound(v.cfg.Store).(store.Watcher)
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

func (*LocalVerifier) onlyB64Tokens() {}
