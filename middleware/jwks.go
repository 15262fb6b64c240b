package middleware

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"

	"github.com/portcullis/portcullis/internal/token"
)

// JWKSConfig configures a [JWKSVerifier]. Issuer is required; the zero value
// of every other field is a safe default.
type JWKSConfig struct {
	// Issuer is the exact iss that tokens must carry, e.g.
	// "https://auth.example.com". Required.
	Issuer string
	// JWKSURL is where the issuer publishes its keys. Default Issuer +
	// "/.well-known/jwks.json", where the Portcullis issuer serves them.
	// It must be http or https; use https anywhere but localhost, since
	// whoever can change these keys can mint tokens.
	JWKSURL string
	// Audiences that are accepted: a token must name at least one.
	// Default: the Issuer.
	Audiences []string
	// HTTPClient fetches the key set. Default: a client with a 10s
	// timeout. Its Timeout (10s when zero) bounds every fetch, including
	// the one a request waits for. The client is copied, not modified. A
	// redirect to another origin (scheme, host and port) is never
	// followed, whatever its CheckRedirect says: the keys would come from
	// someone else. Redirects within the origin are followed as
	// CheckRedirect (by default, up to 10) allows.
	HTTPClient *http.Client
	// MaxResponseBytes bounds the key set document; a larger one is refused
	// and the keys held so far are kept. Default 1 MiB.
	MaxResponseBytes int64
	// RefreshInterval is how often the key set is fetched in the
	// background, so that new keys are known before tokens use them and
	// withdrawn keys are dropped. Default 5m: keep it below the issuer's
	// token.KeyManagerConfig.PublishAhead (10m by default).
	RefreshInterval time.Duration
	// MinRefreshInterval limits the fetches that requests cause: a token
	// whose kid is not in the set, or any token while no key set has been
	// fetched yet (the issuer was down at start-up), fetches the set at
	// most once per MinRefreshInterval, so that a flood of forged kids
	// cannot flood the issuer. Default 10s.
	MinRefreshInterval time.Duration
	// Leeway for exp, nbf and iat, for clock skew between machines.
	// Default 10s; negative means none.
	Leeway time.Duration
	// CacheSize bounds how many verified tokens are remembered (keyed by the
	// exact token, until it expires) so that a token seen before skips the
	// signature check. Default 10000; negative disables the cache.
	CacheSize int
	// MaxTokenLength rejects longer tokens before any parsing. Default 8 KiB.
	MaxTokenLength int
	// Kinds are the token kinds the issuer defines, which guards over this
	// verifier may ask for (see [Config.Kinds]). Default KindClient and
	// KindAccount.
	Kinds []string
	// Follow, when set, makes the verifier follow the issuer's change feed,
	// so that rotations and revocations reach it within
	// Follow.PollInterval (see [FollowConfig]); nil, they do not reach it
	// at all (see "What it cannot check" on [JWKSVerifier]).
	Follow *FollowConfig
	// Logger receives failed fetches (error level) and keys ignored for
	// want of a pinned algorithm (warn level). Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// JWKSVerifier verifies the issuer's JWT access tokens in a process that
// shares nothing with the issuer but its public keys, fetched from its JWKS
// endpoint through keyfunc and its key store, jwkset: a background refresh
// every RefreshInterval, a refresh on an unknown kid rate limited to one per
// MinRefreshInterval, over an HTTP client with a timeout, a response size
// bound and no redirect to another origin. It is safe for concurrent use.
//
// # What it checks
//
// Everything a [LocalVerifier] checks without a store, with the same
// code: the signature with the algorithm the key is pinned to, typ at+jwt,
// iss, aud, exp (required), nbf and iat with leeway, and that kind, sub and
// jti are present, with the same strict reading of the token (see
// [LocalVerifier]). The policy (kinds, scopes) is the [Guard]'s.
//
// Only asymmetric keys are used, each pinned to its own alg: a JWK without
// alg, with an alg that does not fit its kty and crv (or that Portcullis
// does not verify: ES256, EdDSA and RS256 of at least 2048 bits are
// accepted), a symmetric ("oct") key, or one whose use is not "sig" is
// ignored, and the token's alg, jku, x5u and jwk headers are never trusted.
// A token without a kid, or with a kid the set does not hold, is refused.
//
// # What it cannot check
//
// A remote verifier sees no store. Unless it follows the issuer's change
// feed (JWKSConfig.Follow), revocation and credential rotation do not
// reach it: a revoked token, or one issued before its client rotated its
// secret, passes until it expires (1h by default). Following the feed, they
// reach it within Follow.PollInterval (2s by default), and it fails closed
// while it cannot read the feed for long (see [FollowConfig]). Otherwise,
// where that matters, verify with a [LocalVerifier] over the issuer's
// store, or ask the issuer with [NewIntrospectionVerifier].
//
// # Failure
//
// It fails closed. While no key set has ever been fetched (the issuer was
// down at start-up), every Verify is [ErrUnavailable] (503 through a
// Guard) and retries the fetch at most once per MinRefreshInterval, so it
// recovers by itself once the issuer answers. Once keys are known, a failed
// refresh keeps them: tokens signed by known keys go on passing while the
// issuer is down, and a token with an unknown kid, which cannot be looked
// up, is ErrUnavailable rather than ErrInvalidToken when its refresh fails.
// A document that jwkset cannot parse (a malformed key in it) counts as a
// failed fetch.
type JWKSVerifier struct {
	// follow is the change feed follower; nil unless JWKSConfig.Follow.
	follow *follower
	stop   context.CancelFunc
	kinds  []string
	jwt    *jwtCheck
	keys   *remoteKeys
	cache  *tokenCache
	now    func() time.Time
	leeway time.Duration
	maxLen int
}

// NewJWKSVerifier checks cfg, fetches the key set once (and, with
// cfg.Follow, reads the change feed once) and returns a verifier. An issuer
// that cannot be reached is not an error (see [JWKSVerifier]): the fetch is
// retried on demand and in the background. ctx bounds the background
// refresh and polling: cancel it, or call [JWKSVerifier.Close], when the
// verifier is no longer used. It is not a start-up timeout; the first fetch
// is bounded by the HTTP client's timeout.
func NewJWKSVerifier(ctx context.Context, cfg JWKSConfig) (*JWKSVerifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("middleware: JWKSConfig.Issuer is required")
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if u, err := url.Parse(cfg.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("middleware: JWKSConfig.JWKSURL %q must be an absolute http or https URL", cfg.JWKSURL)
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{cfg.Issuer}
	}
	cfg.Audiences = slices.Clone(cfg.Audiences)
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 10 * time.Second
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 10 * time.Second
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.MaxTokenLength <= 0 {
		cfg.MaxTokenLength = 8 << 10
	}
	var err error
	if cfg.Kinds, err = kindsOrDefault("JWKSConfig", cfg.Kinds); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client, timeout := limitedClient(cfg.HTTPClient, cfg.MaxResponseBytes)
	client.CheckRedirect = sameOrigin(client.CheckRedirect)

	v := &JWKSVerifier{kinds: cfg.Kinds, now: cfg.Now, leeway: cfg.Leeway, maxLen: cfg.MaxTokenLength}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	if cfg.Follow != nil {
		if v.follow, err = newFollower(*cfg.Follow, cfg.Issuer, cfg.HTTPClient, cfg.Logger, cfg.Now, cfg.Leeway, v.cache); err != nil {
			return nil, err
		}
	}
	ctx, v.stop = context.WithCancel(ctx)
	k := &remoteKeys{
		MemoryJWKSet: jwkset.NewMemoryStorage(),
		url:          cfg.JWKSURL,
		log:          cfg.Logger,
		limiter:      rate.NewLimiter(rate.Every(cfg.MinRefreshInterval), 1),
		probe:        "portcullis-refresh-" + randomHex(16),
		dropped: func() {
			if v.cache != nil {
				v.cache.flush()
			}
		},
	}
	v.keys = k
	// The signature and claim checks are the LocalVerifier's own, over the
	// fetched keys instead of the issuer's key manager.
	v.jwt = newJWTCheck(cfg.Issuer, cfg.Audiences, cfg.Leeway, cfg.Now, k)
	onError := func(ctx context.Context, err error) {
		k.lastErr.Store(&err)
		cfg.Logger.ErrorContext(ctx, "portcullis: cannot fetch the issuer's JWKS; keeping the keys known so far",
			slog.String("url", cfg.JWKSURL), slog.Any("err", err))
	}
	// The first fetch happens here; when it fails, jwkset still returns the
	// storage (NoErrorReturnFirstHTTPReq) and we fetch again on demand.
	remote, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onError,
		RefreshInterval:           cfg.RefreshInterval,
		Storage:                   k,
	})
	if err != nil {
		return nil, fmt.Errorf("middleware: JWKS storage: %w", err)
	}
	// The HTTP client resolves an unknown kid by fetching the set again,
	// through the rate limiter; remoteKeys.Refresh makes sure no request
	// ever waits on the limiter, and RateLimitWaitMax, which also bounds
	// that fetch, is the HTTP timeout. This is the storage
	// keyfunc.NewDefaultOverrideCtx builds, with remoteKeys under it.
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{cfg.JWKSURL: remote},
		RateLimitWaitMax:  timeout,
		RefreshUnknownKID: k.limiter,
	})
	if err != nil {
		return nil, fmt.Errorf("middleware: JWKS client: %w", err)
	}
	if k.keyfunc, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage, UseWhitelist: []jwkset.USE{jwkset.UseSig}}); err != nil {
		return nil, fmt.Errorf("middleware: keyfunc: %w", err)
	}
	if v.follow != nil {
		// The first poll before any token is accepted (it fails closed
		// until one reaches the end of the log), bounded by the client's
		// timeout.
		v.follow.poll(ctx)
		go v.follow.run(ctx)
	}
	return v, nil
}

