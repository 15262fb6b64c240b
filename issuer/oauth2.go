package issuer

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/portcullis/portcullis/internal/token"
)

// OAuth2 is the RFC 6749 dialect: the request body is
// application/x-www-form-urlencoded (as RFC 6749 §4.4.2 requires) or
// application/json with string values only; the client authenticates with
// HTTP Basic (client_secret_basic, id and secret form-encoded per §2.3.1)
// or with client_id and client_secret in the body (client_secret_post),
// never both; responses are snake_case JSON (§5.1) and errors are §5.2.
type OAuth2 struct {
	// Realm is the realm of the WWW-Authenticate: Basic challenge sent with
	// every invalid_client. Default "oauth2".
	Realm string
}

// DecodeTokenRequest implements [Dialect].
func (d OAuth2) DecodeTokenRequest(r *http.Request) (*TokenRequest, error) {
	p, err := ReadParams(r)
	if err != nil {
		return nil, err
	}
	id, secret, method, err := ClientAuth(r, p)
	if err != nil {
		return nil, err
	}
	return &TokenRequest{
		GrantType:    p["grant_type"],
		ClientID:     id,
		ClientSecret: secret,
		AuthMethod:   method,
		Scope:        p["scope"],
		RefreshToken: p["refresh_token"],
		Params:       p,
	}, nil
}

// WriteTokenResponse implements [Dialect]: access_token, token_type,
// expires_in, and refresh_token and scope when set (RFC 6749 §5.1). The
// JSON is appended by hand, with encoding/json's escaping: this runs once
// per token issued.
func (d OAuth2) WriteTokenResponse(w http.ResponseWriter, _ *http.Request, resp *TokenResponse) {
	buf := responseBuffers.Get().(*[]byte)
	defer putResponseBuffer(buf)
	b := (*buf)[:0]
	b = append(b, `{"access_token":`...)
	b = appendMinted(b, resp.AccessToken, resp.mintedAccess)
	b = append(b, `,"token_type":`...)
	b = token.AppendJSONString(b, resp.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, resp.ExpiresIn, 10)
	if resp.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendMinted(b, resp.RefreshToken, resp.mintedRefresh)
	}
	if resp.Scope != "" {
		b = append(b, `,"scope":`...)
		b = token.AppendJSONString(b, resp.Scope)
	}
	b = append(b, '}')
	*buf = b
	writeJSONBytes(w, http.StatusOK, b)
}

// appendMinted appends tok as a JSON string. When tok is minted, the token
// as the issuer made it, it is copied between quotes without a scan: a JWS
// is base64url segments and dots, an opaque token or a refresh token a
// prefix, '_' and base62, a UUID hex and dashes, none of which JSON
// escapes (TestMintedTokensNeedNoEscaping holds them to it), and scanning
// a signed token byte by byte was a third of the work of writing the
// response. The comparison is one of pointers when tok is minted (the
// same bytes: Go compares those first); any other token is escaped as
// every string is.
func appendMinted(b []byte, tok, minted string) []byte {
	if tok != minted {
		return token.AppendJSONString(b, tok)
	}
	b = append(b, '"')
	b = append(b, tok...)
	return append(b, '"')
}

// responseBuffers hold token responses while they are written: a
// ResponseWriter copies what it is given (io.Writer must not retain it),
// so the half-kilobyte a response takes need not be allocated for every
// token issued. Stateless like the rest of the package: a sync.Pool is
// only a cache.
var responseBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// putResponseBuffer returns b to the pool, unless a very large response
// (a huge token) grew it: the pool would keep that memory alive.
func putResponseBuffer(b *[]byte) {
	if cap(*b) <= 8<<10 {
		responseBuffers.Put(b)
	}
}

// WriteError implements [Dialect]: the §5.2 JSON body, with
// WWW-Authenticate: Basic on every invalid_client. §5.2 requires the
// challenge when the client used the Authorization header, and RFC 9110
// §15.5.2 requires one on every 401; sending it whatever the method also
// keeps the answer independent of how the client tried.
func (d OAuth2) WriteError(w http.ResponseWriter, r *http.Request, err *Error) {
	if err.Code == ErrInvalidClient.Code {
		realm := d.Realm
		if realm == "" {
			realm = "oauth2"
		}
		w.Header().Set("WWW-Authenticate", "Basic realm="+strconv.Quote(realm))
	}
	WriteError(w, err)
}
