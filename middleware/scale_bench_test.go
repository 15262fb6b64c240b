package middleware_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/middleware"
)

// The scale benchmarks produce the figures of bench/SCALE.md. Their large
// sizes run only with PORTCULLIS_BENCH_SCALE=1, so that the CI smoke
// (-benchtime 10x) stays quick:
//
//	PORTCULLIS_BENCH_SCALE=1 go test -run '^$' -bench Scale -benchtime 2000000x ./middleware

func scaleSizes(small, large int) []int {
	if os.Getenv("PORTCULLIS_BENCH_SCALE") == "1" {
		return []int{small, large}
	}
	return []int{small}
}

// BenchmarkGuardScale verifies n distinct live tokens (HS256, one client),
// each request a random one, with a token cache large enough for all of
// them, after every token has been seen once: the cached path at that
// size. cache-B/token is the live heap the verifier holds per token
// (measured after a GC, less the tokens' own strings), rss-MB the
// process's resident memory with everything in place, cpu-ns/op the
// process's CPU per Verify.
func BenchmarkGuardScale(b *testing.B) {
	for _, n := range scaleSizes(10_000, 1_000_000) {
		b.Run(sizeName(n), func(b *testing.B) {
			e := newEnv(b, middleware.LocalConfig{})
			v, err := middleware.NewLocalVerifier(middleware.LocalConfig{
				Issuer: testIssuer, Keys: token.StaticKeys{Set: e.set}, Store: e.st, CacheSize: n, Now: e.clk.Now,
			})
			if err != nil {
				b.Fatal(err)
			}
			key := e.keys[token.HS256]
			raws := make([]string, n)
			for i := range raws {
				c := e.claims()
				c["jti"] = strconv.Itoa(i)
				raws[i] = tokentest.Sign(b, key, nil, c)
			}
			base := liveHeap()
			ctx := context.Background()
			for _, raw := range raws {
				if _, err := v.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
			held, rss := liveHeap()-base, rssBytes()
			b.ReportAllocs()
			start := cpuTime()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := v.Verify(ctx, raws[rand.IntN(n)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// After the timer stopped: ResetTimer drops reported metrics.
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(held)/float64(n), "cache-B/token")
			b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
			runtime.KeepAlive(v)
		})
	}
}

// BenchmarkJWKSScale verifies tokens at a JWKS verifier whose issuer
// publishes n ES256 keys, the token signed with one of them: first-sight
// (no token cache, every Verify checks the signature after the kid
// lookup) and cached.
func BenchmarkJWKSScale(b *testing.B) {
	for _, n := range []int{1, 50} {
		for _, mode := range []struct {
			name  string
			cache int
		}{{"first-sight", -1}, {"cached", 0}} {
			b.Run(fmt.Sprintf("%dkeys/%s", n, mode.name), func(b *testing.B) {
				s := newKeyServer(b, modeUp)
				keys := make([]*token.Key, n)
				for i := range keys {
					keys[i] = remoteKey(b, token.ES256, "")
				}
				s.publish(b, keys)
				v := newJWKS(b, s, func(c *middleware.JWKSConfig) { c.CacheSize = mode.cache })
				raw := remoteToken(b, keys[n/2], s.URL)
				ctx := context.Background()
				if _, err := v.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				start := cpuTime()
				b.ResetTimer()
				for b.Loop() {
					if _, err := v.Verify(ctx, raw); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1_000_000 {
		return strconv.Itoa(n/1_000_000) + "M"
	}
	return strconv.Itoa(n/1000) + "k"
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rssBytes is the process's resident set (VmRSS), 0 where /proc is missing.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
