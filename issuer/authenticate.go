package issuer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

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

// authenticate checks the client's credentials, rate limited per client id
// and per address. Every failure, whether the id is unknown, the secret
// wrong or the client disabled, is the same invalid_client, and an unknown
// id costs the same hashing as a known one.
func (i *Issuer) authenticate(ctx context.Context, r *http.Request, req *TokenRequest, now time.Time) (*store.Client, *Error) {
	id := req.ClientID
	var assertion string
	if req.AuthMethod == AuthPrivateKeyJWT {
		// The assertion's sub names the client when client_id is absent;
		// verifyAssertion checks that both agree with the client found.
		if assertion = req.Params["client_assertion"]; id == "" && len(assertion) <= maxAssertionLen {
			id = assertionSubject(assertion)
		}
	}
	if len(id) > maxClientIDLen || !printable(id) {
		// CreateClient makes no such id, so no client has it: count it
		// against the address only, and keep it from the store, where
		// PostgreSQL refuses a NUL byte or invalid UTF-8 with an error
		// that would be a 503 instead of invalid_client.
		id = ""
	}
	at := i.newAttempt(r, SubjectClient, limitKeyClient, id, id, now)
	if e := at.begin(ctx); e != nil {
		return nil, e
	}
	fail := func(reason, why string) (*store.Client, *Error) {
		return nil, at.fail(ctx, reason, errAuthFailed, errors.New(why))
	}
	switch {
	case req.AuthMethod == AuthPrivateKeyJWT && !i.cfg.PrivateKeyJWT.Enabled:
		return fail(ReasonNoCredentials, "private_key_jwt is not enabled")
	case req.AuthMethod != AuthBasic && req.AuthMethod != AuthPost && req.AuthMethod != AuthPrivateKeyJWT:
		return fail(ReasonNoCredentials, "no client secret presented")
	}
	if id == "" {
		i.hasher.Equal(req.ClientSecret, i.dummyHash)
		return fail(ReasonMalformedID, "missing or overlong client id")
	}
	c, cached, err := i.lookupClient(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		i.hasher.Equal(req.ClientSecret, i.dummyHash)
		return fail(ReasonUnknown, "unknown client")
	}
	if err != nil {
		return nil, i.unavailable(ctx, "get client", err)
	}
	if req.AuthMethod == AuthPrivateKeyJWT {
		if !usesAssertions(c) {
			return fail(ReasonBadAssertion, "client has no registered keys")
		}
		refused, err := i.verifyAssertion(ctx, c, assertion, now)
		if err != nil {
			return nil, i.unavailable(ctx, "use assertion jti", err)
		}
		if refused != "" {
			return nil, at.fail(ctx, ReasonBadAssertion, errBadAssertion, errors.New(refused))
		}
		if c.Disabled {
			return fail(ReasonDisabled, "client disabled")
		}
	} else {
		var reason string
		c, reason, err = i.checkClient(ctx, c, cached, req.ClientSecret, now)
		switch {
		case err != nil:
			return nil, i.unavailable(ctx, "get client", err)
		case reason == ReasonWrongSecret:
			return fail(reason, "wrong secret")
		case reason == ReasonDisabled:
			return fail(reason, "client disabled")
		case reason != "":
			return fail(reason, "client deleted")
		}
	}
	if c.OwnerAccount != "" {
		// A key of a disabled or deleted account is refused like a
		// disabled client.
		err := i.ownerActive(ctx, c.OwnerAccount, now)
		if errors.Is(err, errAccountGone) {
			return fail(ReasonDisabled, "owner account disabled or deleted")
		}
		if err != nil {
			return nil, i.unavailable(ctx, "get account", err)
		}
	}
	if e := checkDPoPRequired(ctx, c, req); e != nil {
		return nil, e
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

// audience is the aud of the client's tokens of kind k: its own audiences
// that the kind names, or every audience the kind names.
func (i *Issuer) audience(k *Kind, c *store.Client) []string {
	var out []string
	for _, a := range c.Audiences {
		if slices.Contains(k.Audience, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return slices.Clone(k.Audience)
	}
	return out
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

// authRequest reads a client-authenticated POST (revocation,
// introspection) under the same rules as the token endpoint and
// authenticates the client.
func (i *Issuer) authRequest(w http.ResponseWriter, r *http.Request, now time.Time) (*store.Client, map[string]string, *Error) {
	if e := i.checkPost(w, r); e != nil {
		return nil, nil, e
	}
	p, err := ReadParams(r)
	if err != nil {
		return nil, nil, asError(err)
	}
	c, e := i.authCaller(r, p, now)
	if e != nil {
		return nil, nil, e
	}
	if p["token"] == "" {
		return nil, nil, ErrInvalidRequest.WithDescription("missing token")
	}
	return c, p, nil
}

// authCaller authenticates the client of a revocation, introspection or
// change feed request from the Authorization header and the parameters p,
// and counts the call against its RateLimit.PerClientCalls.
func (i *Issuer) authCaller(r *http.Request, p map[string]string, now time.Time) (*store.Client, *Error) {
	id, secret, method, err := ClientAuth(r, p)
	if err != nil {
		return nil, asError(err)
	}
	c, e := i.authenticate(r.Context(), r, &TokenRequest{ClientID: id, ClientSecret: secret, AuthMethod: method, Params: p}, now)
	if e != nil {
		return nil, e
	}
	if e := i.throttle(r.Context(), c.ID, now); e != nil {
		return nil, e
	}
	return c, nil
}

// oauthError writes e as RFC 6749 §5.2 for the revocation and
// introspection endpoints, which speak plain OAuth 2.0 whatever the token
// endpoint's dialect.
func (i *Issuer) oauthError(w http.ResponseWriter, r *http.Request, e *Error) {
	i.logError(r, e)
	if e.retryAfter > 0 {
		setRetryAfter(w.Header(), e.retryAfter)
	}
	d, ok := i.cfg.Dialect.(OAuth2)
	if !ok {
		d = OAuth2{}
	}
	d.WriteError(w, r, e)
}