// Close stops the background key refresh and the change feed polling, and
// waits for the polling to end. The verifier refuses every token after it
// (ErrUnavailable) when it follows the feed.
func (v *JWKSVerifier) Close() {
	v.stop()
	if v.follow != nil {
		<-v.follow.done
	}
}

// Kinds returns the token kinds the issuer defines (JWKSConfig.Kinds).
func (v *JWKSVerifier) Kinds() []string { return slices.Clone(v.kinds) }

// Verify checks raw against the issuer's published keys. Errors wrap
// ErrInvalidToken or ErrUnavailable.
func (v *JWKSVerifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	p, _, err := v.verifyCached(ctx, raw)
	return p, err
}

// verifyCached is Verify that also reports whether the token cache
// answered (see cacheReporter).
func (v *JWKSVerifier) verifyCached(ctx context.Context, raw string) (*Principal, bool, error) {
	if raw == "" || len(raw) > v.maxLen {
		return nil, false, invalid("empty or too long")
	}
	if v.cache == nil {
		p, _, err := v.jwt.verify(ctx, raw)
		if err == nil {
			err = v.followed(p)
		}
		if err != nil {
			return nil, false, err
		}
		return p, false, nil
	}
	if e := v.cache.get(raw, v.now()); e != nil {
		if err := v.followed(e.principal); err != nil {
			return nil, false, err
		}
		return e.principal, true, nil
	}
	// Before the keys are read: a fetch that withdraws a key while this
	// token is checked, perhaps with that key, flushes the cache and must
	// keep this token out of it (see tokenCache).
	epoch := v.cache.epoch()
	p, kid, err := v.jwt.verify(ctx, raw)
	if err != nil {
		return nil, false, err
	}
	// The feed is asked on every use, cached or not: what it learns after
	// this token was cached applies at once.
	if err := v.followed(p); err != nil {
		return nil, false, err
	}
	v.cache.put(raw, &cacheEntry{principal: p, kid: kid, expires: p.ExpiresAt.Add(v.leeway)}, epoch)
	return p, false, nil
}

