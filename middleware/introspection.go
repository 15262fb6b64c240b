package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/token"
)

// IntrospectionConfig configures an [IntrospectionVerifier]. Issuer,
// ClientID and ClientSecret are required; the zero value of every other
// field is a safe default.
type IntrospectionConfig struct {
	// Issuer is the issuer identifier, e.g. "https://auth.example.com". A
	// response that names another iss is refused. Required.
	Issuer string
	// URL of the RFC 7662 introspection endpoint. Default Issuer +
	// "/oauth/introspect", the Portcullis issuer's default path. Use https
	// anywhere but localhost: the tokens and the client secret travel on
	// it.
	URL string
	// ClientID and ClientSecret authenticate this resource server to the
	// endpoint (HTTP Basic). Required. A Portcullis issuer answers about
	// other clients' tokens only to a client created with
	// issuer.ClientSpec.IntrospectAny; to any other, they are inactive.
	ClientID     string
	ClientSecret string
	// Audiences that are accepted: the response's aud must name at least
	// one. Default: the Issuer.
	Audiences []string
	// HTTPClient sends the requests. Default: a client with a 10s timeout
	// (a zero Timeout on a given client is set to 10s as well). The
	// client is copied, not modified, and redirects are never followed.
	HTTPClient *http.Client
	// MaxResponseBytes bounds a response; a larger one makes the token
	// unverifiable (503). Default 64 KiB.
	MaxResponseBytes int64
	// CacheTTL is how long an active answer is reused, never past the
	// token's exp. Revocation and credential rotation reach this verifier
	// within CacheTTL. Default 30s; negative disables the cache (every
	// request asks the issuer).
	CacheTTL time.Duration
	// InactiveTTL is how long an inactive answer is reused, so that a
	// client retrying a dead token does not cost a round trip each time.
	// Default 5s; negative never reuses one.
	InactiveTTL time.Duration
	// CacheSize bounds how many answers are remembered. Default 10000.
	CacheSize int
	// Leeway for exp and nbf, for clock skew. Default 10s; negative means
	// none.
	Leeway time.Duration
	// MaxTokenLength rejects longer tokens without asking. Default 8 KiB.
	MaxTokenLength int
	// Kinds are the token kinds the issuer defines, which guards over this
	// verifier may ask for (see [Config.Kinds]). Default KindClient and
	// KindAccount.
	Kinds []string
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// IntrospectionVerifier verifies access tokens, JWT or opaque, by asking the
// issuer (RFC 7662). Unlike a [JWKSVerifier], it sees revocation and
// rotation, within [IntrospectionConfig.CacheTTL], at the price of a round
// trip for every token not in its cache. It is safe for concurrent use.
//
// # What it checks
//
// The issuer says whether the token is active; this verifier then pins
// what a local verifier would: iss (when the response names one) must be
// the configured Issuer, aud must name an accepted audience, exp and nbf
// must hold (with leeway), kind and sub must be present, and token_type,
// when present, must be an access token's ("Bearer" or "access_token"), so
// that a refresh token, which the issuer also reports as active, never
// passes. Portcullis refresh tokens ("pcr_…") are refused without asking.
//
// # Failure
//
// It fails closed: a network error, a timeout, any status but 200 (our own
// credentials refused included) or an unreadable or oversized response is
// [ErrUnavailable] (503 through a Guard); an inactive or refused
// token is [ErrInvalidToken].
type IntrospectionVerifier struct {
	cfg    IntrospectionConfig
	client *http.Client
	auth   string // "Basic …"
	cache  *tokenCache
}

// NewIntrospectionVerifier checks cfg and returns a verifier. It makes no
// request.
func NewIntrospectionVerifier(cfg IntrospectionConfig) (*IntrospectionVerifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("middleware: IntrospectionConfig.Issuer is required")
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("middleware: IntrospectionConfig.ClientID and ClientSecret are required")
	}
	if cfg.URL == "" {
		cfg.URL = strings.TrimSuffix(cfg.Issuer, "/") + "/oauth/introspect"
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("middleware: IntrospectionConfig.URL %q must be an absolute http or https URL", cfg.URL)
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{cfg.Issuer}
	}
	cfg.Audiences = slices.Clone(cfg.Audiences)
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 10
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	if cfg.InactiveTTL == 0 {
		cfg.InactiveTTL = 5 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 10 * time.Second
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.MaxTokenLength <= 0 {
		cfg.MaxTokenLength = 8 << 10
	}
	var err error
	if cfg.Kinds, err = kindsOrDefault("IntrospectionConfig", cfg.Kinds); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &IntrospectionVerifier{cfg: cfg}
	v.client, _ = limitedClient(cfg.HTTPClient, cfg.MaxResponseBytes)
	// A redirect would resend the token and our credentials wherever it
	// points, in clear text after an https→http hop: take the 3xx as the
	// answer instead, which is not 200 and so fails closed.
	v.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// RFC 6749 §2.3.1: id and secret are form-encoded, then Basic-encoded.
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	v.auth = r.Header.Get("Authorization")
	if cfg.CacheTTL > 0 || cfg.InactiveTTL > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// Kinds returns the token kinds the issuer defines
// (IntrospectionConfig.Kinds).
func (v *IntrospectionVerifier) Kinds() []string { return slices.Clone(v.cfg.Kinds) }

// Verify asks the issuer about raw, or reuses a recent answer. Errors wrap
// ErrInvalidToken or ErrUnavailable.
func (v *IntrospectionVerifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	p, _, err := v.verifyCached(ctx, raw)
	return p, err
}

// verifyCached is Verify that also reports whether the cache answered,
// for an active or an inactive token (see cacheReporter).
func (v *IntrospectionVerifier) verifyCached(ctx context.Context, raw string) (*Principal, bool, error) {
	if raw == "" || len(raw) > v.cfg.MaxTokenLength {
		return nil, false, invalid("empty or too long")
	}
	if strings.HasPrefix(raw, token.PrefixRefreshToken) {
		return nil, false, invalid("a refresh token is not an access token")
	}
	now := v.cfg.Now()
	// The cache is keyed by the token's hash, so that it holds no token.
	sum := sha256.Sum256([]byte(raw))
	key := string(sum[:])
	if v.cache != nil {
		if e := v.cache.get(key, now); e != nil {
			if e.principal == nil {
				return nil, true, invalid("inactive (cached)")
			}
			return e.principal, true, nil
		}
	}
	resp, err := v.introspect(ctx, raw)
	if err != nil {
		return nil, false, unavailable("introspection at %s: %w", v.cfg.URL, err)
	}
	p, err := v.principal(resp, raw, now)
	if err != nil {
		if v.cache != nil && v.cfg.InactiveTTL > 0 {
			v.cache.put(key, &cacheEntry{expires: now.Add(v.cfg.InactiveTTL)}, v.cache.epoch())
		}
		return nil, false, invalid("%w", err)
	}
	if v.cache != nil && v.cfg.CacheTTL > 0 {
		until := now.Add(v.cfg.CacheTTL)
		if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(until) {
			until = p.ExpiresAt
		}
		v.cache.put(key, &cacheEntry{principal: p, expires: until}, v.cache.epoch())
	}
	return p, false, nil
}

// introspection is an RFC 7662 §2.2 response, with the Portcullis kind
// and account_id.
type introspection struct {
	Active    bool        `json:"active"`
	Scope     string      `json:"scope"`
	ClientID  string      `json:"client_id"`
	Subject   string      `json:"sub"`
	Expires   json.Number `json:"exp"`
	IssuedAt  json.Number `json:"iat"`
	NotBefore json.Number `json:"nbf"`
	Audience  audience    `json:"aud"`
	Issuer    string      `json:"iss"`
	ID        string      `json:"jti"`
	TokenType string      `json:"token_type"`
	Kind      string      `json:"kind"`
	AccountID string      `json:"account_id"`
	// Confirmation of a DPoP-bound token (RFC 9449 §6.2): the guard then
	// wants a proof by that key. A cnf it cannot check refuses the token.
	Confirmation *struct {
		JKT *string `json:"jkt"`
	} `json:"cnf"`
}

// audience is a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

func (v *IntrospectionVerifier) introspect(ctx context.Context, raw string) (*introspection, error) {
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.URL, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", v.auth)
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so that the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var in introspection
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("decoding the response: %w", err)
	}
	return &in, nil
}

// principal checks an answer and turns an active one into a Principal.
func (v *IntrospectionVerifier) principal(in *introspection, raw string, now time.Time) (*Principal, error) {
	if !in.Active {
		return nil, errors.New("inactive")
	}
	if in.Issuer != "" && in.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("iss %q is not %q", in.Issuer, v.cfg.Issuer)
	}
	if in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer") && !strings.EqualFold(in.TokenType, "DPoP") && !strings.EqualFold(in.TokenType, "access_token") {
		return nil, fmt.Errorf("token_type %q is not an access token", in.TokenType)
	}
	if in.Kind == "" || in.Subject == "" {
		return nil, errors.New("kind and sub are required")
	}
	var jkt string
	if in.Confirmation != nil {
		if in.Confirmation.JKT == nil || *in.Confirmation.JKT == "" {
			return nil, errors.New("cnf without jkt: a binding this guard cannot check")
		}
		jkt = *in.Confirmation.JKT
	}
	if !slices.ContainsFunc(in.Audience, func(a string) bool { return slices.Contains(v.cfg.Audiences, a) }) {
		return nil, errors.New("audience not accepted")
	}
	exp, err := numericDate(in.Expires)
	if err != nil {
		return nil, err
	}
	if !exp.IsZero() && !now.Before(exp.Add(v.cfg.Leeway)) {
		return nil, errors.New("expired")
	}
	nbf, err := numericDate(in.NotBefore)
	if err != nil {
		return nil, err
	}
	if !nbf.IsZero() && now.Add(v.cfg.Leeway).Before(nbf) {
		return nil, errors.New("not valid yet")
	}
	iat, err := numericDate(in.IssuedAt)
	if err != nil {
		return nil, err
	}
	return &Principal{
		Kind:      in.Kind,
		Subject:   in.Subject,
		ClientID:  in.ClientID,
		AccountID: in.AccountID,
		Scopes:    token.ParseScope(in.Scope),
		Audience:  []string(in.Audience),
		TokenID:   in.ID,
		IssuedAt:  iat,
		ExpiresAt: exp,
		Issuer:    v.cfg.Issuer,
		Opaque:    strings.Count(raw, ".") != 2,
		DPoPKey:   jkt,
	}, nil
}

// numericDate reads RFC 7519 seconds since the epoch, integer or not; the
// zero Time when absent.
func numericDate(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return time.Unix(i, 0), nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1<<40 {
		return time.Time{}, fmt.Errorf("bad NumericDate %q", n)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
