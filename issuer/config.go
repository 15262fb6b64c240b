package issuer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// Signing algorithms for Config.Algorithm.
const (
	// ES256 is ECDSA P-256 with SHA-256: the default, understood by every
	// JOSE library. Signatures are deterministic (RFC 6979).
	ES256 = token.ES256
	// EdDSA is Ed25519: the fastest published algorithm to sign, for token
	// endpoint throughput.
	EdDSA = token.EdDSA
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys), for old
	// verifiers.
	RS256 = token.RS256
	// HS256 is HMAC-SHA-256: never published, so only this issuer's own
	// verifier can check such tokens.
	HS256 = token.HS256
)

// Config configures an [Issuer]. Issuer and Store are required; the zero
// value of every other field is a safe default.
type Config struct {
	// Issuer is the issuer identifier: an absolute http or https URL with no
	// query, fragment or trailing slash, e.g. "https://auth.example.com".
	// It is the iss of every token, the issuer of the RFC 8414 metadata,
	// and the base of the endpoint URLs published there. Use https in
	// production; http is meant for localhost development. When it has a
	// path, mount [Issuer.Handler] with [http.StripPrefix] of that path,
	// and [Issuer.WellKnownRoutes] on the host's root.
	Issuer string
	// Store keeps clients, tokens, revocations, signing keys and (when it
	// implements [store.RateLimiter]) rate limits. Required.
	Store store.Store
	// StoreTimeout bounds each call to Store (and to its rate limiter)
	// that the issuer, its Verifier or its key manager makes: the call's
	// context ends at the earlier of the request's deadline and now +
	// StoreTimeout. A call that runs out of time is answered 503
	// temporarily_unavailable with Retry-After and logged with the
	// operation's name, so that a stalled store never holds a request (nor
	// its connection) for longer. A write whose deadline passes may still
	// have been committed: the client sees a 503 and retries (see
	// Config.RotationRetryWindow for rotations). The bundled stores honour
	// it; a go-redis client cuts a read short only with
	// ContextTimeoutEnabled set, otherwise after its own ReadTimeout (3s
	// by default). A store that never waits (the memory store, which
	// says so with an InMemory method) is not bounded: a deadline costs a
	// timer per call. Default 5s; negative means no bound of its own.
	StoreTimeout time.Duration
	// RequestTimeout bounds the store calls of one request together:
	// every endpoint's handler (those of [Issuer.Routes]) puts it on the
	// request's context as it starts, so that each store call ends by the
	// earlier of its own StoreTimeout and what is left of the request's
	// time. A request makes several calls (a revocation: the rate-limit
	// count, the client, the token, its revocation, its family), and
	// StoreTimeout alone would let them add up to several times itself.
	// Running out is answered as a store deadline is: 503
	// temporarily_unavailable with Retry-After, logged with the operation
	// and the cause. A write cut short by it may still have committed, as
	// with StoreTimeout: the commit points are idempotent or retry-safe
	// (see Config.RotationRetryWindow, RefreshConfig.GracePeriod). To
	// answer within a client's timeout T while the store stalls, choose a
	// RequestTimeout a little below T (the CPU work and the network come
	// on top) and a StoreTimeout at most RequestTimeout. The server's
	// WriteTimeout should be longer. Default 2 × StoreTimeout (10s with
	// its default: one stalled call may take all of its StoreTimeout and
	// leave as long again for the rest), or 10s when StoreTimeout is
	// negative; negative means none (each call is then bounded by
	// StoreTimeout alone). The issuer's [Issuer.Verifier] gets the same
	// bound for each verification (middleware.LocalConfig.VerifyTimeout).
	// The Go methods ([Issuer.CreateClient], …) are bounded by their
	// caller's context, not by this. Like StoreTimeout, it is not applied
	// over a store that never waits (store/memory).
	RequestTimeout time.Duration

	// Algorithm of the signing keys: ES256 (default), EdDSA, RS256 or
	// HS256. HS256 keys are never published, so only
	// this issuer's own [Issuer.Verifier] can check such tokens.
	//
	// Which to pick: ES256 for interoperability (every JOSE library and
	// API gateway verifies it; signatures are deterministic, RFC 6979).
	// HS256 for throughput, when only this issuer's own verifiers check
	// the tokens: its token endpoint costs about half ES256's CPU per
	// request (bench/README.md). EdDSA for a little more throughput than
	// ES256 with published keys (about 1.1 times), and faster first-sight
	// verification, when every verifier supports Ed25519 JWKs (RFC 8037).
	// RS256 only for verifiers that know nothing else: a 2048-bit RSA
	// signature costs tens of times an ES256 one. Changing
	// it on a store that has keys rotates as KeyRotation does: the new key
	// is published 10 minutes before it signs and the old one stays
	// published until its tokens have expired.
	Algorithm string
	// KeyRotation rotates the signing key after it has signed for this
	// long; the new key is published 10 minutes before it signs and the old
	// one stays published until its tokens have expired. At least 1h.
	// Default 0: keys are never rotated automatically (see
	// [Issuer.RotateSigningKey]).
	KeyRotation time.Duration
	// KeyEncryption seals the signing keys in the store (AES-256-GCM under
	// its Current KEK), so that reading the store is not enough to forge
	// tokens. Every replica needs the same KEKs. Default none: keys are
	// stored in the clear, and a store that holds sealed keys makes [New]
	// fail with [ErrKeyEncryption]; so does a key sealed with a KEK that is
	// not configured, or that does not authenticate. Keys stored in the
	// clear before a KEK was set are read, and rotated out as KeyRotation
	// does; so are keys sealed with an Older KEK. To rotate the KEK, add
	// the new one to Older on every replica, then make it Current.
	KeyEncryption KeyEncryption
	// AccessTokenTTL is the lifetime of client tokens: a shorthand for the
	// TTL of the client kind in Kinds (set either, or both alike). Default
	// 1h.
	AccessTokenTTL time.Duration
	// Format of client tokens: a shorthand for the Format of the client
	// kind in Kinds. Default FormatJWT.
	Format Format
	// Kinds configures the token kinds (see [Kind]): "client" (tokens from
	// the token endpoint; default 1h JWT) and "account" (from the login
	// endpoint; default 12h JWT) always exist, and an entry with their name
	// overrides their defaults field by field; other names add kinds for
	// your own grants. Default: the two built-in kinds.
	Kinds []Kind
	// Hooks are called as the issuer works, for metrics and audit logs.
	// Default: none.
	Hooks Hooks
	// Audience lists the audiences the server knows. A token names its
	// client's Audiences, or all of these when the client has none, and
	// [Issuer.Verifier] accepts any of them. Clients may only be given
	// audiences from this list. Default: [Issuer].
	Audience []string
	// Scopes lists the scopes the server knows. A client may be granted its
	// own Scopes, or all of these when it has none; when Scopes is set, a
	// client's scopes must come from it. With both empty a client is
	// granted no scope at all and any requested scope is invalid_scope:
	// an unconfigured server never mints a scope a guard might honour.
	// Default: none.
	Scopes []string
	// Pepper, when set, makes every stored secret and token hash an
	// HMAC-SHA-256 with this key (see [token.NewHasher]), so that a stolen
	// database alone does not let anyone test guesses. Keep it out of the
	// database; changing it invalidates every stored secret. Default: none
	// (plain SHA-256).
	Pepper []byte

	// Dialect is the token endpoint's wire format. Default [OAuth2]{}.
	Dialect Dialect
	// Paths are the request paths of the endpoints. Zero fields take the
	// defaults listed on [Paths].
	Paths Paths
	// MaxBodyBytes bounds every request body; a larger one is answered
	// 400 invalid_request without being read further. Default 64 KiB.
	MaxBodyBytes int64

	// RotationRetryWindow is how long a self-rotation at Paths.Credentials
	// made with an Idempotency-Key header can be replayed: the same
	// request (the same bearer token and key) gets the same new secret
	// again instead of invalid_token, so that a client whose answer was
	// lost is not locked out. The record is kept in the client's Metadata
	// (key "portcullis.rotation", written in the same compare-and-swap as
	// the rotation, so every replica sees it), the secret sealed with
	// AES-256-GCM under a key derived from the token and the
	// Idempotency-Key, neither of which is stored: reading the store is
	// not enough to recover it, with or without KeyEncryption. Default 5m;
	// negative ignores Idempotency-Key (every request rotates, as without
	// one).
	RotationRetryWindow time.Duration

	// MinSecretLength is the fewest characters a secret must have that a
	// client chooses itself at Paths.OwnCredentials. Default 32; an empty
	// secret is always refused.
	MinSecretLength int

	// RateLimit limits failed client authentications.
	RateLimit RateLimit
	// ClientIP returns the address a request is rate limited by. Default:
	// the host part of r.RemoteAddr. Behind a reverse proxy every request
	// would share the proxy's address: supply a function that reads the
	// address your proxy sets (and only from a proxy you trust, since
	// clients can forge such headers).
	ClientIP func(r *http.Request) string

	// Refresh configures refresh tokens, which are off by default.
	Refresh RefreshConfig

	// PrivateKeyJWT configures client authentication with signed
	// assertions instead of secrets (RFC 7523), off by default.
	PrivateKeyJWT PrivateKeyJWTConfig
	// DPoP configures sender-constrained access tokens (RFC 9449), off by
	// default.
	DPoP DPoPConfig

	// Passwords configures account passwords: the minimum length of new
	// ones (default 12 characters) and the argon2id parameters of their
	// hashes (default RFC 9106's second recommended option, 64 MiB).
	Passwords PasswordConfig

	// Leeway for exp, nbf and iat when verifying, for clock skew. Default
	// 10s; negative means none.
	Leeway time.Duration
	// StateTTL bounds how long the verifier trusts a cached answer about a
	// client's generation or a token's revocation; rotation and revocation
	// made through this Issuer reach its own Verifier at once, those made
	// by other replicas within StateTTL. Default 5s.
	StateTTL time.Duration
	// ClientCacheTTL bounds how long client authentication trusts a
	// client record (secret hash, generation, scopes, enabled) and its
	// owner account's being active, as read from the store, so that a
	// client asking for tokens again and again costs no store read for
	// them. A change made through this Issuer reaches it at once, one
	// made by another replica within ClientCacheTTL, or at once while
	// [Issuer.Watch] runs. Within that time another replica may still
	// accept a secret rotated away, as its verifier may still accept the
	// old tokens; a new secret, or a client enabled again, is accepted at
	// once, since the cache only ever accepts and a refusal is always
	// checked against the store. Default 0: StateTTL (5s when that is
	// unset too); negative turns the cache off (every authentication
	// reads the store).
	ClientCacheTTL time.Duration

	// SweepInterval is how often expired tokens, revocations and keys are
	// deleted from a store that implements [store.Sweeper]: the token
	// endpoint starts a sweep in the background when one is due. Default
	// 10m; negative disables (call [Issuer.Sweep] yourself).
	SweepInterval time.Duration

	// Logger receives store failures (with their cause) and other events
	// worth an operator's attention; never secrets. Default slog.Default(),
	// so that a 503 is never silent.
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Paths are the request paths the issuer's handlers answer on, relative to
// the Issuer URL. The zero value of each field is its default; "-" turns
// that endpoint off.
type Paths struct {
	Token         string // default "/oauth/token"
	Revocation    string // default "/oauth/revoke"
	Introspection string // default "/oauth/introspect"
	JWKS          string // default "/.well-known/jwks.json"
	// Credentials: POST rotates the calling client's secret (see
	// [Config.RotationRetryWindow]). Default "-": off, since whoever holds
	// one of a client's access tokens (a resource server it calls, say)
	// could lock it out; set it (to [DefaultCredentialsPath], say) to
	// offer self-rotation. Off, the path answers 404 like any other.
	Credentials string
	Metadata    string // default "/.well-known/oauth-authorization-server"
	Login       string // default "/account/login"
	AccountKeys string // default "/account/keys"
	// OwnCredentials: PUT replaces the calling client's id and secret with
	// ones it chose, DELETE deletes them (see the OffBlocks dialect).
	// Default "-": off, since it lets a token holder choose the secret.
	OwnCredentials string
	// OpenAPI serves the OpenAPI 3.1 description of the enabled endpoints
	// (see [Issuer.OpenAPI]), e.g. "/openapi.json". Default "-": off, so
	// that it takes no path an application may already serve.
	OpenAPI string
	// Changes serves the change feed that resource servers verifying
	// through the JWKS poll to learn of rotations and revocations (see
	// [Issuer.ServeChanges]). Default "/oauth/changes"; served only when
	// Config.Store implements [store.ChangeLog], off otherwise.
	Changes string
}

// RateLimit limits failed client authentications per client id and per
// address, in fixed windows. Counters are kept in the store when it
// implements [store.RateLimiter] (shared by replicas), in memory otherwise.
// Before each authentication both counters are checked, and failures are
// counted after it. Over a store that is not in this process, each
// replica remembers the counts it last read or wrote for CountCacheTTL:
// while they are under their limits and no one fails, an authentication
// needs no store round trip for its rate limit; the counters it does not
// know are read in one call (one round trip when the store also implements
// [store.RateCounter], as the stores here do).
//
// While a client id is over its limit, every attempt for it is refused,
// even with the right secret: that stops guessing, at the price that anyone
// who knows an id can lock it out for a window. Set PerClient negative to
// rely on the per-address limit alone.
type RateLimit struct {
	// PerClient is how many failed authentications one client id may have
	// per Window. Default 10; negative disables the limit.
	PerClient int
	// PerAddress is how many failed authentications one address (see
	// Config.ClientIP) may have per Window. Default 50; negative disables.
	PerAddress int
	// PerClientCalls is how many introspection and revocation requests
	// one authenticated client may make per Window, together; over it
	// they are answered 429 with Retry-After. It stops a client (or a
	// leaked secret) from probing tokens or loading the store at will.
	// Each such request then also writes a counter (in the store when it
	// implements [store.RateLimiter]). Default 600 (10 a second in the
	// default window); negative disables the limit.
	PerClientCalls int
	// Window is the length of the fixed windows. Default 1m.
	Window time.Duration
	// CountCacheTTL is how long a replica trusts a failure count it read
	// from, or wrote to, the store (one that is not in this process: the
	// memory store's counters are read directly), so that clients that
	// do not fail cost no store round trip for the rate limit. A count
	// at or over its limit refuses at once; one under it lets the
	// attempt go on without a read. Failures counted through this
	// replica are seen at once (each one stores the count the store
	// returns); failures counted by other replicas are seen within
	// CountCacheTTL. The price, precisely: once a counter has reached
	// its limit, each other replica may let one more attempt in before
	// its own failure reads the true count back, so with R replicas an
	// attacker gets at most limit + R − 1 failures per counter and
	// window instead of limit (concurrent attempts add to either figure
	// alike). A longer TTL saves no more round trips for a busy client
	// (one read per TTL per counter) but lets a lock-out made elsewhere
	// reach this replica later. Default 1s; negative reads the store
	// before every authentication.
	CountCacheTTL time.Duration
}

// RefreshConfig configures refresh tokens. RFC 6749 §4.4.3 says a refresh
// token SHOULD NOT be issued with client credentials; some APIs do it
// anyway (see the DataCrunch and Bloq seeds), so it is a deliberate switch.
type RefreshConfig struct {
	// Enabled makes client_credentials responses include a refresh token
	// and enables the refresh_token grant. Default false.
	Enabled bool
	// TTL is the lifetime of each refresh token, counted from its issue
	// (each refresh issues a new one). Default 365 days.
	TTL time.Duration
	// AllowPublic lets a refresh token be used without client
	// authentication (a client_id may still be sent, and must match), as the
	// DataCrunch seed does. Default false: RFC 6749 §6 requires a
	// confidential client to authenticate, which makes a stolen refresh
	// token useless without the secret.
	AllowPublic bool
	// GracePeriod lets a refresh token that was just rotated be presented
	// once more, within this long after its use, by the client it belongs
	// to, without revoking its family (as Hydra's rotation_grace_period):
	// for a client whose first response was lost. That second use rotates
	// the successor the first use made instead, so the answer is a fresh
	// access token and a fresh refresh token (the access token from the
	// lost response stays valid until it expires), and the successor from
	// the lost response is dead: presenting it later is reuse. Only once:
	// it works only while that successor is unused, and presenting the old
	// token again after that (or after the grace period, or after the
	// successor was used) is reuse, which revokes the family. So the
	// family never forks: it has one live refresh token at any time.
	// Must be shorter than TTL. Default 0: no grace, every second use is
	// reuse (RFC 9700 §4.14.2).
	GracePeriod time.Duration
	// MaxFamilyLifetime bounds a refresh token family as a whole: no
	// refresh token of it expires later than the family's first token was
	// issued plus this, whatever TTL says, and a refresh past it is
	// refused, so the client must run its original grant again. Families
	// begun before this was set count from the issue of their current
	// token. Default 0: no bound, each refresh token lives TTL.
	MaxFamilyLifetime time.Duration
}

const (
	defaultRefreshTTL    = 365 * 24 * time.Hour
	defaultMaxBodyBytes  = 64 << 10
	defaultPerClient     = 10
	defaultPerAddress    = 50
	defaultPerClientCall = 600
	defaultWindow        = time.Minute
	defaultSweepInterval = 10 * time.Minute
)

// withDefaults validates cfg and fills in its defaults, copying every slice
// so that the caller may reuse its own.
func (cfg Config) withDefaults() (Config, error) {
	if err := validIssuer(cfg.Issuer); err != nil {
		return cfg, err
	}
	if cfg.Store == nil {
		return cfg, errors.New("issuer: Config.Store is required")
	}
	switch cfg.Algorithm {
	case "":
		cfg.Algorithm = token.ES256
	case token.ES256, token.EdDSA, token.RS256, token.HS256:
	default:
		return cfg, fmt.Errorf("issuer: %w: Config.Algorithm %q: want %s (the default), %s, %s or %s",
			token.ErrUnsupportedAlgorithm, cfg.Algorithm, token.ES256, token.EdDSA, token.RS256, token.HS256)
	}
	if err := cfg.KeyEncryption.Check(); err != nil {
		return cfg, fmt.Errorf("issuer: %w", err)
	}
	cfg.KeyEncryption = cfg.KeyEncryption.Clone()
	if cfg.KeyRotation < 0 || (cfg.KeyRotation > 0 && cfg.KeyRotation < time.Hour) {
		// Shorter periods than the key manager's publish-ahead time would
		// rotate on every reload.
		return cfg, errors.New("issuer: Config.KeyRotation must be 0 or at least 1h")
	}
	if cfg.Refresh.GracePeriod < 0 || cfg.Refresh.MaxFamilyLifetime < 0 {
		return cfg, errors.New("issuer: Config.Refresh.GracePeriod and MaxFamilyLifetime must not be negative")
	}
	if cfg.Refresh.GracePeriod > 0 && cfg.Refresh.TTL > 0 && cfg.Refresh.GracePeriod >= cfg.Refresh.TTL {
		return cfg, errors.New("issuer: Config.Refresh.GracePeriod must be shorter than Refresh.TTL")
	}
	if cfg.AccessTokenTTL < 0 || cfg.Refresh.TTL < 0 {
		return cfg, errors.New("issuer: token lifetimes must not be negative")
	}
	if cfg.AccessTokenTTL != 0 && cfg.AccessTokenTTL < time.Second {
		return cfg, errors.New("issuer: Config.AccessTokenTTL must be at least 1s")
	}
	switch cfg.Format {
	case "", FormatJWT, FormatOpaque, FormatUUID:
	default:
		return cfg, fmt.Errorf("issuer: unknown Config.Format %q: want %s", cfg.Format, formatNames)
	}
	cfg.Kinds = slices.Clone(cfg.Kinds)
	if len(cfg.Audience) == 0 {
		cfg.Audience = []string{cfg.Issuer}
	}
	cfg.Audience = append([]string(nil), cfg.Audience...)
	for _, a := range cfg.Audience {
		if a == "" {
			return cfg, errors.New("issuer: Config.Audience has an empty entry")
		}
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	for _, s := range cfg.Scopes {
		if !validScopeToken(s) {
			return cfg, fmt.Errorf("issuer: Config.Scopes: %q is not a valid scope (RFC 6749 §3.3)", s)
		}
	}
	cfg.Pepper = append([]byte(nil), cfg.Pepper...)
	if cfg.Dialect == nil {
		cfg.Dialect = OAuth2{}
	}
	if err := checkDialect(cfg.Dialect); err != nil {
		return cfg, err
	}
	if err := cfg.Paths.setDefaults(); err != nil {
		return cfg, err
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.MinSecretLength <= 0 {
		cfg.MinSecretLength = defaultMinSecretLength
	}
	if cfg.RateLimit.PerClient == 0 {
		cfg.RateLimit.PerClient = defaultPerClient
	}
	if cfg.RateLimit.PerAddress == 0 {
		cfg.RateLimit.PerAddress = defaultPerAddress
	}
	if cfg.RateLimit.PerClientCalls == 0 {
		cfg.RateLimit.PerClientCalls = defaultPerClientCall
	}
	if cfg.RateLimit.Window <= 0 {
		cfg.RateLimit.Window = defaultWindow
	}
	if cfg.RateLimit.CountCacheTTL == 0 {
		cfg.RateLimit.CountCacheTTL = defaultCountCacheTTL
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteHost
	}
	if cfg.Refresh.TTL == 0 {
		cfg.Refresh.TTL = defaultRefreshTTL
	}
	if err := cfg.PrivateKeyJWT.setDefaults(cfg.Store); err != nil {
		return cfg, err
	}
	if err := cfg.DPoP.setDefaults(cfg.Store, cfg.Pepper); err != nil {
		return cfg, err
	}
	if err := cfg.Passwords.setDefaults(); err != nil {
		return cfg, err
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = defaultSweepInterval
	}
	if cfg.RotationRetryWindow == 0 {
		cfg.RotationRetryWindow = defaultRotationRetryWindow
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = defaultStoreTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = defaultRequestTimeout
		if cfg.StoreTimeout > 0 {
			cfg.RequestTimeout = 2 * cfg.StoreTimeout
		}
	}
	if cfg.ClientCacheTTL == 0 {
		cfg.ClientCacheTTL = cfg.StateTTL
		if cfg.ClientCacheTTL <= 0 {
			cfg.ClientCacheTTL = defaultClientCacheTTL
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

func validIssuer(s string) error {
	if s == "" {
		return errors.New("issuer: Config.Issuer is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("issuer: Config.Issuer: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "/") || u.Opaque != "" {
		return fmt.Errorf("issuer: Config.Issuer %q must be an absolute http(s) URL without user info, query, fragment or trailing slash", s)
	}
	return nil
}

// remoteHost is the default ClientIP: the host of RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// one or more of %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
