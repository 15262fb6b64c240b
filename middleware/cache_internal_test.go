package middleware

import (
	"strconv"
	"testing"
)

func TestStateCacheBounded(t *testing.T) {
	c := newStateCache(64)
	for i := range 1000 {
		c.put(stateKey{subjectClient, strconv.Itoa(i)}, subjectState{generation: int64(i)}, c.epoch())
		if n := len(c.m); n > 64 {
			t.Fatalf("after %d puts the cache holds %d entries, more than its bound of 64", i+1, n)
		}
	}
	// The newest entry always survives the eviction it caused.
	if s, ok := c.get(stateKey{subjectClient, "999"}); !ok || s.generation != 999 {
		t.Errorf("newest entry = %+v, %v", s, ok)
	}
	// Updating an entry in a full cache evicts nothing.
	n := len(c.m)
	c.put(stateKey{subjectClient, "999"}, subjectState{generation: 1}, c.epoch())
	if len(c.m) != n {
		t.Errorf("an update changed the size from %d to %d", n, len(c.m))
	}
}

func TestCachesPutAfterForget(t *testing.T) {
	// A put whose store read came before a forget caches nothing; one
	// whose read came after caches as usual.
	sc := newStateCache(64)
	k := stateKey{subjectClient, "c1"}
	stale := sc.epoch()
	sc.forget(k)
	sc.put(k, subjectState{generation: 1}, stale)
	if s, ok := sc.get(k); ok {
		t.Fatalf("state read before the forget was cached: %+v", s)
	}
	sc.put(k, subjectState{generation: 2}, sc.epoch())
	if s, ok := sc.get(k); !ok || s.generation != 2 {
		t.Fatalf("state read after the forget = %+v, %v", s, ok)
	}

	tc := newTokenCache(64)
	e := &cacheEntry{principal: &Principal{TokenID: "j1"}}
	stale = tc.epoch()
	tc.forget("j1")
	tc.put("raw", e, stale)
	if tc.get("raw") != nil {
		t.Fatal("token checked before the forget was cached")
	}
	tc.put("raw", e, tc.epoch())
	if tc.get("raw") != e {
		t.Fatal("token checked after the forget was not cached")
	}
}
