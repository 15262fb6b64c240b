package bench_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/bench/internal/routes"
	"github.com/portcullis/portcullis/internal/cputime"
)

var (
	setupOnce sync.Once
	setup     *routes.Setup
	setupErr  error
)

// sharedSetup is one issuer, guard and token for every route of the test
// binary: the plain and guarded routes of a framework see the same header.
func sharedSetup(tb testing.TB) *routes.Setup {
	tb.Helper()
	setupOnce.Do(func() { setup, setupErr = routes.NewSetup() })
	if setupErr != nil {
		tb.Fatal(setupErr)
	}
	return setup
}

// BenchmarkHTTP serves one GET through each framework's router, plain and
// guarded by Portcullis with a token seen before (package routes), in
// process: the same pre-built request every time and a reused writer (the
// sink of verify_test.go), so that what differs between plain and guarded
// is the guard and its adapter. The DESIGN target is guarded ≥ 0.97×
// plain in requests per second, i.e. guarded cpu-ns/op ≤ plain ÷ 0.97;
// run.sh also loads cmd/http-server with wrk over loopback, where the
// network and HTTP parsing, common to both, are counted too.
func BenchmarkHTTP(b *testing.B) {
	eachRoute(b, func(b *testing.B, rt *routes.Route) {
		r := rt.Request()
		w := &sink{h: http.Header{}}
		rt.Handler.ServeHTTP(w, r) // the token is cached from here on
		b.ReportAllocs()
		cpu := cputime.Start()
		for i := 0; b.Loop(); i++ {
			w.status = 0
			clear(w.h)
			rt.Handler.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("request %d: status %d, headers %v", i, w.status, w.h)
			}
		}
		cpu.Report(b)
	})
}

// eachRoute runs f as a sub-benchmark for every framework's route, plain
// and guarded.
func eachRoute(b *testing.B, f func(b *testing.B, rt *routes.Route)) {
	s := sharedSetup(b)
	for _, fw := range routes.Frameworks {
		for _, guarded := range []bool{false, true} {
			rt, err := s.Route(fw, guarded)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(rt.Name, func(b *testing.B) { f(b, rt) })
		}
	}
}

// BenchmarkHTTPParallel is BenchmarkHTTP served from GOMAXPROCS
// goroutines at once (b.RunParallel; run it with -cpu 1,2), each with its
// own request and writer, all presenting the same token, as wrk's 32
// connections do over loopback: what the single goroutine of BenchmarkHTTP
// cannot show, such as cores contending for the cache line of a lock or a
// counter on the guard's path, shows here as guarded cpu-ns/op growing
// faster with -cpu than plain.
func BenchmarkHTTPParallel(b *testing.B) {
	eachRoute(b, func(b *testing.B, rt *routes.Route) {
		rt.Handler.ServeHTTP(&sink{h: http.Header{}}, rt.Request()) // cache the token
		b.ReportAllocs()
		cpu := cputime.Start()
		b.RunParallel(func(pb *testing.PB) {
			r := rt.Request()
			w := &sink{h: http.Header{}}
			for pb.Next() {
				w.status = 0
				clear(w.h)
				rt.Handler.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Errorf("status %d, headers %v", w.status, w.h)
					return
				}
			}
		})
		cpu.Report(b)
	})
}

// TestRoutes makes sure that what BenchmarkHTTP times is what it claims:
// every route answers the body to the bench's request, a guarded route
// refuses a request without a token or with a forged one (so no guard is
// timed letting everything through), and a plain route does not look.
func TestRoutes(t *testing.T) {
	s := sharedSetup(t)
	for _, fw := range routes.Frameworks {
		for _, guarded := range []bool{false, true} {
			rt, err := s.Route(fw, guarded)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(rt.Name, func(t *testing.T) {
				w := httptest.NewRecorder()
				rt.Handler.ServeHTTP(w, rt.Request())
				if w.Code != http.StatusOK || w.Body.String() != routes.Body {
					t.Fatalf("status %d: %q", w.Code, w.Body)
				}
				forged := rt.Authorization[:len(rt.Authorization)-2] + "AA"
				if forged == rt.Authorization {
					forged = rt.Authorization[:len(rt.Authorization)-2] + "QA"
				}
				for _, auth := range []string{"", forged} {
					r := rt.Request()
					r.Header.Set("Authorization", auth)
					w := httptest.NewRecorder()
					rt.Handler.ServeHTTP(w, r)
					want := http.StatusOK
					if guarded {
						want = http.StatusUnauthorized
					}
					if w.Code != want {
						t.Errorf("Authorization %.20q…: status %d, want %d", auth, w.Code, want)
					}
				}
			})
		}
	}
}
