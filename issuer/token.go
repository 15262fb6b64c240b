package issuer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// maxClientIDLen bounds client ids, so that a rate-limit key or a log line
// cannot be made arbitrarily long.
const maxClientIDLen = 255

// Fixed descriptions, so that every failure of one kind reads the same.
var (
	errAuthFailed   = ErrInvalidClient.WithDescription("client authentication failed")
	errBadRefresh   = ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")
	errNotPermitted = ErrUnauthorizedClient.WithDescription("the client is not permitted this grant type")
)

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	i.maybeSweep(i.cfg.Now())
	req, e := i.decodeToken(w, r)
	if e == nil {
		var resp *TokenResponse
		if resp, e = i.grant(r.Context(), r, req); e == nil {
			i.cfg.Dialect.WriteTokenResponse(w, r, resp)
			return
		}
	}
	i.tokenError(w, r, e)
}

// decodeToken applies the rules every dialect relies on (POST only, nothing
// in the URL query, a bounded body) and then decodes with the dialect.
func (i *Issuer) decodeToken(w http.ResponseWriter, r *http.Request) (*TokenRequest, *Error) {
	if e := i.checkPost(w, r); e != nil {
		return nil, e
	}
	req, err := i.cfg.Dialect.DecodeTokenRequest(r)
	if err != nil {
		return nil, asError(err)
	}
	if req == nil {
		return nil, ErrInvalidRequest.WithDescription("malformed request")
	}
	return req, nil
}

// checkPost refuses what no endpoint taking client credentials accepts, and
// bounds the body. A method other than POST is answered 405 with Allow:
// POST and an invalid_request body, so that OAuth clients still get a §5.2
// error.
func (i *Issuer) checkPost(w http.ResponseWriter, r *http.Request) *Error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be POST")
	}
	// Secrets in a URL end up in logs and histories (RFC 6749 §2.3.1,
	// §3.2): refuse any query rather than a list of known names.
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not in the URL")
	}
	if r.ContentLength > i.cfg.MaxBodyBytes {
		return errTooLarge
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, i.cfg.MaxBodyBytes)
	return nil
}

func (i *Issuer) tokenError(w http.ResponseWriter, r *http.Request, e *Error) {
	i.logError(r, e)
	if e.retryAfter > 0 {
		setRetryAfter(w.Header(), e.retryAfter)
	}
	i.cfg.Dialect.WriteError(w, r, e)
}

func (i *Issuer) logError(r *http.Request, e *Error) {
	if e.status() >= 500 {
		return // logged where the cause was found
	}
	if e.cause != nil {
		i.log.DebugContext(r.Context(), "issuer: request refused", "path", r.URL.Path, "err", e)
	}
}

func (i *Issuer) grant(ctx context.Context, r *http.Request, req *TokenRequest) (*TokenResponse, *Error) {
	switch req.GrantType {
	case "":
		return nil, ErrInvalidRequest.WithDescription("missing grant_type")
	case GrantClientCredentials:
		return i.clientCredentials(ctx, r, req)
	case GrantRefreshToken:
		if i.cfg.Refresh.Enabled {
			return i.refresh(ctx, r, req)
		}
	}
	return nil, ErrUnsupportedGrantType.WithDescription("unsupported grant_type")
}

func (i *Issuer) clientCredentials(ctx context.Context, r *http.Request, req *TokenRequest) (*TokenResponse, *Error) {
	now := i.cfg.Now()
	c, e := i.authenticate(ctx, r, req, now)
	if e != nil {
		return nil, e
	}
	if !grantAllowed(c, GrantClientCredentials) {
		return nil, errNotPermitted
	}
	scopes, e := i.grantScopes(c, req.Scope)
	if e != nil {
		return nil, e
	}
	g := store.Grant{
		Kind:       token.KindClient,
		Subject:    c.ID,
		ClientID:   c.ID,
		Scopes:     scopes,
		Audience:   i.audience(c),
		Generation: c.Generation,
		IssuedAt:   now,
	}
	resp := &TokenResponse{}
	if i.cfg.Refresh.Enabled && grantAllowed(c, GrantRefreshToken) {
		// The refresh token is stored first: if minting the access token
		// then fails, what is left is a stored token nobody holds.
		rt, e := i.newRefreshToken(ctx, g, newID(), now)
		if e != nil {
			return nil, e
		}
		resp.RefreshToken = rt
	}
	if e := i.mintAccess(ctx, g, now, resp); e != nil {
		return nil, e
	}
	return resp, nil
}

// authenticate checks the client's credentials, rate limited per client id
// and per address. Every failure, whether the id is unknown, the secret
// wrong or the client disabled, is the same invalid_client, and an unknown
// id costs the same hashing as a known one.
func (i *Issuer) authenticate(ctx context.Context, r *http.Request, req *TokenRequest, now time.Time) (*store.Client, *Error) {
	addr := i.cfg.ClientIP(r)
	id := req.ClientID
	if len(id) > maxClientIDLen || !printable(id) {
		// CreateClient makes no such id, so no client has it: count it
		// against the address only, and keep it from the store, where
		// PostgreSQL refuses a NUL byte or invalid UTF-8 with an error
		// that would be a 503 instead of invalid_client.
		id = ""
	}
	wait, err := i.limited(ctx, id, addr, now)
	if err != nil {
		return nil, i.unavailable(ctx, "rate limit", err)
	}
	if wait > 0 {
		e := ErrRateLimited.WithCause(errors.New("rate limited: " + addr))
		e.retryAfter = wait
		return nil, e
	}
	fail := func(why string) (*store.Client, *Error) {
		if err := i.failed(ctx, id, addr, now); err != nil {
			return nil, i.unavailable(ctx, "rate limit", err)
		}
		return nil, errAuthFailed.WithCause(errors.New(why))
	}
	if req.AuthMethod != AuthBasic && req.AuthMethod != AuthPost {
		return fail("no client secret presented")
	}
	if id == "" {
		i.hasher.Equal(req.ClientSecret, i.dummyHash)
		return fail("missing or overlong client id")
	}
	c, err := i.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		i.hasher.Equal(req.ClientSecret, i.dummyHash)
		return fail("unknown client")
	}
	if err != nil {
		return nil, i.unavailable(ctx, "get client", err)
	}
	ok := i.hasher.Equal(req.ClientSecret, c.SecretHash)
	switch {
	case !ok:
		return fail("wrong secret")
	case c.Disabled:
		return fail("client disabled")
	}
	return c, nil
}

