package adaptertest_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"

	"github.com/portcullis/portcullis/adapters/adaptertest"
	"github.com/portcullis/portcullis/adapters/chiauth"
	"github.com/portcullis/portcullis/adapters/ginauth"
	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/middleware"
)

func init() { gin.SetMode(gin.ReleaseMode) }

func nethttp(g *middleware.Guard, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+adaptertest.Path, httpauth.Protect(g, h))
	return mux
}

func ginWire(g *middleware.Guard, h http.Handler) http.Handler {
	e := gin.New()
	e.GET(adaptertest.Path, ginauth.Middleware(g), gin.WrapH(h))
	return e
}

func chiWire(g *middleware.Guard, h http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(chiauth.Middleware(g))
	r.Method(http.MethodGet, adaptertest.Path, h)
	return r
}

// The table's expectations hold for the reference itself, Guard.Wrap on a
// ServeMux (the adapters' own packages run it through httpauth, gin and
// chi).
func TestReference(t *testing.T) {
	adaptertest.Run(t, func(g *middleware.Guard, h http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET "+adaptertest.Path, g.Wrap(h))
		return mux
	})
}

// Two guards on one request, a subtree's and a route's Require, answer as
// one: in particular the second takes the DPoP proof the first accepted
// for this request's one use, not for a replay.
func TestReferenceStacked(t *testing.T) {
	adaptertest.Run(t, func(g *middleware.Guard, h http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET "+adaptertest.Path, g.Wrap(g.Require(adaptertest.Scope).Wrap(h)))
		return mux
	})
}

// Every refusal in the table differs from what an unguarded handler
// answers, so a wiring that forgets the guard fails Run.
func TestRunCatchesUnguarded(t *testing.T) {
	f := adaptertest.NewFixture(t)
	h := f.Handler()
	for _, c := range f.Cases(t) {
		if c.Status == http.StatusOK {
			continue
		}
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, c.Request())
		if w.status == c.Status {
			t.Errorf("%s: an unguarded handler answers %d too; the case proves nothing", c.Name, w.status)
		}
	}
}

type recorder struct {
	h      http.Header
	status int
}

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *recorder) WriteHeader(s int) { w.status = s }

// BenchmarkAdapter measures each adapter's overhead over the neutral guard:
// guard is Authenticate alone; nethttp (httpauth on a ServeMux), gin and chi
// are a whole accepted request through a router, with a token the verifier
// has cached.
func BenchmarkAdapter(b *testing.B) {
	b.Run("guard", func(b *testing.B) {
		adaptertest.Bench(b, func(g *middleware.Guard, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := g.Authenticate(r); err != nil {
					g.Fail(w, r, err)
				}
			})
		})
	})
	b.Run("nethttp", func(b *testing.B) { adaptertest.Bench(b, nethttp) })
	b.Run("gin", func(b *testing.B) { adaptertest.Bench(b, ginWire) })
	b.Run("chi", func(b *testing.B) { adaptertest.Bench(b, chiWire) })
}
