package issuer

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// private_key_jwt client authentication (RFC 7523 §2.2, RFC 7521 §4.2, as
// OpenID Connect Core §9 profiles it): instead of a secret, the client signs
// a short-lived JWT with a private key whose public half it registered, and
// sends it as client_assertion. Nothing the server stores would let anyone
// authenticate as the client.

// AuthPrivateKeyJWT: a client_assertion signed by a key the client
// registered (RFC 7523 §2.2).
const AuthPrivateKeyJWT AuthMethod = "private_key_jwt"

// AssertionTypeJWTBearer is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Keys of store.Client.Metadata for clients that authenticate with
// private_key_jwt; set them through [ClientSpec.JWKS], [ClientSpec.JWKSURI]
// and [Issuer.SetClientKeys].
const (
	// MetaAuthMethod is the client's one authentication method
	// ("private_key_jwt"); absent means a client secret.
	MetaAuthMethod = "portcullis.token_endpoint_auth_method"
	// MetaJWKS holds the client's public keys as a JWK Set (RFC 7517 §5).
	MetaJWKS = "portcullis.jwks"
	// MetaJWKSURI is where the client publishes its JWK Set.
	MetaJWKSURI = "portcullis.jwks_uri"
)

// PrivateKeyJWTConfig configures private_key_jwt client authentication.
type PrivateKeyJWTConfig struct {
	// Enabled accepts client assertions at the token, revocation and
	// introspection endpoints, from clients registered with keys, and
	// lists private_key_jwt in the metadata. The store must implement
	// [store.Nonces], where every assertion's jti is remembered until it
	// expires, so that no replica accepts it twice. Default false.
	Enabled bool
	// MaxLifetime bounds how far in the future an assertion's exp may lie,
	// and so how long its jti is remembered. Default 5 minutes.
	MaxLifetime time.Duration
	// HTTPClient fetches the JWK Sets of clients registered with a
	// jwks_uri. Redirects are refused whatever its CheckRedirect says.
	// Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// MaxJWKSBytes bounds a fetched JWK Set. Default 64 KiB.
	MaxJWKSBytes int64
	// JWKSRefresh is how long a fetched JWK Set is used before it is
	// fetched again. An assertion naming a kid the set lacks fetches it
	// again at most once per MinJWKSRefresh. Defaults 5 minutes and 30 s.
	JWKSRefresh, MinJWKSRefresh time.Duration
}

const (
	defaultAssertionLifetime = 5 * time.Minute
	defaultMaxJWKSBytes      = 64 << 10
	defaultJWKSRefresh       = 5 * time.Minute
	defaultMinJWKSRefresh    = 30 * time.Second
	// maxAssertionLen bounds a client_assertion before anything parses it.
	maxAssertionLen = 8 << 10
	// maxClientKeys bounds the keys of one client's JWK Set.
	maxClientKeys = 16
	// maxJTILen bounds an assertion's jti, which the store keeps.
	maxJTILen = 256
	// maxRemoteKeySets bounds the fetched JWK Sets kept in memory.
	maxRemoteKeySets = 1024
)

func (c *PrivateKeyJWTConfig) setDefaults(s store.Store) error {
	if !c.Enabled {
		return nil
	}
	if _, ok := s.(store.Nonces); !ok {
		return errors.New("issuer: Config.PrivateKeyJWT needs a store that implements store.Nonces, to refuse replayed assertions")
	}
	if c.MaxLifetime < 0 || c.MaxJWKSBytes < 0 || c.JWKSRefresh < 0 || c.MinJWKSRefresh < 0 {
		return errors.New("issuer: Config.PrivateKeyJWT durations and sizes must not be negative")
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = defaultAssertionLifetime
	}
	if c.MaxJWKSBytes == 0 {
		c.MaxJWKSBytes = defaultMaxJWKSBytes
	}
	if c.JWKSRefresh == 0 {
		c.JWKSRefresh = defaultJWKSRefresh
	}
	if c.MinJWKSRefresh == 0 {
		c.MinJWKSRefresh = defaultMinJWKSRefresh
	}
	base := c.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	hc := *base
	// The keys must come from the address the client registered, not from
	// wherever that address points.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("redirect refused") }
	c.HTTPClient = &hc
	return nil
}

// assertionAlgorithms are the algorithms a client assertion may use: the
// public-key ones Portcullis verifies. HMAC would need a shared secret, and
// "none" proves nothing.
var assertionAlgorithms = []string{token.ES256, token.EdDSA, token.RS256}

var errBadAssertion = ErrInvalidClient.WithDescription("client assertion is invalid")

