package issuer

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
)

// DialectSpec is a token endpoint wire format declared as data: the names
// of the request's fields, the grant type values, which bodies and client
// authentication methods are accepted, the members of the response and of
// the error body. It implements [Dialect] on [ReadParams] and [BasicAuth],
// so whatever it declares, it keeps the Dialect contract: repeated
// parameters and duplicate JSON keys are refused, a client authenticates
// in one way only, [TokenRequest.AuthMethod] says which, and error bodies
// depend on the [*Error] alone. [OffBlocks], [DataCrunch] and [Generic] are
// declarations of it; an API with another format writes one more.
//
// [New] checks the declaration: one that cannot work (no access token
// member, two fields with one name, a grant type map without a grant type
// field, …) is a configuration error, not a request-time failure.
type DialectSpec struct {
	// Name names the dialect in configuration errors.
	Name string
	// Request names the fields of the request body.
	Request RequestFields
	// GrantTypes maps the grant type field's values on the wire to grant
	// types ([GrantClientCredentials], [GrantRefreshToken] or a custom
	// grant's), e.g. "clientCredentials" to "client_credentials". A value
	// not listed is unsupported_grant_type. Default nil: the values on the
	// wire are the grant types.
	GrantTypes map[string]string
	// Form also accepts application/x-www-form-urlencoded bodies. Default
	// false: only a JSON object whose values are all strings.
	Form bool
	// Basic also accepts HTTP Basic client authentication (RFC 6749
	// §2.3.1: the id and secret form-encoded before the Basic encoding),
	// beside the id and secret in the body, never both in one request; and
	// invalid_client then carries a WWW-Authenticate: Basic challenge.
	// Default false: the Authorization header is not read at all, so a
	// client may send another credential there (as Bloq's CLI sends its
	// account token), and invalid_client carries no challenge, since the
	// client authenticates with no HTTP scheme to name.
	Basic bool
	// Realm of the Basic challenge. Default "oauth2".
	Realm string
	// Response lists the members of a successful response, in the order
	// they are written. Exactly one must be FieldAccessToken.
	Response []Member
	// Error names the members of an error body, at the token endpoint and
	// every endpoint that answers in the dialect (login, account keys,
	// own credentials). Default: RFC 6749 §5.2's "error",
	// "error_description" and "error_uri".
	Error ErrorFields
	// Keys is the wire format of the account-keys endpoint
	// (Paths.AccountKeys). Default: the issuer's own (see [KeyFormat]).
	Keys KeyFormat
}

// RequestFields names the fields of a token request body. An empty name
// means the dialect has no such field.
type RequestFields struct {
	// GrantType names the grant type field. Empty: every request is a
	// client_credentials request (there is no other grant to ask for).
	GrantType string
	// ClientID and ClientSecret name the client's credentials. Both or
	// neither; neither needs Basic.
	ClientID     string
	ClientSecret string
	// RefreshToken names the refresh token of a refresh request.
	RefreshToken string
	// Scope names the requested scope, space-separated (RFC 6749 §3.3).
	// Empty: a client is always granted every scope it is allowed.
	Scope string
}

// Member is one member of a successful token response: its name, and the
// field of the [TokenResponse] it carries.
type Member struct {
	Name  string
	Field Field
}

// Field is a value of a [TokenResponse], as a response member carries it.
type Field int

// Response fields.
const (
	// FieldAccessToken: the access token, a JSON string.
	FieldAccessToken Field = iota + 1
	// FieldTokenType: "Bearer".
	FieldTokenType
	// FieldExpiresIn: the access token's lifetime in seconds, a JSON
	// number (RFC 6749 §5.1).
	FieldExpiresIn
	// FieldExpiresAt: when the access token expires, in Unix seconds, a
	// JSON number; for a JWT it equals the token's exp claim.
	FieldExpiresAt
	// FieldRefreshToken: the refresh token; the member is left out when
	// none was issued.
	FieldRefreshToken
	// FieldScope: the granted scope, space-separated; left out when empty.
	FieldScope
)

