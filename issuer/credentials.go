package issuer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

var (
	errNoBearer      = &Error{Status: http.StatusUnauthorized}
	errBadBearer     = ErrInvalidRequest.WithDescription("malformed bearer token")
	errInvalidBearer = ErrInvalidToken.WithDescription("the access token is invalid")
)

var credentialsEndpoint = endpoint{
	name:        "credentials",
	path:        func(p *Paths) *string { return &p.Credentials },
	defaultPath: "/oauth/credentials",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveCredentials },
	describe:    func(_ *Issuer, m *document, url string) { m.add("portcullis_credentials_endpoint", url) },
}

// serveCredentials rotates the credentials of the client whose access
// token is presented (Authorization: Bearer, a token of kind "client"):
// the answer is 200 {"client_id":…,"client_secret":…} with the new secret,
// and every token issued before, including the one presented, is refused
// from then on. Of two rotations with the same token, one wins and the
// other gets invalid_token. Errors follow RFC 6750 like the middleware's:
// no token is 401 with a bare Bearer challenge and no body; a bad one 401
// invalid_token; a store failure 503.
func (i *Issuer) serveCredentials(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be POST"))
		return
	}
	ctx := r.Context()
	raw, e := bearer(r)
	if e != nil {
		bearerError(w, e)
		return
	}
	p, err := i.verifier.Verify(ctx, raw)
	switch {
	case errors.Is(err, token.ErrUnavailable):
		WriteError(w, i.unavailable(ctx, "verify", err))
		return
	case err != nil:
		bearerError(w, errInvalidBearer.WithCause(err))
		return
	case p.Kind != token.KindClient || p.ClientID == "":
		bearerError(w, errInvalidBearer.WithCause(errors.New("not a client token")))
		return
	}
	gen := p.Generation
	secret, err := i.rotate(ctx, p.ClientID, token.NewClientSecret(), &gen)
	switch {
	case errors.Is(err, errGenerationMoved) || errors.Is(err, store.ErrNotFound):
		bearerError(w, errInvalidBearer.WithCause(err))
		return
	case err != nil:
		WriteError(w, i.unavailable(ctx, "rotate client", err))
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{p.ClientID, secret})
}

// bearer extracts an RFC 6750 §2.1 bearer token. No token (or another
// scheme) is errNoBearer.
func bearer(r *http.Request) (string, *Error) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", errNoBearer
	}
	if len(hs) > 1 {
		return "", errBadBearer
	}
	scheme, tok, _ := strings.Cut(hs[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errNoBearer
	}
	if !b64token(tok) {
		return "", errBadBearer
	}
	return tok, nil
}

// b64token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	if s == "" || len(s) > 8<<10 {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// bearerError writes e with an RFC 6750 §3 challenge; errNoBearer gets a
// bare challenge and no body (§3.1).
func bearerError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	if e.Code == "" {
		h.Set("WWW-Authenticate", "Bearer")
		h.Set("Content-Length", "0")
		w.WriteHeader(e.status())
		return
	}
	h.Set("WWW-Authenticate", `Bearer error="`+e.Code+`", error_description="`+e.Description+`"`)
	WriteError(w, e)
}
