// Package chiauth guards chi routes with Portcullis access tokens and mounts
// the issuer's endpoints on a chi router.
//
// chi middleware is func(http.Handler) http.Handler, which is exactly
// [middleware.Guard.Wrap], so this package adds no verification of its
// own: it names the pieces the chi way. Refusals are the guard's, byte for
// byte what net/http and gin send.
//
//	guard, _ := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}})
//	r := chi.NewRouter()
//	chiauth.Mount(r, iss) // token, revoke, introspect, JWKS, metadata…
//	r.Route("/v1", func(r chi.Router) {
//		r.Use(chiauth.Middleware(guard))
//		r.Get("/reports", listReports)
//		r.With(chiauth.Require(guard, "reports:write")).Delete("/reports/{id}", deleteReport)
//	})
//
// A handler finds who called with [Principal] (or
// [middleware.PrincipalFrom] on the request context). The principal may be
// shared by every request that presents the same token: read it, never
// modify it.
package chiauth

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

// Middleware returns g as chi middleware: a request reaches the next handler
// only with a token that g accepts.
func Middleware(g *middleware.Guard) func(http.Handler) http.Handler { return g.Wrap }

// Require returns middleware for a copy of g that also requires scopes, for
// one route (r.With(chiauth.Require(guard, "admin")).Get(…)) or a group
// (r.Use inside r.Group or r.Route).
func Require(g *middleware.Guard, scopes ...string) func(http.Handler) http.Handler {
	return g.Require(scopes...).Wrap
}

// Principal returns the principal the middleware accepted for r. ok is
// false on a route that is not guarded.
func Principal(r *http.Request) (*middleware.Principal, bool) {
	return middleware.PrincipalFrom(r.Context())
}

// Mount serves the issuer's endpoints on r at the paths of iss.Paths():
// token, revocation, introspection, credentials, JWKS and metadata. Every
// method is routed to the issuer, which answers 405 itself to the ones an
// endpoint does not take. Mount on the root router (or a sub-router whose
// prefix is part of the issuer URL), so that the metadata's URLs reach
// these routes.
func Mount(r chi.Router, iss *issuer.Issuer) {
	for _, rt := range iss.Routes() {
		r.Handle(rt.Path, rt.Handler)
		if rt.Subtree {
			r.Handle(rt.Path+"/*", rt.Handler)
		}
	}
}