// grantScopes decides the scopes of a new grant: the requested ones, each
// of which the client must be allowed, or all it is allowed when none are
// requested (RFC 6749 §3.3 lets the server pick a default).
func (i *Issuer) grantScopes(c *store.Client, requested string) ([]string, *Error) {
	allowed := i.allowedScopes(c)
	want, e := parseRequestedScope(requested)
	if e != nil {
		return nil, e
	}
	if len(want) == 0 {
		return slices.Clone(allowed), nil
	}
	for _, s := range want {
		if !validScopeToken(s) || !slices.Contains(allowed, s) {
			return nil, ErrInvalidScope.WithDescription("the requested scope is invalid, unknown or not allowed for this client")
		}
	}
	return want, nil
}

// maxRequestedScopes bounds the scope tokens of one request (DESIGN §5.7):
// token.ParseScope removes duplicates in quadratic time, and a body of
// distinct tokens would otherwise cost a third of a second of CPU at the
// default MaxBodyBytes. Asking for no scope grants every allowed one.
const maxRequestedScopes = 100

// parseRequestedScope parses a requested scope of at most
// maxRequestedScopes tokens.
func parseRequestedScope(s string) ([]string, *Error) {
	n := 0
	for range strings.FieldsSeq(s) {
		if n++; n > maxRequestedScopes {
			return nil, ErrInvalidScope.WithDescription("too many scopes requested")
		}
	}
	return token.ParseScope(s), nil
}

// allowedScopes are the client's own scopes, or the server's when it has
// none; with Config.Scopes set, only those of the client's that the server
// still knows.
func (i *Issuer) allowedScopes(c *store.Client) []string {
	if len(c.Scopes) == 0 {
		return i.cfg.Scopes
	}
	if len(i.cfg.Scopes) == 0 {
		return c.Scopes
	}
	out := make([]string, 0, len(c.Scopes))
	for _, s := range c.Scopes {
		if slices.Contains(i.cfg.Scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// audience is the aud of the client's tokens: its own audiences that the
// server knows, or every audience the server knows.
func (i *Issuer) audience(c *store.Client) []string {
	var out []string
	for _, a := range c.Audiences {
		if slices.Contains(i.cfg.Audience, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return slices.Clone(i.cfg.Audience)
	}
	return out
}

// mintAccess makes the access token for g and fills in resp. For opaque
// tokens it stores the token's hash.
func (i *Issuer) mintAccess(ctx context.Context, g store.Grant, now time.Time, resp *TokenResponse) *Error {
	ttl := i.cfg.AccessTokenTTL
	g.IssuedAt = now
	g.ExpiresAt = now.Add(ttl)
	jti := newID()
	var raw string
	if i.cfg.Format == FormatOpaque {
		raw = token.NewSecret(token.PrefixAccessToken)
		err := i.store.CreateAccessToken(ctx, &store.AccessToken{Hash: i.hasher.Hex(raw), ID: jti, Grant: g})
		if err != nil {
			return i.unavailable(ctx, "create access token", err)
		}
	} else {
		ks, err := i.keys.KeySet(ctx)
		if err != nil {
			return i.unavailable(ctx, "signing keys", err)
		}
		claims := &token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    i.cfg.Issuer,
				Subject:   g.Subject,
				Audience:  jwt.ClaimStrings(g.Audience),
				ExpiresAt: jwt.NewNumericDate(g.ExpiresAt),
				NotBefore: jwt.NewNumericDate(now),
				IssuedAt:  jwt.NewNumericDate(now),
				ID:        jti,
			},
			ClientID:   g.ClientID,
			AccountID:  g.AccountID,
			Scope:      token.JoinScope(g.Scopes),
			Kind:       g.Kind,
			Generation: g.Generation,
		}
		if raw, err = ks.Sign(claims); err != nil {
			i.log.ErrorContext(ctx, "issuer: signing failed", "err", err)
			return ErrServerError.WithCause(err)
		}
	}
	resp.AccessToken = raw
	resp.TokenType = "Bearer"
	resp.ExpiresIn = int64(ttl / time.Second)
	resp.ExpiresAt = g.ExpiresAt
	resp.Scope = token.JoinScope(g.Scopes)
	return nil
}

// grantAllowed reports whether the client may use the grant type: every
// type the server enables, unless its metadata restricts them.
func grantAllowed(c *store.Client, grant string) bool {
	list, ok := c.Metadata[MetaGrantTypes]
	if !ok {
		return true
	}
	return slices.Contains(strings.Fields(list), grant)
}