// clientKeys parses a client's JWK Set: public signature keys of the
// algorithms in assertionAlgorithms, each pinned to one algorithm (its alg,
// or the only one its type allows: ES256 for P-256, EdDSA for Ed25519,
// RS256 for RSA). A set with a symmetric key, a key of another type or
// curve, a duplicate kid, or no key at all is refused whole, so that a
// mistake shows at registration rather than as a failing client.
func clientKeys(raw []byte) ([]*token.Key, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > maxClientKeys {
		return nil, fmt.Errorf("a JWK Set of 1 to %d keys is needed, not %d", maxClientKeys, len(set.Keys))
	}
	var keys []*token.Key
	for n, m := range set.Keys {
		if m.KTY == jwkset.KtyOct {
			return nil, fmt.Errorf("key %d is symmetric: only public keys can verify assertions", n)
		}
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue // an encryption key, not ours to use
		}
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		pub := j.Key()
		if p, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
			pub = p.Public() // a private key sent by mistake verifies as its public half
		}
		alg := string(m.ALG)
		if alg == "" {
			alg = map[jwkset.KTY]string{jwkset.KtyEC: token.ES256, jwkset.KtyOKP: token.EdDSA, jwkset.KtyRSA: token.RS256}[m.KTY]
		}
		if !slices.Contains(assertionAlgorithms, alg) {
			return nil, fmt.Errorf("key %d: algorithm %q: want one of %v", n, alg, assertionAlgorithms)
		}
		k, err := token.NewPublicKey(m.KID, alg, pub)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		if slices.ContainsFunc(keys, func(o *token.Key) bool { return o.ID == k.ID }) {
			return nil, fmt.Errorf("key %d: kid %q is used twice", n, k.ID)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWK Set has no signature key")
	}
	return keys, nil
}

// checkJWKSURI accepts an absolute http or https URL without credentials or
// fragment.
func checkJWKSURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || len(s) > 2048 {
		return errors.New("jwks_uri must be an absolute http or https URL without credentials or fragment")
	}
	return nil
}

// remoteKeySets caches the JWK Sets fetched from clients' jwks_uri.
type remoteKeySets struct {
	cfg *PrivateKeyJWTConfig
	mu  sync.Mutex
	m   map[string]*remoteKeySet
}

type remoteKeySet struct {
	mu      sync.Mutex // one fetch at a time per URL
	keys    []*token.Key
	fetched time.Time
}

// get returns the keys published at uri, fetched again when they are older
// than JWKSRefresh, or when kid is not among them and they are older than
// MinJWKSRefresh (the client may have rotated its key).
func (r *remoteKeySets) get(ctx context.Context, uri, kid string, now time.Time) ([]*token.Key, error) {
	r.mu.Lock()
	e, ok := r.m[uri]
	if !ok {
		if len(r.m) >= maxRemoteKeySets {
			clear(r.m) // rare; every set is simply fetched again
		}
		e = &remoteKeySet{}
		r.m[uri] = e
	}
	r.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	age := now.Sub(e.fetched)
	known := kid == "" || slices.ContainsFunc(e.keys, func(k *token.Key) bool { return k.ID == kid })
	if e.keys != nil && age < r.cfg.JWKSRefresh && (known || age < r.cfg.MinJWKSRefresh) {
		return e.keys, nil
	}
	keys, err := r.fetch(ctx, uri)
	if err != nil {
		if e.keys != nil && age < r.cfg.JWKSRefresh {
			return e.keys, nil // keep the set we have while the client's server is down
		}
		return nil, err
	}
	e.keys, e.fetched = keys, now
	return keys, nil
}

func (r *remoteKeySets) fetch(ctx context.Context, uri string) ([]*token.Key, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks_uri: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	if int64(len(b)) > r.cfg.MaxJWKSBytes {
		return nil, fmt.Errorf("fetch jwks_uri: JWK Set larger than %d bytes", r.cfg.MaxJWKSBytes)
	}
	return clientKeys(b)
}

// assertionSubject returns the sub of an assertion without verifying it,
// to find the client whose keys verify it; a malformed one gives "".
func assertionSubject(assertion string) string {
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &c); err != nil {
		return ""
	}
	sub, _ := c["sub"].(string)
	return sub
}

