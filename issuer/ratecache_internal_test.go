package issuer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

func TestCountCacheEntries(t *testing.T) {
	w := time.Minute
	now := time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC)
	start := now.Truncate(w).UnixNano()
	c := newCountCache(time.Second, w, 8)
	get := func(key string, at time.Time) (int64, bool) {
		return c.get([]byte(key), at.Truncate(w).UnixNano(), at)
	}
	if _, ok := get("a", now); ok {
		t.Fatal("an empty cache answered")
	}
	c.put("a", start, 3, now)
	if n, ok := get("a", now.Add(time.Second-1)); !ok || n != 3 {
		t.Errorf("within the TTL: %d %v", n, ok)
	}
	for what, at := range map[string]time.Time{
		"TTL over":         now.Add(time.Second),
		"clock went back":  now.Add(-time.Nanosecond),
		"next window":      now.Truncate(w).Add(w),
		"window, TTL over": now.Add(w),
	} {
		if n, ok := get("a", at); ok {
			t.Errorf("%s: answered %d", what, n)
		}
	}
	// A read that finishes after a later one lowers nothing.
	c.put("a", start, 2, now.Add(500*time.Millisecond))
	if n, ok := get("a", now.Add(time.Second+400*time.Millisecond)); !ok || n != 3 {
		t.Errorf("after a lower count: %d %v, want 3 from the later read", n, ok)
	}
	// Nor does an older window come back.
	next := now.Truncate(w).Add(w)
	c.put("a", next.UnixNano(), 1, next)
	c.put("a", start, 9, next)
	if n, ok := get("a", next); !ok || n != 1 {
		t.Errorf("after an older window's count: %d %v", n, ok)
	}
	// Long keys are kept hashed, and found again.
	long := limitKeyAddr + strings.Repeat("x", 200)
	c.put(long, start, 5, now)
	if n, ok := get(long, now); !ok || n != 5 {
		t.Errorf("long key: %d %v", n, ok)
	}
	if _, ok := c.m[long]; ok {
		t.Error("long key kept whole")
	}
	c.drop(long)
	if _, ok := get(long, now); ok {
		t.Error("dropped key answered")
	}
}

// TestCountCacheBound: a flood of distinct keys never grows the cache
// past its bound, and entries that can no longer answer go first.
func TestCountCacheBound(t *testing.T) {
	w := time.Minute
	now := time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC)
	c := newCountCache(time.Second, w, 16)
	for k := range 10 {
		c.put(fmt.Sprint("old", k), now.Truncate(w).UnixNano(), 1, now)
	}
	later := now.Add(2 * time.Second) // the old entries' TTL is over
	for k := range 1000 {
		at := later.Add(time.Duration(k) * time.Microsecond)
		c.put(fmt.Sprint("flood", k), at.Truncate(w).UnixNano(), 1, at)
		if len(c.m) > c.max {
			t.Fatalf("%d entries, bound %d", len(c.m), c.max)
		}
		if k == 6 {
			for k := range 10 {
				if _, ok := c.m[fmt.Sprint("old", k)]; ok {
					t.Fatal("an expired entry survived a sweep made for room")
				}
			}
		}
	}
}

// remoteLike is the memory store and its counters without its InMemory
// marker, so that the issuer caches counts over it as over a store outside
// the process.
type remoteLike struct {
	store.Store
	store.RateLimiter
	store.RateCounter
}

func newRemoteLike() remoteLike {
	m := memory.New()
	return remoteLike{m, m, m}
}

// TestCountCacheSetup: the cache sits in front of a store outside the
// process, not in front of the memory store or the issuer's own counters,
// and not when turned off.
func TestCountCacheSetup(t *testing.T) {
	for _, c := range []struct {
		name string
		st   store.Store
		ttl  time.Duration
		want bool
	}{
		{"remote", newRemoteLike(), 0, true},
		{"remote, off", newRemoteLike(), -1, false},
		{"memory store", memory.New(), 0, false},
		{"in-process limiter", struct{ store.Store }{memory.New()}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			i, err := New(Config{Issuer: "https://issuer.example", Store: c.st, Logger: slog.New(slog.DiscardHandler),
				RateLimit: RateLimit{CountCacheTTL: c.ttl}})
			if err != nil {
				t.Fatal(err)
			}
			if got := i.counts != nil; got != c.want {
				t.Errorf("count cache %v, want %v", got, c.want)
			}
		})
	}
}

// TestLimitedWarmNoAlloc: a warm check allocates nothing.
func TestLimitedWarmNoAlloc(t *testing.T) {
	i, err := New(Config{Issuer: "https://issuer.example", Store: newRemoteLike(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC)
	key := limitKeyClient + "0123456789abcdef0123456789abcdef"
	if wait, err := i.limited(ctx, key, "192.0.2.1", now); wait != 0 || err != nil {
		t.Fatalf("limited: %v %v", wait, err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if wait, err := i.limited(ctx, key, "192.0.2.1", now); wait != 0 || err != nil {
			t.Fatalf("limited: %v %v", wait, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a warm check, want 0", allocs)
	}
}

func BenchmarkLimitedWarm(b *testing.B) {
	i, err := New(Config{Issuer: "https://issuer.example", Store: newRemoteLike(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC)
	key := limitKeyClient + "0123456789abcdef0123456789abcdef"
	i.limited(ctx, key, "192.0.2.1", now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i.limited(ctx, key, "192.0.2.1", now)
		}
	})
}
