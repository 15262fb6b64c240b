package middleware

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/token"
)

// cacheEntry is what a verifier remembers about one token.
type cacheEntry struct {
	// principal is who presented the token; nil records a token known to
	// be bad (an inactive introspection answer).
	principal *Principal
	raw       string       // the cache key, set by put: the map holds only its hash
	kid       string       // the key that signed the token, for a local recheck
	expires   time.Time    // when the entry stops being served: exp plus leeway, or sooner
	checked   atomic.Int64 // when revocation was last asked, unix nanoseconds
}

const cacheShards = 32

// tokenCache remembers verification results by token (or a hash of it):
// the one cache of the local, JWKS and introspection verifiers. It is
// bounded: a full shard drops an arbitrary entry (Go's map order) to make
// room, which costs nothing to track and is good enough against churn. An
// entry is served until its expires, then dropped.
//
// The maps are keyed by a 64-bit seeded hash of the token, computed once
// per call (it also picks the shard), and the entry holds the token to
// compare: a map keyed by the string would hash the whole token again on
// every lookup and insert. Two tokens with one hash only evict each other.
//
// # Forgetting
//
// A verifier asks the store (or fetches keys), then caches the token; a
// revocation can be forgotten, or the key set replaced, in between, and the
// token must not be cached after that. So forget and flush count in
// forgotten before they scan, and put caches only if the count has not
// moved since the caller read it with epoch, before asking the store or
// reading the keys. put checks under the shard's lock, which the scan also
// takes after counting: either put sees the count move and drops the entry,
// or the scan reaches the shard after put and deletes it. A count for every
// forget, not per token, keeps the bookkeeping off the hot path; an
// unrelated forget during a first sight only means that token is verified
// afresh once more.
type tokenCache struct {
	seed      maphash.Seed
	perShard  int
	shards    [cacheShards]cacheShard
	forgotten atomic.Uint64
}

type cacheShard struct {
	sync.RWMutex
	m map[uint64]*cacheEntry
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// hash returns k's hash and the shard it belongs to.
func (c *tokenCache) hash(k string) (uint64, *cacheShard) {
	h := maphash.String(c.seed, k)
	return h, &c.shards[h%cacheShards]
}

// get returns the entry for k while it is good at now; an expired one is
// dropped.
func (c *tokenCache) get(k string, now time.Time) *cacheEntry {
	h, s := c.hash(k)
	s.RLock()
	e := s.m[h]
	s.RUnlock()
	if e == nil || e.raw != k {
		return nil
	}
	if now.Before(e.expires) {
		return e
	}
	s.Lock()
	if s.m[h] == e { // not a fresh entry put meanwhile
		delete(s.m, h)
	}
	s.Unlock()
	return nil
}

// epoch is the forget count, to read before asking the store and hand to put.
func (c *tokenCache) epoch() uint64 { return c.forgotten.Load() }

// put caches e unless something was forgotten since epoch returned seen.
func (c *tokenCache) put(k string, e *cacheEntry, seen uint64) {
	h, s := c.hash(k)
	s.Lock()
	if c.forgotten.Load() != seen {
		s.Unlock()
		return
	}
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	e.raw = k
	s.m[h] = e
	s.Unlock()
}

// forget drops every entry for a jti, or for every token of a refresh
// family when id is a family's revocation id (token.FamilyRevocationID),
// and any put of one in flight. Revocations are rare, so a scan is cheaper
// than keeping a second index on the hot path.
func (c *tokenCache) forget(id string) {
	c.forgotten.Add(1) // before the scan: see tokenCache
	fam, isFam := token.RevokedFamily(id)
	for i := range c.shards {
		s := &c.shards[i]
		s.Lock()
		for k, e := range s.m {
			if p := e.principal; p != nil && (p.TokenID == id || (isFam && p.FamilyID == fam)) {
				delete(s.m, k)
			}
		}
		s.Unlock()
	}
}

// forgetWhere drops every entry whose principal match accepts, and any
// put in flight: a client or account whose credentials changed.
func (c *tokenCache) forgetWhere(match func(*Principal) bool) {
	c.forgotten.Add(1) // before the scan: see tokenCache
	for i := range c.shards {
		s := &c.shards[i]
		s.Lock()
		for k, e := range s.m {
			if p := e.principal; p != nil && match(p) {
				delete(s.m, k)
			}
		}
		s.Unlock()
	}
}

// flush drops every entry, and any put in flight: the keys changed.
func (c *tokenCache) flush() {
	c.forgotten.Add(1) // before the scan: see tokenCache
	for i := range c.shards {
		s := &c.shards[i]
		s.Lock()
		clear(s.m)
		s.Unlock()
	}
}

type subjectKind uint8

const (
	subjectClient subjectKind = iota
	subjectAccount
)

type stateKey struct {
	kind subjectKind
	id   string
}

type subjectState struct {
	generation int64
	disabled   bool
	gone       bool
	fetched    int64 // unix nanoseconds
}

// accepts reports whether a token may pass on this state: the subject
// exists and is enabled, and, when withGen is set, is at generation gen.
func (s subjectState) accepts(gen int64, withGen bool) error {
	switch {
	case s.gone:
		return invalid("client or account no longer exists")
	case s.disabled:
		return invalid("client or account is disabled")
	case withGen && s.generation != gen:
		return invalid("credentials were rotated")
	}
	return nil
}

// stateCache remembers the generation of clients and accounts. Entries
// are made only after a signature verified, so only real clients can add
// them; still, an application whose accounts create clients freely would
// grow it without end, so it is bounded: when full, an eighth of it
// (arbitrary entries, in Go's map order) makes room, and what goes is
// simply asked of the store again.
//
// Like tokenCache, it counts forgets, so that a state read from the store
// before a Forget is not cached after it: put takes the count that epoch
// returned before the store was asked, and caches nothing if it moved.
type stateCache struct {
	mu        sync.RWMutex
	m         map[stateKey]subjectState
	max       int
	forgotten atomic.Uint64
}

// stateCacheSize bounds the state cache: one small entry per client or
// account seen within the bound, far more than most deployments have.
const stateCacheSize = 100_000

func newStateCache(max int) *stateCache {
	return &stateCache{m: make(map[stateKey]subjectState), max: max}
}

func (c *stateCache) get(k stateKey) (subjectState, bool) {
	c.mu.RLock()
	s, ok := c.m[k]
	c.mu.RUnlock()
	return s, ok
}

// epoch is the forget count, to read before asking the store and hand to put.
func (c *stateCache) epoch() uint64 { return c.forgotten.Load() }

// put caches s unless a subject was forgotten since epoch returned seen.
func (c *stateCache) put(k stateKey, s subjectState, seen uint64) {
	c.mu.Lock()
	if c.forgotten.Load() != seen {
		c.mu.Unlock()
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		drop := max(1, c.max/8)
		for old := range c.m {
			delete(c.m, old)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.m[k] = s
	c.mu.Unlock()
}

// forget drops k, and any put in flight of a state read before.
func (c *stateCache) forget(k stateKey) {
	c.forgotten.Add(1)
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// flush drops every state, and any put in flight of one read before.
func (c *stateCache) flush() {
	c.forgotten.Add(1)
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
