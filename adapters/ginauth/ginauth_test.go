package ginauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/portcullis/portcullis/adapters/adaptertest"
	"github.com/portcullis/portcullis/adapters/ginauth"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func init() { gin.SetMode(gin.TestMode) }

func wire(g *middleware.Guard, h http.Handler) http.Handler {
	e := gin.New()
	e.GET(adaptertest.Path, ginauth.Middleware(g), gin.WrapH(h))
	return e
}

func TestTable(t *testing.T) { adaptertest.Run(t, wire) }

// The table through a group guarded by Middleware, with the scope required
// again per route by Require: the answers must not change.
func TestTableRequireOnGroup(t *testing.T) {
	adaptertest.Run(t, func(g *middleware.Guard, h http.Handler) http.Handler {
		e := gin.New()
		v1 := e.Group("/v1", ginauth.Middleware(g))
		v1.GET("/whoami", ginauth.Require(g, adaptertest.Scope), gin.WrapH(h))
		return e
	})
}

func TestPrincipal(t *testing.T) {
	f := adaptertest.NewFixture(t)
	g := f.Guard(t, f.Verifier)
	e := gin.New()
	var fromGin, fromCtx *middleware.Principal
	var foundGin, foundCtx bool
	e.GET("/open", func(c *gin.Context) {
		_, foundGin = ginauth.Principal(c)
		c.Status(http.StatusNoContent)
	})
	e.GET(adaptertest.Path, ginauth.Middleware(g), func(c *gin.Context) {
		fromGin, foundGin = ginauth.Principal(c)
		fromCtx, foundCtx = middleware.PrincipalFrom(c.Request.Context())
		c.Status(http.StatusNoContent)
	})

	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/open", nil))
	if foundGin {
		t.Error("Principal found on an unguarded route")
	}

	r := httptest.NewRequest(http.MethodGet, adaptertest.Path, nil)
	r.Header.Set("Authorization", "Bearer "+f.Token(t, token.KindClient, "read"))
	w = httptest.NewRecorder()
	e.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if !foundGin || !foundCtx || fromGin != fromCtx || fromGin.Subject != adaptertest.Client {
		t.Errorf("Principal = %v %v, PrincipalFrom = %v %v", fromGin, foundGin, fromCtx, foundCtx)
	}
}

// A refusal stops the chain: handlers added after the middleware, in the
// group or on the route, never run.
func TestAbortStopsChain(t *testing.T) {
	f := adaptertest.NewFixture(t)
	g := f.Guard(t, f.Verifier)
	e := gin.New()
	ran := 0
	grp := e.Group("/v1", ginauth.Middleware(g), func(c *gin.Context) { ran++; c.Next() })
	grp.GET("/whoami", func(c *gin.Context) { ran++ })
	for _, auth := range []string{"", "Bearer nope", "Bearer " + f.Token(t, token.KindClient, "write")} {
		r := httptest.NewRequest(http.MethodGet, adaptertest.Path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		if w.Code < 400 {
			t.Errorf("%q: status %d", auth, w.Code)
		}
	}
	if ran != 0 {
		t.Errorf("handlers after a refusing middleware ran %d times", ran)
	}
}

// A custom ErrorHandler applies through gin too.
func TestCustomErrorHandler(t *testing.T) {
	f := adaptertest.NewFixture(t)
	g, err := middleware.New(middleware.Config{
		Verifier: f.Verifier,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("X-Refused", "yes")
			middleware.WriteError(w, r, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	wire(g, http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, adaptertest.Path, nil))
	if w.Code != http.StatusUnauthorized || w.Header().Get("X-Refused") != "yes" {
		t.Errorf("status %d, X-Refused %q", w.Code, w.Header().Get("X-Refused"))
	}
}

func TestMount(t *testing.T) {
	adaptertest.RunMount(t, func(iss *issuer.Issuer, g *middleware.Guard, h http.Handler) http.Handler {
		e := gin.New()
		ginauth.Mount(e, iss)
		e.GET(adaptertest.Path, ginauth.Middleware(g), gin.WrapH(h))
		return e
	})
}

// discard is a ResponseWriter that keeps nothing, so that counting
// allocations counts the route's, not a recorder's.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.status = code }

// The gin middleware costs no more allocations per request than the guard
// on net/http (Guard.Wrap: a request copy and a context value): nothing is
// stored in the gin context's Keys, a map gin would allocate for every
// request. The token is cached, as on any request after a client's first.
func TestMiddlewareAllocsLikeWrap(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts vary under -race (sync.Pool drops entries); .ci/run runs this test without it")
	}
	f := adaptertest.NewFixture(t)
	g := f.Guard(t, f.Verifier)
	h := func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.PrincipalFrom(r.Context()); !ok {
			t.Fatal("no principal")
		}
		w.WriteHeader(http.StatusNoContent)
	}
	e := gin.New()
	e.GET(adaptertest.Path, ginauth.Middleware(g), func(c *gin.Context) { h(c.Writer, c.Request) })
	wrapped := g.Wrap(http.HandlerFunc(h))
	r := httptest.NewRequest(http.MethodGet, adaptertest.Path, nil)
	r.Header.Set("Authorization", "Bearer "+f.Token(t, token.KindClient, adaptertest.Scope))
	allocs := func(h http.Handler) float64 {
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, r) // caches the token
		return testing.AllocsPerRun(200, func() {
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != http.StatusNoContent {
				t.Fatalf("status %d", w.status)
			}
		})
	}
	bare := gin.New()
	bare.GET(adaptertest.Path, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	ginExtra, wrapExtra := allocs(e)-allocs(bare), allocs(wrapped)-allocs(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	if ginExtra > wrapExtra {
		t.Errorf("ginauth adds %v allocations per request, Guard.Wrap %v", ginExtra, wrapExtra)
	}
}
