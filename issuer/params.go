package issuer

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The building blocks below are what the OAuth2 dialect is made of,
// exported so that a dialect written outside this package keeps the
// [Dialect] contract: the strict parameter reader, RFC 6749 §2.3.1 client
// authentication, and the JSON writers.

// ClientAuth finds the client's credentials (RFC 6749 §2.3.1) in the
// Authorization header (HTTP Basic, see [BasicAuth]) or in the body
// parameters p (client_id and client_secret, or client_assertion_type and
// client_assertion), and refuses a request that uses more than one method
// (RFC 6749 §2.3). A bare client_id with no secret is AuthNone. With a
// client assertion it returns AuthPrivateKeyJWT and the client_id
// parameter, which may be empty (the assertion's sub names the client);
// the issuer verifies the assertion from p. Its errors are [*Error]s to
// return as they are.
func ClientAuth(r *http.Request, p map[string]string) (id, secret string, m AuthMethod, err error) {
	bid, bsecret, basic, err := BasicAuth(r)
	if err != nil {
		return "", "", "", err
	}
	switch {
	case p["client_assertion_type"] != "" || p["client_assertion"] != "":
		switch {
		case basic || p["client_secret"] != "":
			return "", "", "", ErrInvalidRequest.WithDescription("the client used more than one authentication method")
		case p["client_assertion_type"] != AssertionTypeJWTBearer:
			return "", "", "", ErrInvalidClient.WithDescription("unsupported client_assertion_type")
		case p["client_assertion"] == "":
			return "", "", "", ErrInvalidRequest.WithDescription("missing client_assertion")
		}
		return p["client_id"], "", AuthPrivateKeyJWT, nil
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

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
}

// WriteError writes err as an RFC 6749 §5.2 JSON body
// ({"error","error_description","error_uri"}) with err's status. It sets
// no challenge: a dialect adds WWW-Authenticate where its errors need one
// (see [OAuth2.WriteError]). It sets Retry-After on the issuer's own 429s
// and 503s.
func WriteError(w http.ResponseWriter, err *Error) {
	if err.retryAfter > 0 {
		setRetryAfter(w.Header(), err.retryAfter)
	}
	WriteJSON(w, err.status(), errorBody{Error: err.Code, Description: err.Description, URI: err.URI})
}

// WriteJSON writes v as a JSON response with the status and an exact
// Content-Length. A v that cannot be encoded is a programming error in the
// dialect: the client gets a 500 server_error rather than half a body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: ErrServerError.Code})
	}
	writeJSONBytes(w, status, b)
}

// writeJSONBytes answers status with the JSON document b.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	setHeaders(w.Header(), "Content-Type", "application/json", "Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// setHeaders sets two header fields, whose names must be in canonical
// form, as two Header.Set calls would, with their values in one
// allocation rather than two. Each value slice has its capacity capped at
// one, so that a later Header.Add of either reallocates instead of
// writing into the other.
func setHeaders(h http.Header, k1, v1, k2, v2 string) {
	vs := &[2]string{v1, v2}
	h[k1] = vs[0:1:1]
	h[k2] = vs[1:2:2]
}

var errTooLarge = ErrInvalidRequest.WithDescription("request body too large")

