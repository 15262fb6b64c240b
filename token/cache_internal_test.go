package token

import (
	"strconv"
	"testing"
)

func TestStateCacheBounded(t *testing.T) {
	c := newStateCache(64)
	for i := range 1000 {
		c.put(stateKey{subjectClient, strconv.Itoa(i)}, subjectState{generation: int64(i)})
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
	c.put(stateKey{subjectClient, "999"}, subjectState{generation: 1})
	if len(c.m) != n {
		t.Errorf("an update changed the size from %d to %d", n, len(c.m))
	}
}
