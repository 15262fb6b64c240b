package middleware

import (
	"testing"
	"time"
)

// The token cache is keyed by a 64-bit hash: a token whose hash collides
// with a cached one's must miss, not be served the other's principal, and
// caching it replaces the other.
func TestTokenCacheHashCollision(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTokenCache(64)
	mine := &cacheEntry{principal: &Principal{TokenID: "mine"}, expires: now.Add(time.Hour)}
	c.put("mine", mine, c.epoch())
	if c.get("mine", now) != mine {
		t.Fatal("cached token missed")
	}
	// Forge a collision: the entry of "mine" under the hash of "theirs".
	h, s := c.hash("theirs")
	s.Lock()
	s.m[h] = mine
	s.Unlock()
	if e := c.get("theirs", now); e != nil {
		t.Fatalf("a colliding token was served %+v", e.principal)
	}
	theirs := &cacheEntry{principal: &Principal{TokenID: "theirs"}, expires: now.Add(time.Hour)}
	c.put("theirs", theirs, c.epoch())
	if c.get("theirs", now) != theirs {
		t.Fatal("colliding token not cached")
	}
}
