package middleware

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// The hot pointer serves only what the map still holds: an entry that a
// forget deleted, or that left the map any other way (and that a later
// forget could then not find), is not served from it.
func TestTokenCacheHotPointer(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	entry := func(jti string) *cacheEntry {
		return &cacheEntry{principal: &Principal{TokenID: jti}, expires: now.Add(time.Hour)}
	}

	c := newTokenCache(64)
	e := entry("j1")
	c.put("raw", e, c.epoch())
	if c.get("raw", now) != e || c.get("raw", now) != e {
		t.Fatal("cached token missed")
	}
	s := c.hotSlot("raw")
	if s.Load() != e {
		t.Fatal("a hit did not point the hot slot at the entry")
	}
	c.forget("j1")
	if got := c.get("raw", now); got != nil {
		t.Fatal("forgotten token served")
	}
	// A get that read the entry from the map before the forget and points
	// the slot at it after.
	s.Store(e)
	if got := c.get("raw", now); got != nil {
		t.Fatal("forgotten token served from the hot pointer")
	}

	// Replaced by a fresh check of the same token: the fresh entry.
	e1, e2 := entry("j2"), entry("j2")
	c.put("raw2", e1, c.epoch())
	c.get("raw2", now)
	c.put("raw2", e2, c.epoch())
	if c.get("raw2", now) != e2 {
		t.Fatal("the replaced entry was served")
	}

	// Evicted to make room (one entry a shard), then forgotten: the
	// forget cannot find it in the map, so the pointer must not serve it.
	c = newTokenCache(1)
	a := entry("ja")
	c.put("a", a, c.epoch())
	c.get("a", now)
	_, sa := c.hash("a")
	for i := 0; ; i++ {
		k := "b" + strconv.Itoa(i)
		if _, sb := c.hash(k); sb == sa {
			c.put(k, entry("jb"), c.epoch())
			break
		}
	}
	c.hotSlot("a").Store(a) // as a get racing the eviction might
	c.forget("ja")
	if c.get("a", now) != nil {
		t.Fatal("evicted and forgotten token served from the hot pointer")
	}

	// Expired: not served from the pointer either.
	c = newTokenCache(64)
	x := &cacheEntry{principal: &Principal{TokenID: "jx"}, expires: now.Add(time.Minute)}
	c.put("x", x, c.epoch())
	c.get("x", now)
	if c.get("x", now.Add(time.Minute)) != nil {
		t.Fatal("expired token served from the hot pointer")
	}

	// Flushed.
	c = newTokenCache(64)
	f := entry("jf")
	c.put("f", f, c.epoch())
	c.get("f", now)
	c.flush()
	c.hotSlot("f").Store(f)
	if c.get("f", now) != nil {
		t.Fatal("flushed token served from the hot pointer")
	}
}

// Readers hammering one token while it is forgotten: once forget has
// returned, the token is never served again, whatever the readers were
// doing (run with -race too).
func TestTokenCacheHotPointerConcurrentForget(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTokenCache(64)
	for round := range 50 {
		jti := "j" + strconv.Itoa(round)
		e := &cacheEntry{principal: &Principal{TokenID: jti}, expires: now.Add(time.Hour)}
		c.put("raw", e, c.epoch())
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					c.get("raw", now)
				}
			})
		}
		time.Sleep(100 * time.Microsecond)
		c.forget(jti)
		for range 1000 {
			if c.get("raw", now) == e {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("round %d: token served after forget returned", round)
			}
		}
		stop.Store(true)
		wg.Wait()
	}
}

// Each shard and each hot slot fills whole cache lines, so that one
// shard's lock writes, or one slot's update, do not evict a neighbour from
// other cores' caches.
func TestCacheShardSize(t *testing.T) {
	if n := unsafe.Sizeof(cacheShard{}); n%64 != 0 {
		t.Errorf("cacheShard is %d bytes, not a multiple of 64: adjust its padding", n)
	}
	if n := unsafe.Sizeof(hotSlot{}); n%64 != 0 {
		t.Errorf("hotSlot is %d bytes, not a multiple of 64: adjust its padding", n)
	}
}

// Tokens that share their last hotTail bytes share a hot slot and take
// turns in it: each is still served as itself, never as the other.
func TestTokenCacheHotSlotSharedTail(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTokenCache(64)
	tail := strings.Repeat("t", hotTail)
	a := &cacheEntry{principal: &Principal{TokenID: "ja"}, expires: now.Add(time.Hour)}
	b := &cacheEntry{principal: &Principal{TokenID: "jb"}, expires: now.Add(time.Hour)}
	c.put("a."+tail, a, c.epoch())
	c.put("b."+tail, b, c.epoch())
	if c.hotSlot("a."+tail) != c.hotSlot("b."+tail) {
		t.Fatal("tokens with one tail in different slots")
	}
	for range 3 {
		if c.get("a."+tail, now) != a || c.get("b."+tail, now) != b {
			t.Fatal("a token sharing its slot was served as another")
		}
	}
	if c.get("c."+tail, now) != nil {
		t.Fatal("an unknown token sharing the slot was served")
	}
	// Shorter than the tail: the whole token picks the slot.
	x := &cacheEntry{principal: &Principal{TokenID: "jx"}, expires: now.Add(time.Hour)}
	c.put("x", x, c.epoch())
	if c.get("x", now) != x || c.get("x", now) != x {
		t.Fatal("short token missed")
	}
}
