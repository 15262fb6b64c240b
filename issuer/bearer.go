package issuer

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/token"
)

// authorizeBearer is the one authentication path of the endpoints that
// take a bearer token (credentials, account keys): it verifies the token
// with the issuer's verifier and requires one of kinds. On failure it has
// answered with an RFC 6750 challenge (401 invalid_token, or a bare
// challenge without a token; 503 when the store cannot answer), told the
// AuthFailed hook, and returns false.
func (i *Issuer) authorizeBearer(w http.ResponseWriter, r *http.Request, kinds ...string) (*token.Principal, bool) {
	ctx := r.Context()
	raw, e := bearer(r)
	if e != nil {
		bearerError(w, e)
		return nil, false
	}
	p, err := i.verifier.Verify(ctx, raw)
	subject := SubjectClient
	if slices.Contains(kinds, KindAccount) {
		subject = SubjectAccount
	}
	refuse := func(reason string, cause error) (*token.Principal, bool) {
		i.cfg.Hooks.authFailed(ctx, AuthFailed{Subject: subject, Reason: reason, Address: i.cfg.ClientIP(r)})
		bearerError(w, errInvalidBearer.WithCause(cause))
		return nil, false
	}
	switch {
	case errors.Is(err, token.ErrUnavailable):
		WriteError(w, i.unavailable(ctx, "verify", err))
		return nil, false
	case err != nil:
		return refuse(ReasonInvalidToken, err)
	case !slices.Contains(kinds, p.Kind):
		return refuse(ReasonWrongTokenKind, errors.New("a "+p.Kind+" token where "+strings.Join(kinds, " or ")+" is required"))
	}
	return p, true
}

// methodIn reports whether method is in allow, a list like "GET, POST".
func methodIn(method, allow string) bool {
	for m := range strings.SplitSeq(allow, ", ") {
		if m == method {
			return true
		}
	}
	return false
}
