package issuer

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMemLimiterWindowsAndBound(t *testing.T) {
	ctx := t.Context()
	l := newMemLimiter()
	l.max = 10
	now := time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC)
	w := 7 * time.Second
	start := now.Truncate(w)
	for k := 1; k <= 3; k++ {
		n, reset, _ := l.Hit(ctx, "a", w, now)
		if n != int64(k) || !reset.Equal(start.Add(w)) {
			t.Fatalf("hit %d: %d, reset %v", k, n, reset)
		}
	}
	if n, _, _ := l.Count(ctx, "a", w, start.Add(w-time.Nanosecond)); n != 3 {
		t.Errorf("count at the end of the window: %d", n)
	}
	if n, reset, _ := l.Count(ctx, "a", w, start.Add(w)); n != 0 || !reset.Equal(start.Add(2*w)) {
		t.Errorf("count in the next window: %d, reset %v", n, reset)
	}
	if n, _, _ := l.Hit(ctx, "a", w, start.Add(w)); n != 1 {
		t.Errorf("first hit of the next window: %d", n)
	}
	// A flood of distinct keys never grows the map past its bound.
	for k := range 1000 {
		l.Hit(ctx, fmt.Sprint("flood", k), w, now.Add(time.Duration(k)*time.Millisecond))
		if len(l.m) > l.max {
			t.Fatalf("%d entries, bound %d", len(l.m), l.max)
		}
	}
}

// TestMemLimiterFlood: at its real bound, a flood of distinct long keys in
// one window (failing ids and forged addresses) keeps the counters to
// memLimiterMax entries of at most memKeyMax bytes of key each, and the
// heap with them.
func TestMemLimiterFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods 300k keys")
	}
	ctx := t.Context()
	l := newMemLimiter()
	now := time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC)
	pad := strings.Repeat("x", 1000)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for k := range 3 * memLimiterMax {
		l.Hit(ctx, limitKeyAddr+pad+strconv.Itoa(k), time.Minute, now)
		if k%1000 == 0 && len(l.m) > l.max {
			t.Fatalf("%d entries, bound %d", len(l.m), l.max)
		}
	}
	keyBytes := 0
	for k := range l.m {
		keyBytes += len(k)
	}
	if len(l.m) > memLimiterMax || keyBytes > memLimiterMax*memKeyMax {
		t.Errorf("%d entries holding %d bytes of keys, bound %d and %d", len(l.m), keyBytes, memLimiterMax, memLimiterMax*memKeyMax)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Keys kept whole would be over 100 MB; hashed, about 20.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 48<<20 {
		t.Errorf("heap grew by %d MB under the flood", grown>>20)
	}
	runtime.KeepAlive(l)
	// A hashed key still counts.
	long := limitKeyAddr + pad
	l.Hit(ctx, long, time.Minute, now)
	if n, _, _ := l.Count(ctx, long, time.Minute, now); n != 1 {
		t.Errorf("count of a long key: %d", n)
	}
}
