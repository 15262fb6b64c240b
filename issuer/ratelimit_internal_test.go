package issuer

import (
	"fmt"
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