// followed checks p against the change feed, when the verifier follows it.
func (v *JWKSVerifier) followed(p *Principal) error {
	if v.follow == nil {
		return nil
	}
	return v.follow.check(p, v.now())
}

// remoteKeys is the jwkset storage the HTTP fetches write into, under
// keyfunc's, and the KeySource the verifier reads: every fetched set is
// turned at once into a token.KeySet of the keys that can be pinned, whose
// Keyfunc is the thin, pinning Keyfunc over the storage. So a request only
// loads a pointer, and a fetch that withdraws a key is seen as it happens
// (the token cache is flushed).
//
// keyfunc's own Keyfunc is not the one the parser calls: it accepts a JWK
// without alg for any alg its key type allows, returns oct keys, and tries
// every key when a token has no kid; the pinned set refuses each of these
// (see pinKeys and token.KeySet.Keyfunc). keyfunc's storage does the
// fetching: in the background, and for an unknown kid through Refresh.
type remoteKeys struct {
	*jwkset.MemoryJWKSet
	set     atomic.Pointer[token.KeySet] // nil until a fetch succeeds
	fetches atomic.Int64                 // successful fetches
	lastErr atomic.Pointer[error]
	keyfunc keyfunc.Keyfunc
	limiter *rate.Limiter
	mu      sync.Mutex // one on-demand fetch at a time
	probe   string     // a kid no key set holds: reading it makes the client fetch
	url     string
	log     *slog.Logger
	dropped func() // a key was withdrawn
}

// KeyReplaceAll is called by every successful fetch.
func (k *remoteKeys) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	if err := k.MemoryJWKSet.KeyReplaceAll(ctx, given); err != nil {
		return err
	}
	set, err := pinKeys(given, func(kid, why string) {
		k.log.WarnContext(ctx, "portcullis: ignoring a key of the issuer's JWKS",
			slog.String("url", k.url), slog.String("kid", kid), slog.String("why", why))
	})
	if err != nil {
		return err
	}
	old := k.set.Swap(set)
	k.fetches.Add(1)
	if old != nil {
		for _, key := range old.Keys() {
			if now, ok := set.Key(key.ID); !ok || !samePublicKey(key, now) {
				// Tokens it signed must not pass from the cache.
				k.dropped()
				break
			}
		}
	}
	return nil
}