// ErrorFields names the members of an error body. Code is the [Error]'s
// Code; a member whose name is empty is left out, and so is one whose
// value is.
type ErrorFields struct {
	Code        string
	Description string
	URI         string
}

// oauth2Errors are RFC 6749 §5.2's names, the default.
var oauth2Errors = ErrorFields{Code: "error", Description: "error_description", URI: "error_uri"}

// DecodeTokenRequest implements [Dialect].
func (d DialectSpec) DecodeTokenRequest(r *http.Request) (*TokenRequest, error) {
	if !d.Form {
		if e := requireJSON(r); e != nil {
			return nil, e
		}
	}
	p, err := ReadParams(r)
	if err != nil {
		return nil, err
	}
	f := d.Request
	get := func(name string) string {
		if name == "" {
			return ""
		}
		return p[name]
	}
	req := &TokenRequest{
		GrantType:    GrantClientCredentials,
		ClientID:     get(f.ClientID),
		ClientSecret: get(f.ClientSecret),
		AuthMethod:   AuthNone,
		Scope:        get(f.Scope),
		RefreshToken: get(f.RefreshToken),
		Params:       p,
	}
	if f.GrantType != "" {
		req.GrantType = p[f.GrantType]
		if d.GrantTypes != nil && req.GrantType != "" {
			g, ok := d.GrantTypes[req.GrantType]
			if !ok {
				return nil, ErrUnsupportedGrantType.WithDescription("unsupported grant type")
			}
			req.GrantType = g
		}
	}
	if req.ClientSecret != "" {
		req.AuthMethod = AuthPost
	}
	if !d.Basic {
		return req, nil
	}
	id, secret, basic, err := BasicAuth(r)
	if err != nil || !basic {
		return req, err
	}
	if req.ClientSecret != "" {
		return nil, ErrInvalidRequest.WithDescription("the client authenticated with both HTTP Basic and the request body")
	}
	if req.ClientID != "" && req.ClientID != id {
		return nil, ErrInvalidRequest.WithDescription("the client id differs from the HTTP Basic user")
	}
	req.ClientID, req.ClientSecret, req.AuthMethod = id, secret, AuthBasic
	return req, nil
}

// requireJSON refuses a body that is not declared JSON, before it is read.
// A missing or malformed Content-Type is left to ReadParams.
func requireJSON(r *http.Request) *Error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt != "application/json" {
		return ErrInvalidRequest.WithDescription("Content-Type must be application/json")
	}
	return nil
}

// WriteTokenResponse implements [Dialect].
func (d DialectSpec) WriteTokenResponse(w http.ResponseWriter, _ *http.Request, resp *TokenResponse) {
	var doc document
	for _, m := range d.Response {
		switch m.Field {
		case FieldAccessToken:
			doc.add(m.Name, resp.AccessToken)
		case FieldTokenType:
			tt := resp.TokenType
			if tt == "" {
				tt = "Bearer"
			}
			doc.add(m.Name, tt)
		case FieldExpiresIn:
			doc.add(m.Name, resp.ExpiresIn)
		case FieldExpiresAt:
			if !resp.ExpiresAt.IsZero() {
				doc.add(m.Name, resp.ExpiresAt.Unix())
			}
		case FieldRefreshToken:
			if resp.RefreshToken != "" {
				doc.add(m.Name, resp.RefreshToken)
			}
		case FieldScope:
			if resp.Scope != "" {
				doc.add(m.Name, resp.Scope)
			}
		}
	}
	writeRaw(w, http.StatusOK, doc.bytes())
}

