// Package ginauth guards gin routes with Portcullis access tokens and mounts
// the issuer's endpoints on a gin engine.
//
// It is a thin layer over the framework-neutral [middleware.Guard]: the
// token is checked by [middleware.Guard.Authenticate], exactly as for
// net/http and chi, and a refusal is written by the guard's ErrorHandler
// (default [middleware.WriteError]) on the gin writer, so status,
// WWW-Authenticate and body are byte for byte what net/http would send.
//
//	guard, _ := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}})
//	r := gin.New()
//	ginauth.Mount(r, iss) // token, revoke, introspect, JWKS, metadata…
//	api := r.Group("/v1", ginauth.Middleware(guard))
//	api.GET("/reports", listReports)
//	api.DELETE("/reports/:id", ginauth.Require(guard, "reports:write"), deleteReport)
//
// # The principal
//
// A handler behind the middleware finds who called with [Principal], or
// with [middleware.PrincipalFrom] on c.Request.Context(), so that code
// written for net/http works unchanged: the principal is kept in the
// request's context only, not also in the gin context's Keys, whose map
// gin would allocate afresh for every request. The principal may be
// shared by every request that presents the same token: read it, never
// modify it.
//
// # Refusals
//
// A refused request is answered and the chain is stopped with c.Abort(): no
// later handler runs, whatever it checks. There is no "optional" mode: a
// route that must also serve anonymous callers should not be behind the
// middleware.
package ginauth

import (
	"github.com/gin-gonic/gin"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

// Middleware returns a gin handler that lets a request through only with a
// token that g accepts, and aborts it with the guard's error response
// otherwise. It does per request what [middleware.Guard.Wrap] does for
// net/http, and nothing more: Authenticate, then one request copy that
// carries the principal in its context.
func Middleware(g *middleware.Guard) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		p, err := g.Authenticate(r)
		if err != nil {
			g.Fail(c.Writer, r, err)
			c.Abort()
			return
		}
		if p.DPoPKey != "" {
			// As Wrap does: the current DPoP server nonce, when the
			// guard requires them.
			if n := g.DPoPNonce(); n != "" {
				c.Writer.Header().Set(middleware.DPoPNonceHeader, n)
			}
		}
		c.Request = middleware.RequestWithPrincipal(r, p)
		c.Next()
	}
}

// Require returns Middleware for a copy of g that also requires scopes,
// for one route or group:
//
//	admin := r.Group("/admin", ginauth.Require(guard, "admin"))
func Require(g *middleware.Guard, scopes ...string) gin.HandlerFunc {
	return Middleware(g.Require(scopes...))
}

// Principal returns the principal the middleware accepted for this request
// (or that any middleware.Guard put in c.Request's context). ok is false on
// a route that is not guarded.
func Principal(c *gin.Context) (p *middleware.Principal, ok bool) {
	return middleware.PrincipalFrom(c.Request.Context())
}

// Mount serves the issuer's endpoints on r at the paths of iss.Paths():
// token, revocation, introspection, credentials, JWKS and metadata. Every
// method is routed to the issuer, which answers 405 itself to the ones an
// endpoint does not take. Mount on the engine (or a group whose prefix is
// part of the issuer URL), so that the metadata's URLs reach these routes.
func Mount(r gin.IRoutes, iss *issuer.Issuer) {
	for _, rt := range iss.Routes() {
		h := gin.WrapH(rt.Handler)
		r.Any(rt.Path, h)
		if rt.Subtree {
			r.Any(rt.Path+"/:id", h)
		}
	}
}
