package issuer

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/middleware"
)

// authorizeBearer is the one authentication path of the endpoints that
// take a bearer token (credentials, account keys): it reads the token with
// the middleware's RFC 6750 parser, verifies it with the issuer's
// verifier, and requires one of kinds (a client token also needs a client
// id). On failure it has answered exactly as a guard would (401 with an
// RFC 6750 challenge, 400 for a malformed request, 503 when the store
// cannot answer), told the AuthFailed hook, and returns false.
func (i *Issuer) authorizeBearer(w http.ResponseWriter, r *http.Request, kinds ...string) (*middleware.Principal, bool) {
	return i.authorizeBearerOr(w, r, nil, kinds...)
}

// authorizeBearerOr is authorizeBearer with a second chance: before it
// refuses a token that does not verify, replay (when set) may answer the
// request itself, and reports whether it did; then nothing else is
// written or told, and it returns false.
func (i *Issuer) authorizeBearerOr(w http.ResponseWriter, r *http.Request, replay func(raw string) bool, kinds ...string) (*middleware.Principal, bool) {
	ctx := r.Context()
	raw, err := middleware.BearerToken(r)
	if err != nil {
		middleware.WriteError(w, r, err)
		return nil, false
	}
	subject := SubjectClient
	if slices.Contains(kinds, KindAccount) {
		subject = SubjectAccount
	}
	refuse := func(reason string, cause error) (*middleware.Principal, bool) {
		call(ctx, i.cfg.Hooks.AuthFailed, AuthFailed{Subject: subject, Reason: reason, Address: i.cfg.ClientIP(r)})
		i.log.DebugContext(ctx, "issuer: bearer token refused", "path", r.URL.Path, "err", cause)
		middleware.WriteError(w, r, middleware.ErrInvalidToken)
		return nil, false
	}
	p, err := i.verifier.Verify(ctx, raw)
	switch {
	case errors.Is(err, middleware.ErrUnavailable):
		WriteError(w, i.unavailable(ctx, "verify", err))
		return nil, false
	case err != nil:
		if replay != nil && replay(raw) {
			return nil, false
		}
		return refuse(ReasonInvalidToken, err)
	case !slices.Contains(kinds, p.Kind) || (p.Kind == KindClient && p.ClientID == ""):
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