// WriteError implements [Dialect]: the members Error names, with a Basic
// challenge on invalid_client when the dialect takes HTTP Basic.
func (d DialectSpec) WriteError(w http.ResponseWriter, _ *http.Request, err *Error) {
	if d.Basic && err.Code == ErrInvalidClient.Code {
		realm := d.Realm
		if realm == "" {
			realm = "oauth2"
		}
		w.Header().Set("WWW-Authenticate", "Basic realm="+strconv.Quote(realm))
	}
	names := d.Error
	if names == (ErrorFields{}) {
		names = oauth2Errors
	}
	var doc document
	for _, m := range [...]struct{ name, value string }{
		{names.Code, err.Code}, {names.Description, err.Description}, {names.URI, err.URI},
	} {
		if m.name != "" && m.value != "" {
			doc.add(m.name, m.value)
		}
	}
	writeRaw(w, err.status(), doc.bytes())
}

// writeRaw writes a JSON body that is already encoded.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// checkDialect refuses a declared dialect that cannot work; dialects of
// other types are the caller's to get right.
func checkDialect(d Dialect) error {
	switch d := d.(type) {
	case DialectSpec:
		return d.check()
	case *DialectSpec:
		if d == nil {
			return errors.New("issuer: Config.Dialect is a nil *DialectSpec")
		}
		return d.check()
	}
	return nil
}

func (d DialectSpec) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("issuer: dialect %q: "+format, append([]any{d.Name}, args...)...)
	}
	f := d.Request
	if (f.ClientID == "") != (f.ClientSecret == "") {
		return bad("Request.ClientID and Request.ClientSecret must be named together")
	}
	if f.ClientID == "" && !d.Basic {
		return bad("no way to send client credentials: name Request.ClientID and ClientSecret, or set Basic")
	}
	if d.GrantTypes != nil && f.GrantType == "" {
		return bad("GrantTypes needs Request.GrantType")
	}
	for wire, g := range d.GrantTypes {
		if wire == "" || g == "" {
			return bad("GrantTypes maps %q to %q; neither may be empty", wire, g)
		}
	}
	if err := distinct([]string{f.GrantType, f.ClientID, f.ClientSecret, f.RefreshToken, f.Scope}); err != nil {
		return bad("Request: %v", err)
	}
	names := make([]string, 0, len(d.Response))
	seen := map[Field]bool{}
	for _, m := range d.Response {
		if m.Name == "" {
			return bad("a Response member has no name")
		}
		if m.Field < FieldAccessToken || m.Field > FieldScope {
			return bad("Response member %q has an unknown Field %d", m.Name, m.Field)
		}
		if seen[m.Field] {
			return bad("Response carries one Field in two members (the second is %q)", m.Name)
		}
		seen[m.Field] = true
		names = append(names, m.Name)
	}
	if !seen[FieldAccessToken] {
		return bad("Response has no FieldAccessToken member")
	}
	if err := distinct(names); err != nil {
		return bad("Response: %v", err)
	}
	if e := d.Error; e != (ErrorFields{}) {
		if e.Code == "" {
			return bad("Error.Code must be named")
		}
		if err := distinct([]string{e.Code, e.Description, e.URI}); err != nil {
			return bad("Error: %v", err)
		}
	}
	if err := d.Keys.check(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// distinct reports a name that appears twice among the non-empty names.
func distinct(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" {
			continue
		}
		if seen[n] {
			return fmt.Errorf("%q is named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// dialectAuthMethods are the client authentication methods the token
// endpoint takes with dialect d, for the RFC 8414 metadata.
func dialectAuthMethods(d Dialect) []string {
	spec, ok := asSpec(d)
	if !ok {
		return clientAuthMethods
	}
	var out []string
	if spec.Basic {
		out = append(out, string(AuthBasic))
	}
	if spec.Request.ClientSecret != "" {
		out = append(out, string(AuthPost))
	}
	return out
}

// asSpec returns the declaration of a declared dialect.
func asSpec(d Dialect) (DialectSpec, bool) {
	switch v := d.(type) {
	case DialectSpec:
		return v, true
	case *DialectSpec:
		if v != nil {
			return *v, true
		}
	}
	return DialectSpec{}, false
}
