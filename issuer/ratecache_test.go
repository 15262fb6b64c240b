package issuer_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// sharedCounters is the memory store as a replica sees a store outside its
// process: its InMemory marker is hidden (so the issuer caches counts, as
// over PostgreSQL or Redis), and the rate limiter's reads are counted.
// Several issuers over one are replicas sharing the store's counters.
type sharedCounters struct {
	store.Store
	mem *memory.Store

	mu    sync.Mutex
	reads int      // Count and CountMany calls
	hit   error    // what Hit fails with, nil for none
	keys  []string // the keys read, in order
}

func newSharedCounters() *sharedCounters {
	m := memory.New()
	return &sharedCounters{Store: m, mem: m}
}

func (s *sharedCounters) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	s.mu.Lock()
	err := s.hit
	s.mu.Unlock()
	if err != nil {
		return 0, time.Time{}, err
	}
	return s.mem.Hit(ctx, key, w, now)
}

func (s *sharedCounters) Count(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	s.read(key)
	return s.mem.Count(ctx, key, w, now)
}

func (s *sharedCounters) CountMany(ctx context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	s.read(keys...)
	return s.mem.CountMany(ctx, keys, w, now)
}

func (s *sharedCounters) read(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	s.keys = append(s.keys, keys...)
}

// takeReads returns the reads since the last call and the keys they read.
func (s *sharedCounters) takeReads() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, keys := s.reads, s.keys
	s.reads, s.keys = 0, nil
	return n, keys
}

func (s *sharedCounters) failHit(err error) {
	s.mu.Lock()
	s.hit = err
	s.mu.Unlock()
}

