package middleware

import (
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
)

func TestStateCacheBounded(t *testing.T) {
	c := newStateCache(64)
	for i := range 1000 {
		c.put(stateKey{subjectClient, strconv.Itoa(i)}, subjectState{generation: int64(i)}, c.epoch())
		if n := c.len(); n > 64 {
			t.Fatalf("after %d puts the cache holds %d entries, more than its bound of 64", i+1, n)
		}
	}
	// The newest entry always survives the eviction it caused.
	if s, ok := c.get(stateKey{subjectClient, "999"}); !ok || s.generation != 999 {
		t.Errorf("newest entry = %+v, %v", s, ok)
	}
	// Updating an entry in a full cache evicts nothing.
	n := c.len()
	c.put(stateKey{subjectClient, "999"}, subjectState{generation: 1}, c.epoch())
	if c.len() != n {
		t.Errorf("an update changed the size from %d to %d", n, c.len())
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

	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tc := newTokenCache(64)
	e := &cacheEntry{principal: &Principal{TokenID: "j1"}, expires: now.Add(time.Hour)}
	stale = tc.epoch()
	tc.forget("j1")
	tc.put("raw", e, stale)
	if tc.get("raw", now) != nil {
		t.Fatal("token checked before the forget was cached")
	}
	tc.put("raw", e, tc.epoch())
	if tc.get("raw", now) != e {
		t.Fatal("token checked after the forget was not cached")
	}

	// A flush (the JWKS verifier's keys changed) works alike.
	stale = tc.epoch()
	tc.flush()
	if tc.get("raw", now) != nil {
		t.Fatal("flush left an entry")
	}
	tc.put("raw", e, stale)
	if tc.get("raw", now) != nil {
		t.Fatal("token checked before the flush was cached")
	}
	tc.put("raw", e, tc.epoch())
	if tc.get("raw", now) != e {
		t.Fatal("token checked after the flush was not cached")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTokenCache(64)
	size := func() (n int) {
		for i := range c.shards {
			n += len(c.shards[i].m)
		}
		return n
	}
	for i := range 10000 {
		k := strconv.Itoa(i)
		e := &cacheEntry{principal: &Principal{TokenID: k}, expires: now.Add(time.Hour)}
		c.put(k, e, c.epoch())
		if c.get(k, now) != e {
			t.Fatalf("entry %d was not cached", i)
		}
		if n := size(); n > 64 {
			t.Fatalf("after %d puts the cache holds %d entries, more than its bound of 64", i+1, n)
		}
	}
	// Replacing an entry in a full shard evicts nothing else.
	n := size()
	c.put("9999", &cacheEntry{expires: now.Add(time.Hour)}, c.epoch())
	if size() != n {
		t.Errorf("a replacement changed the size from %d to %d", n, size())
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTokenCache(64)
	e := &cacheEntry{principal: &Principal{TokenID: "j1"}, expires: now.Add(time.Minute)}
	c.put("raw", e, c.epoch())
	if c.get("raw", now.Add(time.Minute-time.Nanosecond)) != e {
		t.Fatal("the entry went before it expired")
	}
	if c.get("raw", now.Add(time.Minute)) != nil {
		t.Fatal("the entry was served at its expiry")
	}
	if c.get("raw", now) != nil {
		t.Fatal("an expired entry was not dropped")
	}
	// An inactive answer (no principal) is an entry like any other, and
	// forget, which looks for a jti, passes it by.
	inactive := &cacheEntry{expires: now.Add(time.Minute)}
	c.put("dead", inactive, c.epoch())
	c.forget("j1")
	if c.get("dead", now) != inactive {
		t.Fatal("forget dropped an inactive answer")
	}
}

// The guard's kind names are the ones the issuer mints with.
func TestKindNames(t *testing.T) {
	if KindClient != token.KindClient || KindAccount != token.KindAccount {
		t.Errorf("middleware kinds %q, %q; issuer's %q, %q", KindClient, KindAccount, token.KindClient, token.KindAccount)
	}
}

// The state cache's version, which cached tokens' state memos are checked
// against, moves on whatever could refuse a token a memo accepted, and
// only then: a refresh that finds the same state keeps the memos good.
func TestStateCacheVersion(t *testing.T) {
	c := newStateCache(2)
	a, b := stateKey{subjectClient, "a"}, stateKey{subjectClient, "b"}
	moves := func(what string, want bool, f func()) {
		t.Helper()
		before := c.version.Load()
		f()
		if moved := c.version.Load() != before; moved != want {
			t.Errorf("%s: version moved = %v, want %v", what, moved, want)
		}
	}
	moves("first put", false, func() { c.put(a, subjectState{generation: 1, fetched: 1}, c.epoch()) })
	moves("same state, fetched again", false, func() { c.put(a, subjectState{generation: 1, fetched: 2}, c.epoch()) })
	moves("new generation", true, func() { c.put(a, subjectState{generation: 2, fetched: 3}, c.epoch()) })
	moves("disabled", true, func() { c.put(a, subjectState{generation: 2, disabled: true}, c.epoch()) })
	moves("gone", true, func() { c.put(a, subjectState{gone: true}, c.epoch()) })
	moves("second key", false, func() { c.put(b, subjectState{generation: 1}, c.epoch()) })
	moves("eviction", true, func() { c.put(stateKey{subjectAccount, "c"}, subjectState{}, c.epoch()) })
	moves("forget", true, func() { c.forget(a) })
	moves("flush", true, func() { c.flush() })
}