// samePublicKey reports whether a and b are one key pinned to one alg: a
// kid that comes back with other material is a withdrawn key.
func samePublicKey(a, b *token.Key) bool {
	pa, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && a.Algorithm == b.Algorithm && pa.Equal(b.Public())
}

// KeySet returns the keys; when none were ever fetched it tries once more
// (rate limited) and reports the verifier unavailable if that fails too.
func (k *remoteKeys) KeySet(ctx context.Context) (*token.KeySet, error) {
	if s := k.set.Load(); s != nil {
		return s, nil
	}
	return k.Refresh(ctx)
}

// Refresh fetches the set for a token whose kid is unknown, at most once
// per MinRefreshInterval and by one request at a time; the others get the
// set as it is, without waiting.
func (k *remoteKeys) Refresh(ctx context.Context) (*token.KeySet, error) {
	cur := k.set.Load()
	if k.limiter.Tokens() < 1 || !k.mu.TryLock() {
		return k.current(cur)
	}
	defer k.mu.Unlock()
	before := k.fetches.Load()
	// Reading a kid no set holds makes the client wait for the limiter
	// (which has a token, so it does not wait) and fetch the set.
	if _, err := k.keyfunc.Storage().KeyRead(ctx, k.probe); err != nil && !errors.Is(err, jwkset.ErrKeyNotFound) {
		return nil, fmt.Errorf("fetching %s: %w", k.url, err)
	}
	if k.fetches.Load() == before {
		err := errors.New("fetch failed")
		if e := k.lastErr.Load(); e != nil {
			err = *e
		}
		return nil, fmt.Errorf("fetching %s: %w", k.url, err)
	}
	return k.set.Load(), nil
}

func (k *remoteKeys) current(cur *token.KeySet) (*token.KeySet, error) {
	if cur == nil {
		return nil, fmt.Errorf("no key set fetched from %s yet", k.url)
	}
	return cur, nil
}

// pinKeys keeps the keys that name their alg, where that alg is one
// Portcullis verifies and fits the key, and that are public-key signature
// keys; ignore is told about each other one.
func pinKeys(jwks []jwkset.JWK, ignore func(kid, why string)) (*token.KeySet, error) {
	var keys []*token.Key
	seen := make(map[string]bool, len(jwks))
	for _, j := range jwks {
		m := j.Marshal()
		switch {
		case m.KID == "":
			ignore(m.KID, "no kid")
			continue
		case seen[m.KID]:
			ignore(m.KID, "duplicate kid")
			continue
		case m.ALG == "":
			ignore(m.KID, "no alg: the key is not pinned to an algorithm")
			continue
		case m.KTY == jwkset.KtyOct:
			ignore(m.KID, "symmetric key")
			continue
		case m.USE != "" && m.USE != jwkset.UseSig:
			ignore(m.KID, "use is not sig")
			continue
		}
		pub := j.Key()
		// A private key published by mistake still verifies with its
		// public half; it is never used to sign.
		if p, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
			pub = p.Public()
		}
		if _, ok := pub.([]byte); ok {
			ignore(m.KID, "symmetric key")
			continue
		}
		key, err := token.NewPublicKey(m.KID, string(m.ALG), pub)
		if err != nil {
			ignore(m.KID, err.Error())
			continue
		}
		seen[m.KID] = true
		keys = append(keys, key)
	}
	return token.NewKeySet(keys, "")
}

// sameOrigin returns a CheckRedirect that refuses a redirect to another
// origin (scheme, host and port), where the keys would come from someone
// else, and leaves one within the origin to next (nil: Go's default, at
// most 10 redirects).
func sameOrigin(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if from := via[0].URL; !strings.EqualFold(req.URL.Scheme, from.Scheme) || !strings.EqualFold(req.URL.Host, from.Host) {
			return fmt.Errorf("refusing a redirect from %s to another origin, %s://%s", from.Redacted(), req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// limitedClient copies c (or makes a client with a 10s timeout) so that
// every response body is cut off after max bytes with an error, and
// returns it with the timeout that bounds each request.
func limitedClient(c *http.Client, max int64) (*http.Client, time.Duration) {
	cc := http.Client{Timeout: 10 * time.Second}
	if c != nil {
		cc = *c
	}
	if cc.Timeout <= 0 {
		cc.Timeout = 10 * time.Second
	}
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = limitedTransport{base: base, max: max}
	return &cc, cc.Timeout
}

// limitedTransport bounds response bodies, so that a server (or anyone in
// the middle) cannot make the verifier read without end.
type limitedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("response of %d bytes exceeds the limit of %d", resp.ContentLength, t.max)
	}
	// MaxBytesReader fails the read that goes past max, where a LimitReader
	// would silently truncate. It is meant for request bodies, but asks
	// nothing of its (nil) ResponseWriter.
	resp.Body = http.MaxBytesReader(nil, resp.Body, t.max)
	return resp, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (*JWKSVerifier) onlyB64Tokens() {}
