package chiauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/portcullis/portcullis/adapters/adaptertest"
	"github.com/portcullis/portcullis/adapters/chiauth"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func wire(g *middleware.Guard, h http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(chiauth.Middleware(g))
	r.Method(http.MethodGet, adaptertest.Path, h)
	return r
}

func TestTable(t *testing.T) { adaptertest.Run(t, wire) }

// The table through r.Route and r.With, the scope required per route by
// Require on top of a guard that requires it too: answers must not change.
func TestTableRequireWith(t *testing.T) {
	adaptertest.Run(t, func(g *middleware.Guard, h http.Handler) http.Handler {
		r := chi.NewRouter()
		r.Route("/v1", func(r chi.Router) {
			r.With(chiauth.Require(g, adaptertest.Scope)).Method(http.MethodGet, "/whoami", h)
		})
		return r
	})
}

// The package doc's way: the group's guard with r.Use, the route's scope
// with r.With(Require), two guards on one request that must answer as one
// (a DPoP proof is used once, by the first).
func TestTableUseThenRequire(t *testing.T) {
	adaptertest.Run(t, func(g *middleware.Guard, h http.Handler) http.Handler {
		r := chi.NewRouter()
		r.Route("/v1", func(r chi.Router) {
			r.Use(chiauth.Middleware(g))
			r.With(chiauth.Require(g, adaptertest.Scope)).Method(http.MethodGet, "/whoami", h)
		})
		return r
	})
}

func TestRequireAddsScopes(t *testing.T) {
	f := adaptertest.NewFixture(t)
	g := f.Guard(t, f.Verifier)
	r := chi.NewRouter()
	r.Use(chiauth.Middleware(g))
	r.With(chiauth.Require(g, "admin")).Get("/admin", func(w http.ResponseWriter, r *http.Request) {})
	r.Get("/read", func(w http.ResponseWriter, r *http.Request) {})
	tok := f.Token(t, token.KindClient, "read")
	for path, want := range map[string]int{"/admin": http.StatusForbidden, "/read": http.StatusOK} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("%s: status %d, want %d", path, w.Code, want)
		}
	}
}

func TestPrincipal(t *testing.T) {
	f := adaptertest.NewFixture(t)
	g := f.Guard(t, f.Verifier)
	var p *middleware.Principal
	var found bool
	r := chi.NewRouter()
	r.Get("/open", func(w http.ResponseWriter, r *http.Request) { _, found = chiauth.Principal(r) })
	r.With(chiauth.Middleware(g)).Get("/guarded", func(w http.ResponseWriter, r *http.Request) { p, found = chiauth.Principal(r) })

	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/open", nil))
	if found {
		t.Error("Principal found on an unguarded route")
	}
	req := httptest.NewRequest(http.MethodGet, "/guarded", nil)
	req.Header.Set("Authorization", "Bearer "+f.Token(t, token.KindClient, "read"))
	r.ServeHTTP(httptest.NewRecorder(), req)
	if !found || p.Subject != adaptertest.Client {
		t.Errorf("Principal = %v, %v", p, found)
	}
}

func TestMount(t *testing.T) {
	adaptertest.RunMount(t, func(iss *issuer.Issuer, g *middleware.Guard, h http.Handler) http.Handler {
		r := chi.NewRouter()
		chiauth.Mount(r, iss)
		r.With(chiauth.Middleware(g)).Method(http.MethodGet, adaptertest.Path, h)
		return r
	})
}
