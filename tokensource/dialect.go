package tokensource

import "fmt"

// Dialect is the wire format of a token endpoint as a client speaks it:
// how the request is encoded and named, and which members of the answer
// carry what. [OAuth2] is the default; [OffBlocks], [Bloq], [DataCrunch]
// and [Generic] are the formats of the APIs Portcullis ships examples of,
// each the client's side of the issuer's declaration of the same name. A
// provider whose API speaks another format publishes one more value for
// its customers.
//
// The zero value means [OAuth2]. Dialect holds only strings and booleans,
// so a program may copy one and change a field (another error shape, say)
// without touching anyone else's.
type Dialect struct {
	// Name names the dialect in configuration errors.
	Name string
	// Request names the fields of the request body.
	Request RequestFields
	// GrantTypes are the values of the grant type field on the wire.
	GrantTypes GrantTypes
	// Form sends application/x-www-form-urlencoded bodies (RFC 6749
	// §4.4.2). Default false: a JSON object whose values are all strings.
	Form bool
	// Basic sends the client's id and secret with HTTP Basic, each
	// form-encoded first (RFC 6749 §2.3.1), instead of in the body.
	// Default false: in the body, under Request.ClientID and ClientSecret.
	Basic bool
	// AuthenticateRefresh sends the client's credentials with a refresh
	// request too, as RFC 6749 §6 requires of a confidential client.
	// Default false: the refresh token alone, as APIs that issue refresh
	// tokens with client credentials document it.
	AuthenticateRefresh bool
	// Response names the members of a successful answer.
	Response ResponseFields
	// Error names the members of an error body. Default: RFC 6749 §5.2's
	// "error", "error_description" and "error_uri".
	Error ErrorFields
}

// RequestFields names the fields of a token request body. An empty name
// means the dialect has no such field.
type RequestFields struct {
	// GrantType names the grant type field. Empty: the endpoint knows one
	// grant, client credentials, and refresh tokens cannot be used.
	GrantType string
	// ClientID and ClientSecret name the client's credentials in the body.
	// Both are required unless Basic is set.
	ClientID     string
	ClientSecret string
	// RefreshToken names the refresh token of a refresh request. Empty:
	// refresh tokens are never used, even if the server sends one.
	RefreshToken string
	// Scope names the requested scope, space-separated (RFC 6749 §3.3).
	// Empty: Config.Scopes must be empty too.
	Scope string
}

// GrantTypes are the grant type field's values on the wire.
type GrantTypes struct {
	// ClientCredentials asks for a token with the client's credentials.
	// Default "client_credentials".
	ClientCredentials string
	// RefreshToken asks for a token with a refresh token. Default
	// "refresh_token".
	RefreshToken string
}

// ResponseFields names the members of a successful token response. An
// empty name means the dialect has no such member.
type ResponseFields struct {
	// AccessToken names the access token, a string. Required.
	AccessToken string
	// TokenType names the token type; its value, when present, must be
	// "Bearer" in any case.
	TokenType string
	// ExpiresIn names the token's lifetime in seconds (RFC 6749 §5.1).
	ExpiresIn string
	// ExpiresAt names when the token expires, in Unix seconds.
	ExpiresAt string
	// RefreshToken names the refresh token, when the server issues one.
	RefreshToken string
	// Scope names the granted scope, space-separated.
	Scope string
}

// ErrorFields names the members of an error body; empty names are not
// read.
type ErrorFields struct {
	Code        string
	Description string
	URI         string
}

// oauth2Errors are RFC 6749 §5.2's names, the default.
var oauth2Errors = ErrorFields{Code: "error", Description: "error_description", URI: "error_uri"}

// OAuth2 is RFC 6749's wire format, the issuer's default: a form body,
// the client authenticated with HTTP Basic (client_secret_basic, which §2.3.1
// says every server MUST support), snake_case members, §5.2 errors, and
// the credentials sent with a refresh as §6 requires.
func OAuth2() Dialect {
	return Dialect{
		Name: "OAuth 2.0",
		Request: RequestFields{
			GrantType: "grant_type", ClientID: "client_id", ClientSecret: "client_secret",
			RefreshToken: "refresh_token", Scope: "scope",
		},
		Form:                true,
		Basic:               true,
		AuthenticateRefresh: true,
		Response: ResponseFields{
			AccessToken: "access_token", TokenType: "token_type", ExpiresIn: "expires_in",
			RefreshToken: "refresh_token", Scope: "scope",
		},
		Error: oauth2Errors,
	}
}

