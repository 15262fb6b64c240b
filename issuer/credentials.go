package issuer

import (
	"errors"
	"net/http"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
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
// other gets invalid_token. Errors are the middleware's, byte for byte
// (see [Issuer.authorizeBearer]): no token is 401 with a bare Bearer
// challenge and no body; a malformed request 400 invalid_request; a bad
// token 401 invalid_token; a store failure 503.
func (i *Issuer) serveCredentials(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be POST"))
		return
	}
	p, ok := i.authorizeBearer(w, r, KindClient)
	if !ok {
		return
	}
	ctx := r.Context()
	gen := p.Generation
	secret, err := i.rotate(ctx, p.ClientID, token.NewClientSecret(), &gen)
	switch {
	case errors.Is(err, errGenerationMoved) || errors.Is(err, store.ErrNotFound):
		middleware.WriteError(w, r, middleware.ErrInvalidToken)
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