// verifyAssertion checks a client assertion of client c (RFC 7523 §3): a
// JWT signed by one of c's keys with the algorithm that key is pinned to,
// iss and sub both c's id, aud naming the token endpoint or the issuer,
// exp present and at most MaxLifetime ahead, nbf and iat not in the
// future, no crit header, and a jti not seen before. It returns a
// description for the logs when the assertion is refused, or a store
// error.
func (i *Issuer) verifyAssertion(ctx context.Context, c *store.Client, assertion string, now time.Time) (refused string, err error) {
	if len(assertion) > maxAssertionLen {
		return "assertion too long", nil
	}
	keys, err := i.keysOf(ctx, c, assertion, now)
	if err != nil {
		return "client keys: " + err.Error(), nil
	}
	leeway := max(i.cfg.Leeway, 0)
	p := jwt.NewParser(
		jwt.WithValidMethods(assertionAlgorithms),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithJSONNumber(),
	)
	var claims jwt.MapClaims
	t, err := p.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		var k *token.Key
		for _, cand := range keys {
			if cand.ID == kid || (kid == "" && len(keys) == 1) {
				k = cand
				break
			}
		}
		if k == nil {
			return nil, errors.New("no registered key has that kid")
		}
		if t.Method.Alg() != k.Algorithm {
			return nil, fmt.Errorf("key %q is pinned to %s", k.ID, k.Algorithm)
		}
		return k.Public(), nil
	})
	if err != nil {
		return err.Error(), nil
	}
	// RFC 7515 §4.1.11: a crit header names extensions this server does
	// not understand, so the assertion must be refused.
	if _, ok := t.Header["crit"]; ok {
		return "crit header", nil
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	if iss != c.ID || sub != c.ID {
		return "iss and sub must both be the client id", nil
	}
	aud, err := claims.GetAudience()
	if err != nil || !slices.ContainsFunc(aud, i.acceptsAudience) {
		return "aud names neither the token endpoint nor the issuer", nil
	}
	exp, _ := claims.GetExpirationTime() // required and checked by the parser
	if exp.Sub(now) > i.cfg.PrivateKeyJWT.MaxLifetime+leeway {
		return fmt.Sprintf("exp more than %s ahead", i.cfg.PrivateKeyJWT.MaxLifetime), nil
	}
	jti, _ := claims["jti"].(string)
	if jti == "" || len(jti) > maxJTILen {
		return fmt.Sprintf("jti must be 1 to %d characters", maxJTILen), nil
	}
	// Remembered until the assertion could no longer pass the exp check.
	err = i.nonces.UseNonce(ctx, "assertion:"+c.ID+":"+jti, exp.Add(leeway+time.Second), now)
	if errors.Is(err, store.ErrAlreadyExists) {
		return "jti replayed", nil
	}
	return "", err
}

// acceptsAudience reports whether an assertion's aud value names this
// server: its token endpoint's URL or its issuer identifier (RFC 7523 §3,
// OpenID Connect Core §9).
func (i *Issuer) acceptsAudience(a string) bool {
	return a == i.cfg.Issuer || (i.cfg.Paths.Token != "-" && a == i.cfg.Issuer+i.cfg.Paths.Token)
}

// keysOf returns the keys that may have signed the assertion: the client's
// registered JWK Set, or the one at its jwks_uri.
func (i *Issuer) keysOf(ctx context.Context, c *store.Client, assertion string, now time.Time) ([]*token.Key, error) {
	if uri := c.Metadata[MetaJWKSURI]; uri != "" {
		var kid string
		if t, _, err := jwt.NewParser().ParseUnverified(assertion, jwt.MapClaims{}); err == nil {
			kid, _ = t.Header["kid"].(string)
		}
		return i.remoteKeys.get(ctx, uri, kid, now)
	}
	return clientKeys([]byte(c.Metadata[MetaJWKS]))
}

// usesAssertions reports whether the client authenticates with
// private_key_jwt (and so never with a secret).
func usesAssertions(c *store.Client) bool {
	return c.Metadata[MetaAuthMethod] == string(AuthPrivateKeyJWT)
}

// SetClientKeys replaces the public keys of a client that authenticates
// with private_key_jwt (an inline JWK Set or a jwks_uri, exactly one), or
// turns a secret client into one: its secret stops working. It bumps the
// generation, so every token issued before dies, as with a rotation.
// Errors: ErrInvalidClientSpec, store.ErrNotFound, or the store's error.
func (i *Issuer) SetClientKeys(ctx context.Context, id string, jwks []byte, jwksURI string) error {
	meta, err := assertionMetadata(jwks, jwksURI)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidClientSpec, err)
	}
	var owner string
	err = i.updateClient(ctx, id, nil, func(c *store.Client) {
		if c.Metadata == nil {
			c.Metadata = map[string]string{}
		}
		delete(c.Metadata, MetaJWKS)
		delete(c.Metadata, MetaJWKSURI)
		for k, v := range meta {
			c.Metadata[k] = v
		}
		c.SecretHash = nil
		c.Generation++
		owner = c.OwnerAccount
	})
	if err != nil {
		return fmt.Errorf("issuer: set client keys: %w", err)
	}
	i.clientChanged(ctx, id, owner, ActionRotated)
	return nil
}

// assertionMetadata validates a client's keys (exactly one of jwks and
// jwksURI) and returns the metadata that records them.
func assertionMetadata(jwks []byte, jwksURI string) (map[string]string, error) {
	switch {
	case len(jwks) > 0 && jwksURI != "":
		return nil, errors.New("give a JWK Set or a jwks_uri, not both")
	case jwksURI != "":
		if err := checkJWKSURI(jwksURI); err != nil {
			return nil, err
		}
		return map[string]string{MetaAuthMethod: string(AuthPrivateKeyJWT), MetaJWKSURI: jwksURI}, nil
	case len(jwks) > 0:
		if len(jwks) > defaultMaxJWKSBytes {
			return nil, fmt.Errorf("JWK Set larger than %d bytes", defaultMaxJWKSBytes)
		}
		if _, err := clientKeys(jwks); err != nil {
			return nil, err
		}
		return map[string]string{MetaAuthMethod: string(AuthPrivateKeyJWT), MetaJWKS: string(jwks)}, nil
	}
	return nil, errors.New("a JWK Set or a jwks_uri is needed")
}