// OffBlocks is the OffBlocks API's token request:
//
//	POST /v1/auth/token  {"apiKey":"…","apiSecret":"…"}
//	200 {"token":"eyJ…","expiresAt":1700003600,"tokenType":"Bearer"}
//
// There is no grant type and no refresh token: the source asks again with
// the key and secret before the token expires.
func OffBlocks() Dialect {
	return Dialect{
		Name:     "OffBlocks",
		Request:  RequestFields{ClientID: "apiKey", ClientSecret: "apiSecret"},
		Response: ResponseFields{AccessToken: "token", ExpiresAt: "expiresAt", TokenType: "tokenType"},
	}
}

// Bloq is the Bloq API's token request:
//
//	POST /auth/token  {"grantType":"clientCredentials","clientId":"…","clientSecret":"…"}
//	POST /auth/token  {"grantType":"refreshToken","refreshToken":"pcr_…"}
//	200 {"accessToken":"eyJ…","refreshToken":"pcr_…"}
//
// The answer says nothing of the token's lifetime, so the source reads the
// JWT's exp. A refresh sends the refresh token alone, as Bloq documents
// it; errors are {"code","message"}.
func Bloq() Dialect {
	return Dialect{
		Name: "Bloq",
		Request: RequestFields{
			GrantType: "grantType", ClientID: "clientId", ClientSecret: "clientSecret", RefreshToken: "refreshToken",
		},
		GrantTypes: GrantTypes{ClientCredentials: "clientCredentials", RefreshToken: "refreshToken"},
		Response:   ResponseFields{AccessToken: "accessToken", RefreshToken: "refreshToken"},
		Error:      ErrorFields{Code: "code", Description: "message"},
	}
}

// DataCrunch is the DataCrunch API's token request, RFC 6749's names in a
// JSON body, as its documentation sends them:
//
//	POST /v1/oauth2/token  {"grant_type":"client_credentials","client_id":"…","client_secret":"…"}
//	POST /v1/oauth2/token  {"grant_type":"refresh_token","client_id":"…","client_secret":"…","refresh_token":"…"}
//	200 {"access_token":"…","token_type":"Bearer","expires_in":3600,"refresh_token":"…","scope":"fullAccess"}
//
// A refresh carries the client's credentials, as DataCrunch's Go SDK sends
// them: a server that requires them gets them, one that does not ignores
// them.
func DataCrunch() Dialect {
	d := OAuth2()
	d.Name = "DataCrunch"
	d.Form, d.Basic = false, false
	return d
}

// Generic is a common camelCase token request:
//
//	POST /token  {"clientId":"…","secret":"…"}
//	200 {"accessToken":"4172bbf1-…","tokenType":"Bearer","expiresIn":1800}
func Generic() Dialect {
	return Dialect{
		Name:     "generic",
		Request:  RequestFields{ClientID: "clientId", ClientSecret: "secret"},
		Response: ResponseFields{AccessToken: "accessToken", TokenType: "tokenType", ExpiresIn: "expiresIn"},
	}
}

// withDefaults fills in the defaults and refuses a declaration that cannot
// work, so that a mistake shows in New rather than at the first request.
func (d Dialect) withDefaults() (Dialect, error) {
	if d == (Dialect{}) {
		d = OAuth2()
	}
	if d.GrantTypes.ClientCredentials == "" {
		d.GrantTypes.ClientCredentials = "client_credentials"
	}
	if d.GrantTypes.RefreshToken == "" {
		d.GrantTypes.RefreshToken = "refresh_token"
	}
	if d.Error == (ErrorFields{}) {
		d.Error = oauth2Errors
	}
	bad := func(format string, args ...any) (Dialect, error) {
		return Dialect{}, fmt.Errorf("tokensource: dialect %q: "+format, append([]any{d.Name}, args...)...)
	}
	f := d.Request
	if !d.Basic && (f.ClientID == "" || f.ClientSecret == "") {
		return bad("no way to send the client's credentials: name Request.ClientID and ClientSecret, or set Basic")
	}
	if err := distinct(f.GrantType, f.ClientID, f.ClientSecret, f.RefreshToken, f.Scope); err != nil {
		return bad("Request: %v", err)
	}
	r := d.Response
	if r.AccessToken == "" {
		return bad("Response.AccessToken must be named")
	}
	if err := distinct(r.AccessToken, r.TokenType, r.ExpiresIn, r.ExpiresAt, r.RefreshToken, r.Scope); err != nil {
		return bad("Response: %v", err)
	}
	if d.Error.Code == "" {
		return bad("Error.Code must be named")
	}
	if err := distinct(d.Error.Code, d.Error.Description, d.Error.URI); err != nil {
		return bad("Error: %v", err)
	}
	return d, nil
}

// refreshes reports whether the dialect can use a refresh token: it must
// be able to ask for one and to say which grant it is using.
func (d Dialect) refreshes() bool {
	return d.Request.GrantType != "" && d.Request.RefreshToken != "" && d.Response.RefreshToken != ""
}

// distinct reports a name that appears twice among the non-empty names.
func distinct(names ...string) error {
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
