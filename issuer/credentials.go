package issuer

import (
	"errors"
	"net/http"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// serveCredentials rotates the credentials of the client whose access
// token is presented (Authorization: Bearer, a token of kind "client"):
// the answer is 200 {"client_id":…,"client_secret":…} with the new secret,
// and every token issued before, including the one presented, is refused
// from then on. Of two rotations with the same token, one wins and the
// other gets invalid_token. Errors are the middleware's, byte for byte
// (read by middleware.BearerToken, written by middleware.WriteError): no
// token is 401 with a bare Bearer challenge and no body; a malformed
// request 400 invalid_request; a bad token 401 invalid_token; a store
// failure 503.
func (i *Issuer) serveCredentials(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be POST"))
		return
	}
	ctx := r.Context()
	raw, err := middleware.BearerToken(r)
	if err != nil {
		middleware.WriteError(w, r, err)
		return
	}
	p, err := i.verifier.Verify(ctx, raw)
	switch {
	case errors.Is(err, middleware.ErrUnavailable):
		writeError(w, i.unavailable(ctx, "verify", err))
		return
	case err != nil:
		middleware.WriteError(w, r, err)
		return
	case p.Kind != token.KindClient || p.ClientID == "":
		middleware.WriteError(w, r, middleware.ErrInvalidToken)
		return
	}
	gen := p.Generation
	secret, err := i.rotate(ctx, p.ClientID, token.NewClientSecret(), &gen)
	switch {
	case errors.Is(err, errGenerationMoved) || errors.Is(err, store.ErrNotFound):
		middleware.WriteError(w, r, middleware.ErrInvalidToken)
		return
	case err != nil:
		writeError(w, i.unavailable(ctx, "rotate client", err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{p.ClientID, secret})
}