// The media types of a token request body.
const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// ReadParams reads the parameters of a POST body strictly, as RFC 6749
// asks: application/x-www-form-urlencoded or application/json (an object
// whose values are all strings), UTF-8, each name at most once (a repeated
// form parameter or a duplicate JSON key is invalid_request), empty values
// dropped (§3.1). It reads at most what r.Body yields: the issuer bounds
// the body before a dialect runs. Its errors are [*Error]s to return as
// they are.
func ReadParams(r *http.Request) (map[string]string, error) {
	// The canonical key looked up as it is, as for Authorization in
	// decodeBasic.
	var ct string
	if v := r.Header["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	if ct == "" {
		return nil, ErrInvalidRequest.WithDescription("missing Content-Type")
	}
	mt := ct
	if ct != formType && ct != jsonType {
		// Parameters, odd case or spacing: the full parse (the two plain
		// spellings above are what nearly every client sends).
		var mparams map[string]string
		var err error
		if mt, mparams, err = mime.ParseMediaType(ct); err != nil {
			return nil, ErrInvalidRequest.WithDescription("malformed Content-Type").WithCause(err)
		}
		if cs, ok := mparams["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return nil, ErrInvalidRequest.WithDescription("unsupported charset")
		}
	}
	isJSON := false
	switch mt {
	case formType:
	case jsonType:
		isJSON = true
	default:
		return nil, ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	if r.Body == nil {
		return nil, ErrInvalidRequest.WithDescription("missing request body")
	}
	body, err := readBody(r.Body, r.ContentLength)
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

// readBody reads rd to its end, as io.ReadAll does, into a buffer sized
// for the declared Content-Length n (when there is one) rather than
// io.ReadAll's 512 bytes and up: a token request's body is some forty
// bytes. A body longer than declared is still read whole (the caller's
// MaxBytesReader is what bounds it), and one shorter is returned as it is.
func readBody(rd io.Reader, n int64) ([]byte, error) {
	const maxHint = 4 << 10
	if n <= 0 || n > maxHint {
		return io.ReadAll(rd)
	}
	// One spare byte, so that a body of exactly n bytes ends with the
	// EOF read into it, not with a grown buffer.
	b := make([]byte, 0, n+1)
	for {
		m, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func parseFormParams(body []byte) (map[string]string, error) {
	// url.ParseQuery's rules (pairs split on '&', a ';' refused, empty
	// pairs skipped, a missing '=' an empty value), straight into the one
	// map: no []string per value. An error from any pair wins over a
	// repeated name, as when the whole body was parsed first.
	p := make(map[string]string, 4)
	var malformed error
	var repeated string
	dup, empty := false, false
	rest := string(body)
	escaped := hasEscapes(rest)
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if strings.Contains(pair, ";") {
			malformed = cmp.Or(malformed, errors.New("invalid semicolon separator in query"))
			continue
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if escaped {
			var err error
			if k, err = url.QueryUnescape(k); err == nil {
				v, err = url.QueryUnescape(v)
			}
			if err != nil {
				malformed = cmp.Or(malformed, err)
				continue
			}
		}
		if _, seen := p[k]; seen && !dup {
			dup, repeated = true, k
		}
		p[k] = v
		empty = empty || v == ""
	}
	switch {
	case malformed != nil:
		return nil, ErrInvalidRequest.WithDescription("malformed form body").WithCause(malformed)
	case dup:
		return nil, ErrInvalidRequest.WithDescription("repeated parameter " + safeName(repeated))
	}
	if empty {
		for k, v := range p {
			if v == "" {
				delete(p, k) // RFC 6749 §3.1: an empty value is an omitted one
			}
		}
	}
	return p, nil
}

// hasEscapes reports whether s holds a '%' or a '+', the only bytes
// url.QueryUnescape changes or refuses: without them it returns s as it
// is. Two vectorised IndexByte scans of a whole body or Basic credential
// decide that for every name and value in it at once, where
// QueryUnescape's own check walks each byte by byte.
func hasEscapes(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
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

// BasicAuth parses an HTTP Basic Authorization header carrying client
// credentials, whose id and secret RFC 6749 §2.3.1 form-encodes before the
// Basic encoding (x/oauth2 does; a "+" in a secret must arrive as "%2B").
// basic is false when there is no Authorization header; another scheme is
// invalid_client (an authentication method this endpoint does not
// support), a repeated header or a malformed one invalid_request.
func BasicAuth(r *http.Request) (id, secret string, basic bool, err error) {
	return decodeBasic(r, true)
}

// decodeBasic parses HTTP Basic credentials, form-decoding them when
// formEncoded (client credentials, RFC 6749 §2.3.1) and taking them as
// they are otherwise (an account's login and password, RFC 7617).
func decodeBasic(r *http.Request, formEncoded bool) (id, secret string, basic bool, err error) {
	// The canonical key looked up as it is: Header.Values would
	// canonicalise it again on every request.
	hs := r.Header["Authorization"]
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
	// Decoded on the stack when they fit, as they nearly always do, so
	// that the string below is their one allocation.
	payload = strings.TrimLeft(payload, " ")
	var buf [192]byte
	raw := buf[:]
	if n := base64.StdEncoding.DecodedLen(len(payload)); n > len(raw) {
		raw = make([]byte, n)
	}
	n, derr := base64.StdEncoding.Decode(raw, []byte(payload))
	if derr != nil {
		return "", "", false, ErrInvalidRequest.WithDescription("malformed HTTP Basic credentials").WithCause(derr)
	}
	creds := string(raw[:n])
	eid, esecret, ok := strings.Cut(creds, ":")
	if !ok {
		return "", "", false, ErrInvalidRequest.WithDescription("malformed HTTP Basic credentials")
	}
	if !formEncoded {
		return eid, esecret, true, nil
	}
	// RFC 6749 §2.3.1: both are form-encoded before Basic encoding (and
	// decode to themselves without a '%' or a '+').
	if !hasEscapes(creds) {
		return eid, esecret, true, nil
	}
	if id, err = url.QueryUnescape(eid); err == nil {
		secret, err = url.QueryUnescape(esecret)
	}
	if err != nil {
		return "", "", false, ErrInvalidRequest.WithDescription("malformed HTTP Basic credentials").WithCause(err)
	}
	return id, secret, true, nil
}
