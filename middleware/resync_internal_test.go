package middleware

import "testing"

// TestStateCacheFlush: a flush drops every state, and a put whose store read
// came before it caches nothing, as with forget.
func TestStateCacheFlush(t *testing.T) {
	c := newStateCache(64)
	k1, k2 := stateKey{subjectClient, "c1"}, stateKey{subjectAccount, "a1"}
	c.put(k1, subjectState{generation: 1}, c.epoch())
	stale := c.epoch()
	c.flush()
	if _, ok := c.get(k1); ok {
		t.Fatal("flush left an entry")
	}
	c.put(k2, subjectState{generation: 1}, stale)
	if s, ok := c.get(k2); ok {
		t.Fatalf("state read before the flush was cached: %+v", s)
	}
	c.put(k2, subjectState{generation: 2}, c.epoch())
	if s, ok := c.get(k2); !ok || s.generation != 2 {
		t.Fatalf("state read after the flush = %+v, %v", s, ok)
	}
}
