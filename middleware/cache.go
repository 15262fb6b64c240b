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
	// state is the last answer of the state check for the token's client
	// (and account), which a LocalVerifier trusts while it holds; it
	// points at firstState until the first recheck.
	state      atomic.Pointer[stateMemo]
	firstState stateMemo
	// dropped is set, under the shard's lock, when the entry leaves the
	// map (forgotten, flushed, expired, evicted or replaced), so that the
	// hot slots never serve it again.
	dropped atomic.Bool
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
//
// # The hot pointers
//
// Before the map, get tries the entry it served last for tokens that end
// like this one: a table of hotSlots pointers indexed by a hash of the
// token's last hotTail bytes (for a JWT, part of its signature; for an
// opaque token, random), so that a hit hashes 32 bytes instead of the whole
// token, takes no lock and only reads memory. Through the map, every get
// writes the shard's lock word twice (RLock, RUnlock), and when the
// requests of many connections present one token, as a busy client's do,
// the cores serving them pass that word's cache line back and forth on
// every request. A hot entry is served only when its token is this one,
// byte for byte, so the index needs no secret and a format whose tokens
// share their tail only makes them take turns in one slot. Whatever takes
// an entry out of the map marks it (dropped) under the shard's lock, and
// get never serves a marked entry from a slot: the slots serve only what
// the map still holds, so a forget that deleted an entry is never undone by
// a get that read it from the map just before and pointed a slot at it
// just after.
type tokenCache struct {
	seed      maphash.Seed
	perShard  int
	shards    [cacheShards]cacheShard
	hot       [hotSlots]hotSlot
	forgotten atomic.Uint64
}

type cacheShard struct {
	sync.RWMutex
	m map[uint64]*cacheEntry
	// The rest of a 64-byte cache line, so that a write to one shard's
	// lock does not evict its neighbour's from other cores.
	_ [32]byte
}

const (
	// hotSlots is the number of hot pointers: tokens in use at once on a
	// busy route are few, and a slot costs one cache line.
	hotSlots = 128
	// hotTail is how much of the end of a token picks its hot slot.
	hotTail = 32
)

// hotSlot is the entry get served last for the tokens whose tail hashes
// to this slot, alone on its cache line, since other cores read it on
// every request.
type hotSlot struct {
	atomic.Pointer[cacheEntry]
	_ [56]byte
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

// hotSlot returns the hot pointer for k: see tokenCache.
func (c *tokenCache) hotSlot(k string) *hotSlot {
	return &c.hot[maphash.String(c.seed, k[max(0, len(k)-hotTail):])%hotSlots]
}

// get returns the entry for k while it is good at now; an expired one is
// dropped.
func (c *tokenCache) get(k string, now time.Time) *cacheEntry {
	hot := c.hotSlot(k)
	if e := hot.Load(); e != nil && e.raw == k && !e.dropped.Load() && now.Before(e.expires) {
		return e // no lock, no write: see tokenCache
	}
	h, s := c.hash(k)
	s.RLock()
	e := s.m[h]
	s.RUnlock()
	if e == nil || e.raw != k {
		return nil
	}
	if now.Before(e.expires) {
		hot.Store(e)
		return e
	}
	s.Lock()
	if s.m[h] == e { // not a fresh entry put meanwhile
		e.dropped.Store(true)
		delete(s.m, h)
	}
	hot.CompareAndSwap(e, nil)
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
	if prev, ok := s.m[h]; ok {
		prev.dropped.Store(true) // replaced: another token with this hash, or this one again
	} else if len(s.m) >= c.perShard {
		for old, oe := range s.m {
			oe.dropped.Store(true)
			delete(s.m, old)
			break
		}
	}
	e.raw = k
	e.dropped.Store(false)
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
				e.dropped.Store(true)
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
				e.dropped.Store(true)
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
		for _, e := range s.m {
			e.dropped.Store(true)
		}
		clear(s.m)
		s.Unlock()
	}
	// Tidiness only: every entry the slots point at is marked dropped.
	for i := range c.hot {
		c.hot[i].Store(nil)
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

// stateMemo is a state check that passed: the token's client (and
// account) were accepted, from states that may be trusted until until
// (unix nanoseconds), while the state cache's version is still version.
// The version is read before the check, and moves, after the change is
// made, whenever the cache learns anything that could refuse a token it
// accepted (a forget, a flush, a state replaced by a different one, an
// eviction): a check that read a state before a change read the version
// before its move too, so a memo made from states the cache no longer
// holds is never trusted; one made during such a change is merely redone.
type stateMemo struct {
	version uint64
	until   int64
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
// (arbitrary entries, in map order) makes room, and what goes is simply
// asked of the store again.
//
// Like tokenCache, it counts forgets, so that a state read from the store
// before a Forget is not cached after it: put takes the count that epoch
// returned before the store was asked, and caches nothing if it moved.
//
// Every first sight of a token reads it, and so does a cached token once
// its memo is stale (see stateMemo), so reads take no lock: a sync.Map,
// whose Load only reads memory, where an RWMutex's RLock and RUnlock would
// write one word from every core that serves a request (see tokenCache's
// hot pointers). Writers, rare, serialise on mu, which also
// keeps n, the number of entries, exact.
type stateCache struct {
	mu        sync.Mutex
	m         sync.Map // stateKey → subjectState
	n         int      // entries in m, under mu
	max       int
	forgotten atomic.Uint64
	// version moves on any change that could refuse a token that the
	// cache's states accepted: see stateMemo.
	version atomic.Uint64
}

// stateCacheSize bounds the state cache: one small entry per client or
// account seen within the bound, far more than most deployments have.
const stateCacheSize = 100_000

func newStateCache(max int) *stateCache {
	return &stateCache{max: max}
}

func (c *stateCache) get(k stateKey) (subjectState, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		return subjectState{}, false
	}
	return v.(subjectState), true
}

// len returns the number of entries.
func (c *stateCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// epoch is the forget count, to read before asking the store and hand to put.
func (c *stateCache) epoch() uint64 { return c.forgotten.Load() }

// put caches s unless a subject was forgotten since epoch returned seen.
func (c *stateCache) put(k stateKey, s subjectState, seen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgotten.Load() != seen {
		return
	}
	changed := false
	if prev, ok := c.m.Load(k); !ok {
		if c.n >= c.max {
			// What goes may come back different, unseen by the memos.
			changed = true
			drop := max(1, c.max/8)
			c.m.Range(func(old, _ any) bool {
				c.m.Delete(old)
				c.n--
				drop--
				return drop > 0
			})
		}
		c.n++
	} else if p := prev.(subjectState); p.generation != s.generation || p.disabled != s.disabled || p.gone != s.gone {
		changed = true
	}
	c.m.Store(k, s)
	if changed {
		c.version.Add(1) // after the change: see stateMemo
	}
}

// forget drops k, and any put in flight of a state read before.
func (c *stateCache) forget(k stateKey) {
	c.forgotten.Add(1)
	c.mu.Lock()
	if _, ok := c.m.LoadAndDelete(k); ok {
		c.n--
	}
	c.version.Add(1) // after the change: see stateMemo
	c.mu.Unlock()
}

// flush drops every state, and any put in flight of one read before.
func (c *stateCache) flush() {
	c.forgotten.Add(1)
	c.mu.Lock()
	c.m.Clear()
	c.n = 0
	c.version.Add(1) // after the change: see stateMemo
	c.mu.Unlock()
}
