// Package httpauth guards net/http handlers with Portcullis access tokens
// and mounts the issuer's endpoints on an [http.ServeMux].
//
// net/http middleware is func(http.Handler) http.Handler, which is exactly
// [middleware.Guard.Wrap], so this package adds no verification of its
// own: it names the pieces the net/http way. Refusals are the guard's, byte
// for byte what gin and chi send.
//
//	guard, _ := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"reports:read"}})
//	mux := http.NewServeMux()
//	httpauth.Mount(mux, iss) // token, revoke, introspect, credentials, JWKS, metadata
//	mux.Handle("GET /v1/reports", httpauth.Protect(guard, listReports))
//	mux.Handle("DELETE /v1/reports/{id}", httpauth.Require(guard, "reports:write")(deleteReport))
//	mux.Handle("/", home) // your own routes on "/" do not collide with the issuer's
//
// # Principal
//
// A protected handler finds who called with [Principal] (or
// [middleware.PrincipalFrom] on the request context). The principal may be
// shared by every request that presents the same token: read it, never
// modify it.
package httpauth

import (
	"net/http"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

// Middleware returns g as net/http middleware: a request reaches the next
// handler only with a token that g accepts.
func Middleware(g *middleware.Guard) func(http.Handler) http.Handler { return g.Wrap }

// Protect returns h guarded by g, for mux.Handle(pattern, Protect(g, h)).
func Protect(g *middleware.Guard, h http.Handler) http.Handler { return g.Wrap(h) }

// Require returns middleware for a copy of g that also requires scopes,
// for one route or a subtree.
func Require(g *middleware.Guard, scopes ...string) func(http.Handler) http.Handler {
	return g.Require(scopes...).Wrap
}

// Principal returns the principal the guard accepted for r. ok is false on
// a route that is not guarded.
func Principal(r *http.Request) (*middleware.Principal, bool) {
	return middleware.PrincipalFrom(r.Context())
}

// Mount registers each of the issuer's endpoints on mux (token,
// revocation, introspection, credentials, JWKS and metadata), one exact
// pattern each, so that the application's own routes, "/" included, stay
// its own. Every method reaches the issuer, which answers 405 itself where
// an endpoint does not take it. Like mux.Handle, Mount panics when a
// pattern is already registered: a start-up programming error, not input.
func Mount(mux *http.ServeMux, iss *issuer.Issuer) {
	for _, rt := range iss.Routes() {
		mux.Handle(rt.Path, rt.Handler)
		if rt.Subtree {
			mux.Handle(rt.Path+"/", rt.Handler)
		}
	}
}
