package issuer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
}

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
	p, err := readParams(r)
	if err != nil {
		return nil, err
	}
	id, secret, method, err := clientAuth(r, p)
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
	}, nil
}

// clientAuth finds the client's credentials in the Authorization header or
// the body parameters p: one method only.
func clientAuth(r *http.Request, p map[string]string) (id, secret string, m AuthMethod, err error) {
	bid, bsecret, basic, err := basicAuth(r)
	if err != nil {
		return "", "", "", err
	}
	switch {
	case basic:
		if p["client_secret"] != "" {
			return "", "", "", ErrInvalidRequest.WithDescription("the client authenticated with both HTTP Basic and client_secret")
		}
		// x/oauth2 and others may repeat client_id in the body next to
		// Basic; that is one method, as long as they agree.
		if pid := p["client_id"]; pid != "" && pid != bid {
			return "", "", "", ErrInvalidRequest.WithDescription("client_id differs from the HTTP Basic user")
		}
		return bid, bsecret, AuthBasic, nil
	case p["client_secret"] != "":
		return p["client_id"], p["client_secret"], AuthPost, nil
	}
	return p["client_id"], "", AuthNone, nil
}

// WriteTokenResponse implements [Dialect].
func (d OAuth2) WriteTokenResponse(w http.ResponseWriter, _ *http.Request, resp *TokenResponse) {
	writeJSON(w, http.StatusOK, oauth2Token{
		AccessToken:  resp.AccessToken,
		TokenType:    resp.TokenType,
		ExpiresIn:    resp.ExpiresIn,
		RefreshToken: resp.RefreshToken,
		Scope:        resp.Scope,
	})
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
	writeError(w, err)
}

type oauth2Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
}

// writeError writes err as an RFC 6749 §5.2 JSON body with err's status.
func writeError(w http.ResponseWriter, err *Error) {
	writeJSON(w, err.status(), errorBody{Error: err.Code, Description: err.Description, URI: err.URI})
}

// writeJSON writes v as JSON with the status; v is always one of our own
// types, so encoding cannot fail.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

var errTooLarge = ErrInvalidRequest.WithDescription("request body too large")

// readParams reads the parameters of a POST body: form-encoded or JSON, one
// string value per name, empty values dropped (RFC 6749 §3.1).
func readParams(r *http.Request) (map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, ErrInvalidRequest.WithDescription("missing Content-Type")
	}
	mt, mparams, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("malformed Content-Type").WithCause(err)
	}
	if cs, ok := mparams["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, ErrInvalidRequest.WithDescription("unsupported charset")
	}
	isJSON := false
	switch mt {
	case "application/x-www-form-urlencoded":
	case "application/json":
		isJSON = true
	default:
		return nil, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	if r.Body == nil {
		return nil, ErrInvalidRequest.WithDescription("missing request body")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge.WithCause(err)
		}
		return nil, ErrInvalidRequest.WithDescription("could not read the request body").WithCause(err)
	}
	if isJSON {
		return parseJSONParams(body)
	}
	return parseFormParams(body)
}

func parseFormParams(body []byte) (map[string]string, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("malformed form body").WithCause(err)
	}
	p := make(map[string]string, len(vals))
	for k, vs := range vals {
		if len(vs) > 1 {
			return nil, ErrInvalidRequest.WithDescription("repeated parameter " + safeName(k))
		}
		if vs[0] != "" {
			p[k] = vs[0]
		}
	}
	return p, nil
}

// parseJSONParams accepts exactly one JSON object whose values are all
// strings, with no repeated names.
func parseJSONParams(body []byte) (map[string]string, error) {
	bad := func(desc string, cause error) error {
		return ErrInvalidRequest.WithDescription(desc).WithCause(cause)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("the body must be a JSON object", err)
	}
	p := make(map[string]string)
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("malformed JSON", err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, bad("malformed JSON", nil)
		}
		if seen[k] {
			return nil, bad("repeated parameter "+safeName(k), nil)
		}
		seen[k] = true
		tok, err = dec.Token()
		if err != nil {
			return nil, bad("malformed JSON", err)
		}
		v, ok := tok.(string)
		if !ok {
			return nil, bad("parameter "+safeName(k)+" must be a string", nil)
		}
		if v != "" {
			p[k] = v
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, bad("malformed JSON", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("trailing data after the JSON object", err)
	}
	return p, nil
}

// safeName quotes a parameter name for an error description, which RFC
// 6749 §5.2 limits to printable ASCII without '"' and '\'.
func safeName(s string) string {
	const max = 40
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s) && i < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '\'' {
			c = '?'
		}
		b.WriteByte(c)
	}
	if len(s) > max {
		b.WriteString("...")
	}
	b.WriteByte('\'')
	return b.String()
}

// basicAuth parses an HTTP Basic Authorization header. basic is false when
// there is none; another scheme is invalid_client (an authentication method
// this endpoint does not support), a malformed one invalid_request.
func basicAuth(r *http.Request) (id, secret string, basic bool, err error) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", "", false, nil
	}
	if len(hs) > 1 {
		return "", "", false, ErrInvalidRequest.WithDescription("repeated Authorization header")
	}
	scheme, payload, _ := strings.Cut(hs[0], " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, ErrInvalidClient.WithDescription("unsupported authentication scheme")
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimLeft(payload, " "))
	if derr != nil {
		return "", "", false, ErrInvalidRequest.WithDescription("malformed HTTP Basic credentials").WithCause(derr)
	}
	eid, esecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", false, ErrInvalidRequest.WithDescription("malformed HTTP Basic credentials")
	}
	// RFC 6749 §2.3.1: both are form-encoded before Basic encoding.
	if id, err = url.QueryUnescape(eid); err == nil {
		secret, err = url.QueryUnescape(esecret)
	}
	if err != nil {
		return "", "", false, ErrInvalidRequest.WithDescription("malformed HTTP Basic credentials").WithCause(err)
	}
	return id, secret, true, nil
}
