package issuer

import (
	"context"
	"net/http"
	"slices"

	"github.com/portcullis/portcullis/internal/token"
)

var tokenEndpoint = endpoint{
	name:        "token",
	path:        func(p *Paths) *string { return &p.Token },
	defaultPath: "/oauth/token",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveToken },
	describe: func(i *Issuer, m *document, url string) {
		m.add("token_endpoint", url)
		var types []string
		for _, g := range i.grants {
			types = append(types, g.typ)
		}
		m.add("grant_types_supported", types)
		methods := dialectAuthMethods(i.cfg.Dialect)
		if i.grantEnabled(GrantRefreshToken) && i.cfg.Refresh.AllowPublic {
			methods = append(slices.Clone(methods), string(AuthNone))
		}
		if i.cfg.PrivateKeyJWT.Enabled && slices.Equal(dialectAuthMethods(i.cfg.Dialect), clientAuthMethods) {
			// A declared dialect reads its own parameters, without
			// client assertions; OAuth 2.0 and custom dialects built on
			// ClientAuth take them.
			methods = append(slices.Clone(methods), string(AuthPrivateKeyJWT))
			m.add("token_endpoint_auth_signing_alg_values_supported", assertionAlgorithms)
		}
		m.add("token_endpoint_auth_methods_supported", methods)
		if i.takesDPoP() {
			m.add("dpop_signing_alg_values_supported", token.DPoPAlgorithms)
		}
	},
}

// clientAuthMethods are the client authentication methods of every
// endpoint that takes client credentials.
var clientAuthMethods = []string{string(AuthBasic), string(AuthPost)}

// clientAuthMethods are those of the revocation and introspection
// endpoints, which read their parameters with ClientAuth whatever the
// dialect.
func (i *Issuer) clientAuthMethods() []string {
	if i.cfg.PrivateKeyJWT.Enabled {
		return append(slices.Clone(clientAuthMethods), string(AuthPrivateKeyJWT))
	}
	return clientAuthMethods
}

// grants is the registry of grant types the token endpoint serves. A
// grant is declared in its own file; adding one is that file and one line
// here.
var grants = []*grant{
	&clientCredentialsGrant,
	&refreshTokenGrant,
}

// grant declares a grant type of the token endpoint.
type grant struct {
	// typ is the grant_type value (after the dialect's decoding).
	typ string
	// enabled reports whether the issuer serves the grant; nil: always.
	enabled func(*Issuer) bool
	// handle authenticates the request and mints its tokens, through
	// [Issuer.mint].
	handle func(i *Issuer, ctx context.Context, r *http.Request, req *TokenRequest) (*TokenResponse, *Error)
}

// enabledGrants lists the grants the issuer serves, in registry order.
func (i *Issuer) enabledGrants() []*grant {
	var out []*grant
	for _, g := range grants {
		if g.enabled == nil || g.enabled(i) {
			out = append(out, g)
		}
	}
	return out
}

func (i *Issuer) grantEnabled(typ string) bool {
	return slices.ContainsFunc(i.grants, func(g *grant) bool { return g.typ == typ })
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	i.maybeSweep(i.cfg.Now())
	req, e := i.decodeToken(w, r)
	if e == nil {
		var bound *http.Request
		if bound, e = i.bindDPoP(w, r); e == nil {
			r = bound
		}
	}
	if e == nil {
		var resp *TokenResponse
		if resp, e = i.dispatch(r.Context(), r, req); e == nil {
			i.cfg.Dialect.WriteTokenResponse(w, r, resp)
			return
		}
	}
	i.tokenError(w, r, e)
}

// dispatch hands the request to its grant.
func (i *Issuer) dispatch(ctx context.Context, r *http.Request, req *TokenRequest) (*TokenResponse, *Error) {
	if req.GrantType == "" {
		return nil, ErrInvalidRequest.WithDescription("missing grant_type")
	}
	for _, g := range i.grants {
		if g.typ == req.GrantType {
			return g.handle(i, ctx, r, req)
		}
	}
	return nil, ErrUnsupportedGrantType.WithDescription("unsupported grant_type")
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

// checkPost refuses what no endpoint taking credentials accepts, and
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
	i.limitBody(w, r)
	if r.ContentLength > i.cfg.MaxBodyBytes {
		return errTooLarge
	}
	return nil
}

// limitBody bounds what any handler can read of r's body.
func (i *Issuer) limitBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, i.cfg.MaxBodyBytes)
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
