package issuer

import (
	"net/http"
	"time"
)

// Dialect is the wire format of the token endpoint: how a token request is
// decoded and how the success and error responses are written. [OAuth2] is
// the default; a seed API with another format implements its own.
//
// Before a Dialect is called, the issuer has already refused every method
// but POST, every request with a URL query (secrets must never travel in
// URLs), and bounded r.Body with [http.MaxBytesReader]; it has also set
// Cache-Control: no-store and Pragma: no-cache on the response. A Dialect
// must:
//
//   - read parameters only from the body and the Authorization header;
//   - refuse a repeated parameter and a request that authenticates the
//     client in two ways, with invalid_request;
//   - treat a parameter with an empty value as absent (RFC 6749 §3.1);
//   - report in [TokenRequest.AuthMethod] exactly how the client
//     authenticated, since the issuer relies on it;
//   - return an error, never panic, on any input (the issuer answers a
//     non-[*Error] error with invalid_request);
//   - write error bodies that depend only on the [*Error], so that an
//     unknown client id and a wrong secret look the same.
type Dialect interface {
	// DecodeTokenRequest reads a token request.
	DecodeTokenRequest(r *http.Request) (*TokenRequest, error)
	// WriteTokenResponse writes a successful token response.
	WriteTokenResponse(w http.ResponseWriter, r *http.Request, resp *TokenResponse)
	// WriteError writes an error response with err.Status.
	WriteError(w http.ResponseWriter, r *http.Request, err *Error)
}

// AuthMethod says how a client authenticated at the token endpoint, named
// as in the RFC 7591 registry.
type AuthMethod string

// Client authentication methods.
const (
	// AuthNone: no client secret was presented (perhaps a bare client_id).
	AuthNone AuthMethod = "none"
	// AuthBasic: HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
	AuthBasic AuthMethod = "client_secret_basic"
	// AuthPost: client_id and client_secret in the request body.
	AuthPost AuthMethod = "client_secret_post"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	// GrantLogin is no OAuth grant type: it names an account's login at
	// the login endpoint in hooks.
	GrantLogin = "login"
)

// TokenRequest is a decoded token request, whatever the dialect.
type TokenRequest struct {
	GrantType    string
	ClientID     string
	ClientSecret string
	// AuthMethod is how the client authenticated; AuthNone when it sent no
	// secret.
	AuthMethod AuthMethod
	// Scope is the requested scope, space-separated as in RFC 6749 §3.3;
	// empty asks for every scope the client is allowed.
	Scope        string
	RefreshToken string
	// Params are the request's raw body parameters as the dialect read
	// them, so that a grant or a dialect can read its own.
	Params map[string]string
}

// TokenResponse is a successful token response, whatever the dialect.
type TokenResponse struct {
	AccessToken string
	// TokenType is "Bearer".
	TokenType string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64
	// ExpiresAt is when the access token expires, for dialects that send a
	// timestamp instead.
	ExpiresAt time.Time
	// RefreshToken is empty unless refresh tokens are enabled.
	RefreshToken string
	// Scope is the granted scope, space-separated; empty when none.
	Scope string

	// mintedAccess and mintedRefresh are AccessToken and RefreshToken as
	// the issuer minted them, which OAuth2 writes without JSON escaping
	// (see appendMinted). A dialect that replaces a token, in a copy of
	// the response or in place, leaves these behind, and its token is
	// escaped as any string.
	mintedAccess, mintedRefresh string
}
