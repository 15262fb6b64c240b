package issuer

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// TestClientCacheForgetInFlight: a client read from the store before a
// change was forgotten is not cached after it.
func TestClientCacheForgetInFlight(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, ev := range []store.Event{
		{Kind: store.EventClientChanged, ID: "c", Generation: 2},
		{Kind: store.EventClientChanged, ID: "other", Generation: 2},
		{Kind: store.EventAccountChanged, ID: "a"},
		{Kind: store.EventResync},
	} {
		cc := newClientCache(time.Minute, 10)
		seen := cc.epoch()
		// The store is read here, then the change is forgotten.
		cc.forget(ev)
		cc.putClient(&store.Client{ID: "c"}, now, seen)
		cc.putAccountActive("a", now, seen)
		if _, ok := cc.client("c", now); ok {
			t.Errorf("%v: a client read before the forget was cached", ev)
		}
		if cc.accountActive("a", now) {
			t.Errorf("%v: an account read before the forget was cached", ev)
		}
	}
	// A revocation changes no client and drops nothing.
	cc := newClientCache(time.Minute, 10)
	seen := cc.epoch()
	cc.forget(store.Event{Kind: store.EventRevoked, ID: "jti"})
	cc.putClient(&store.Client{ID: "c"}, now, seen)
	if _, ok := cc.client("c", now); !ok {
		t.Error("a revocation kept a client out of the cache")
	}
}

// TestClientCacheBounded: the cache never holds more than its size, and
// a clock that went backwards does not extend an entry's life.
func TestClientCacheBounded(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cc := newClientCache(time.Minute, 16)
	for i := range 1000 {
		id := string(rune('a'+i%26)) + time.Duration(i).String()
		cc.putClient(&store.Client{ID: id}, now, cc.epoch())
		cc.putAccountActive(id, now, cc.epoch())
		if len(cc.clients) > 16 || len(cc.accounts) > 16 {
			t.Fatalf("%d clients, %d accounts cached, want at most 16", len(cc.clients), len(cc.accounts))
		}
	}
	cc.putClient(&store.Client{ID: "x"}, now, cc.epoch())
	if _, ok := cc.client("x", now.Add(-time.Second)); ok {
		t.Error("an entry read in the future was trusted")
	}
	if _, ok := cc.client("x", now.Add(time.Minute)); ok {
		t.Error("an entry TTL old was trusted")
	}
	if newClientCache(-1, 16) != nil {
		t.Error("a negative TTL made a cache")
	}
}