// count is the store's count of key in the window containing now.
func (s *sharedCounters) count(t *testing.T, key string, w time.Duration, now time.Time) int64 {
	t.Helper()
	n, _, err := s.mem.Count(t.Context(), key, w, now)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// replicas returns n issuers over one sharedCounters and one clock, made
// with mod applied to the config, as envs (each serves through its own
// issuer).
func replicas(t *testing.T, n int, mod func(*issuer.Config)) ([]*env, *sharedCounters) {
	t.Helper()
	st := newSharedCounters()
	first := newEnv(t, false, func(c *issuer.Config) {
		c.Store = st
		if mod != nil {
			mod(c)
		}
	})
	envs := []*env{first}
	for range n - 1 {
		iss, err := issuer.New(first.cfg)
		if err != nil {
			t.Fatal(err)
		}
		e := *first
		e.iss = iss
		envs = append(envs, &e)
	}
	return envs, st
}

func tryToken(e *env, id, secret, addr string) *httptest.ResponseRecorder {
	return e.do(req{body: form("grant_type", "client_credentials"), remote: addr + ":1234",
		header: map[string]string{"Authorization": basic(id, secret)}})
}

// TestCountCacheSkipsReads: over a store outside the process, a client
// that does not fail costs one read of its counters per CountCacheTTL,
// and none in between; a new window or an ended TTL reads again, and only
// the counters that are not known.
func TestCountCacheSkipsReads(t *testing.T) {
	envs, st := replicas(t, 1, func(c *issuer.Config) {
		c.RateLimit = issuer.RateLimit{Window: time.Minute, CountCacheTTL: 2 * time.Second}
	})
	e := envs[0]
	id, secret := e.client(issuer.ClientSpec{})
	want := func(what string, reads int, keys ...string) {
		t.Helper()
		gotReads, gotKeys := st.takeReads()
		if gotReads != reads || fmt.Sprint(gotKeys) != fmt.Sprint(keys) {
			t.Errorf("%s: %d reads of %q, want %d of %q", what, gotReads, gotKeys, reads, keys)
		}
	}
	clientKey, addrKey := "authfail:client:"+id, "authfail:addr:192.0.2.1"
	ok := func(addr string) {
		t.Helper()
		if r := tryToken(e, id, secret, addr); r.Code != 200 {
			t.Fatalf("token: %d %s", r.Code, r.Body)
		}
	}
	ok("192.0.2.1")
	want("first request", 1, clientKey, addrKey)
	for range 5 {
		ok("192.0.2.1")
	}
	want("warm", 0)
	// Another address: only its counter is read.
	ok("192.0.2.2")
	want("new address", 1, "authfail:addr:192.0.2.2")
	e.clock.Advance(2*time.Second - time.Nanosecond)
	ok("192.0.2.1")
	want("within the TTL", 0)
	e.clock.Advance(time.Nanosecond)
	ok("192.0.2.1")
	want("TTL over", 1, clientKey, addrKey)
	// epoch is 03:04:05; the window ends at 03:05:00.
	e.clock.Advance(55*time.Second - 2*time.Second)
	ok("192.0.2.1")
	want("next window", 1, clientKey, addrKey)
	// A failure here is counted, not read: the next attempt knows it.
	if r := tryToken(e, id, "wrong", "192.0.2.1"); r.Code != 401 {
		t.Fatalf("wrong secret: %d", r.Code)
	}
	ok("192.0.2.1")
	want("after a failure here", 0)
}

// TestCountCacheOff: a negative CountCacheTTL reads the counters before
// every authentication; so does a memory store, whose counters are in the
// process anyway (its reads are not counted here: the issuer reads it
// directly, see TestRateLimitPrecheckOneRead).
func TestCountCacheOff(t *testing.T) {
	envs, st := replicas(t, 1, func(c *issuer.Config) { c.RateLimit.CountCacheTTL = -1 })
	e := envs[0]
	id, secret := e.client(issuer.ClientSpec{})
	for range 3 {
		if r := tryToken(e, id, secret, "192.0.2.1"); r.Code != 200 {
			t.Fatalf("token: %d %s", r.Code, r.Body)
		}
	}
	if n, _ := st.takeReads(); n != 3 {
		t.Errorf("%d reads for 3 requests, want 3", n)
	}
}

// TestCountCacheBoundAcrossReplicas is the attacker's view of the count
// cache: guesses for one client id (from many addresses) spread over R
// replicas sharing the store. Once the id has used up its failures, each
// other replica lets at most one more guess in, whose failure reads the
// true count back: limit + R − 1 failures in all, whatever the order of
// the guesses, and not one more after the TTL. Without the cache, exactly
// limit.
func TestCountCacheBoundAcrossReplicas(t *testing.T) {
	const limit, R = 3, 3
	strategies := map[string]func(attempt int) int{ // attempt → replica
		"one replica, then the others": func(k int) int { return max(0, k-limit+1) % R },
		"round robin":                  func(k int) int { return k % R },
		"last replica first":           func(k int) int { return (R - 1 - k%R + R) % R },
		"pairs":                        func(k int) int { return (k / 2) % R },
	}
	for name, replicaOf := range strategies {
		for _, ttl := range []time.Duration{time.Hour, -1} {
			t.Run(fmt.Sprintf("%s/ttl=%v", name, ttl), func(t *testing.T) {
				envs, st := replicas(t, R, func(c *issuer.Config) {
					c.RateLimit = issuer.RateLimit{PerClient: limit, PerAddress: -1, Window: 24 * time.Hour, CountCacheTTL: ttl}
				})
				id, secret := envs[0].client(issuer.ClientSpec{})
				// Every replica has read the counter (0) before the attack.
				for _, e := range envs {
					if r := tryToken(e, id, secret, "192.0.2.1"); r.Code != 200 {
						t.Fatalf("warm-up: %d %s", r.Code, r.Body)
					}
				}
				failures := 0
				for k := range 10 * R {
					switch r := tryToken(envs[replicaOf(k)], id, fmt.Sprint("guess", k), fmt.Sprintf("198.51.100.%d", k)); r.Code {
					case 401:
						failures++
					case 429:
					default:
						t.Fatalf("guess %d: %d %s", k, r.Code, r.Body)
					}
				}
				wantMax := limit + R - 1
				if ttl < 0 {
					wantMax = limit
				}
				now := envs[0].clock.Now()
				stored := st.count(t, "authfail:client:"+id, 24*time.Hour, now)
				if failures > wantMax || stored != int64(failures) {
					t.Errorf("%d guesses answered, %d counted; bound %d", failures, stored, wantMax)
				}
				if name == "one replica, then the others" && failures != wantMax {
					t.Errorf("%d guesses answered; the bound %d is reached this way", failures, wantMax)
				}
				// Past the TTL no replica lets another guess in, nor the
				// right secret, until the window ends.
				envs[0].clock.Advance(time.Hour)
				for k, e := range envs {
					if r := tryToken(e, id, "late guess", "203.0.113.1"); r.Code != 429 {
						t.Errorf("replica %d, guess past the TTL: %d", k, r.Code)
					}
					if r := tryToken(e, id, secret, "203.0.113.2"); r.Code != 429 {
						t.Errorf("replica %d, right secret while locked: %d", k, r.Code)
					}
				}
			})
		}
	}
}

// TestCountCacheAddressBound: the same bound holds for an address's
// counter, guessing unknown ids.
func TestCountCacheAddressBound(t *testing.T) {
	const limit, R = 4, 2
	envs, st := replicas(t, R, func(c *issuer.Config) {
		c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: limit, Window: 24 * time.Hour, CountCacheTTL: time.Hour}
	})
	id, secret := envs[0].client(issuer.ClientSpec{})
	for _, e := range envs {
		if r := tryToken(e, id, secret, "192.0.2.7"); r.Code != 200 {
			t.Fatalf("warm-up: %d %s", r.Code, r.Body)
		}
	}
	failures := 0
	for k := range 20 {
		if tryToken(envs[k%R], fmt.Sprint("unknown", k), "x", "192.0.2.7").Code == 401 {
			failures++
		}
	}
	stored := st.count(t, "authfail:addr:192.0.2.7", 24*time.Hour, envs[0].clock.Now())
	if failures > limit+R-1 || stored != int64(failures) {
		t.Errorf("%d guesses answered, %d counted; bound %d", failures, stored, limit+R-1)
	}
}

// TestCountCacheHitFails: a failure that cannot be counted answers 503
// and leaves the counter unknown: the next attempt reads it, and is
// refused if the store cannot answer.
func TestCountCacheHitFails(t *testing.T) {
	envs, st := replicas(t, 1, func(c *issuer.Config) {
		c.RateLimit = issuer.RateLimit{PerAddress: -1, CountCacheTTL: time.Hour}
	})
	e := envs[0]
	id, secret := e.client(issuer.ClientSpec{})
	if r := tryToken(e, id, secret, "192.0.2.1"); r.Code != 200 {
		t.Fatalf("token: %d %s", r.Code, r.Body)
	}
	st.takeReads()
	st.failHit(errInjected)
	if r := tryToken(e, id, "wrong", "192.0.2.1"); r.Code != 503 {
		t.Errorf("failure not counted: %d, want 503", r.Code)
	}
	st.failHit(nil)
	if r := tryToken(e, id, secret, "192.0.2.1"); r.Code != 200 {
		t.Errorf("after: %d %s", r.Code, r.Body)
	}
	if n, _ := st.takeReads(); n != 1 {
		t.Errorf("%d reads after a failed count, want 1", n)
	}
}
