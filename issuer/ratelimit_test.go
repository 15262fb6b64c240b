package issuer_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

var rateLimited = errBody("temporarily_unavailable", "too many failed client authentications; retry later")

// TestRateLimit runs over a store with a RateLimiter and RateCounter
// (memory), over one with only a RateLimiter (the issuer reads each
// counter with Count), and over one without (the issuer's in-memory
// counters).
func TestRateLimit(t *testing.T) {
	for _, name := range []string{"store", "store without CountMany", "in-memory"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, name == "in-memory", func(c *issuer.Config) {
				c.RateLimit = issuer.RateLimit{PerClient: 3, PerAddress: 5, Window: time.Minute}
				if name == "store without CountMany" {
					c.Store = limiterOnly{c.Store, c.Store.(store.RateLimiter)}
				}
			})
			id, secret := e.client(issuer.ClientSpec{})
			other, otherSecret := e.client(issuer.ClientSpec{})
			try := func(id, secret, addr string) *httpResult {
				return result(e.do(req{body: form("grant_type", "client_credentials"), remote: addr + ":1234",
					header: map[string]string{"Authorization": basic(id, secret)}}))
			}
			for range 3 {
				if r := try(id, "wrong", "192.0.2.1"); r.code != 401 {
					t.Fatalf("failure below the limit: %d %s", r.code, r.body)
				}
			}
			// The client id is locked for the rest of the window, even with
			// the right secret; epoch is 03:04:05, the window ends at 03:05:00.
			wantResponse(t, try(id, secret, "192.0.2.9"), 429, with(noStoreJSON, "Retry-After", "55"), rateLimited)
			e.clock.Advance(50 * time.Second)
			wantResponse(t, try(id, secret, "192.0.2.9"), 429, with(noStoreJSON, "Retry-After", "5"), rateLimited)
			// Another client from the same address is not.
			if r := try(other, otherSecret, "192.0.2.1"); r.code != 200 {
				t.Errorf("other client: %d %s", r.code, r.body)
			}
			// The next window starts afresh.
			e.clock.Advance(10 * time.Second)
			if r := try(id, secret, "192.0.2.1"); r.code != 200 {
				t.Errorf("next window: %d %s", r.code, r.body)
			}
			// Per address: failures with any ids, known or not, add up.
			for k := range 5 {
				id := []string{"unknown-a", "unknown-b", other}[k%3]
				if r := try(id, "wrong", "198.51.100.7"); r.code != 401 {
					t.Fatalf("address failure %d: %d %s", k, r.code, r.body)
				}
			}
			for _, who := range [][2]string{{id, secret}, {"unknown-c", "x"}} {
				r := try(who[0], who[1], "198.51.100.7")
				if r.code != 429 || r.body != rateLimited || r.header.Get("Retry-After") == "" {
					t.Errorf("address over its limit: %d %s", r.code, r.body)
				}
			}
			if r := try(id, secret, "198.51.100.8"); r.code != 200 {
				t.Errorf("another address: %d %s", r.code, r.body)
			}
			// Revocation and introspection count and obey the same limits.
			r := result(e.do(req{path: "/oauth/revoke", body: form("token", "x"), remote: "198.51.100.7:1",
				header: map[string]string{"Authorization": basic(id, secret)}}))
			if r.code != 429 {
				t.Errorf("revocation from a limited address: %d", r.code)
			}
		})
	}
}

func TestRateLimitClientIP(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: 2}
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Real-IP") }
	})
	id, secret := e.client(issuer.ClientSpec{})
	try := func(secret, ip string) int {
		return e.do(req{body: form("grant_type", "client_credentials"),
			header: map[string]string{"Authorization": basic(id, secret), "X-Real-IP": ip}}).Code
	}
	try("wrong", "203.0.113.1")
	try("wrong", "203.0.113.1")
	if c := try(secret, "203.0.113.1"); c != 429 {
		t.Errorf("limited proxy client: %d, want 429", c)
	}
	// Same RemoteAddr, another client address: not limited, and with
	// PerClient disabled the id is not locked either.
	if c := try(secret, "203.0.113.2"); c != 200 {
		t.Errorf("other proxy client: %d, want 200", c)
	}
}

func TestRateLimitDisabled(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: -1} })
	id, secret := e.client(issuer.ClientSpec{})
	for range 30 {
		e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, "wrong")}})
	}
	e.getToken(id, secret)
}

// failingLimiter is a store whose RateLimiter fails.
type failingLimiter struct{ store.Store }

func (failingLimiter) Hit(context.Context, string, time.Duration, time.Time) (int64, time.Time, error) {
	return 0, time.Time{}, errInjected
}

func (failingLimiter) Count(context.Context, string, time.Duration, time.Time) (int64, time.Time, error) {
	return 0, time.Time{}, errInjected
}

// failingCounter is a store whose RateLimiter counts but whose
// CountMany fails.
type failingCounter struct{ *memory.Store }

func (failingCounter) CountMany(context.Context, []string, time.Duration, time.Time) ([]int64, time.Time, error) {
	return nil, time.Time{}, errInjected
}

// shortCounter is a store whose CountMany answers fewer counts than keys.
type shortCounter struct{ *memory.Store }

func (shortCounter) CountMany(_ context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	return make([]int64, len(keys)-1), now.Truncate(w).Add(w), nil
}

func TestRateLimiterFailureFailsClosed(t *testing.T) {
	for name, st := range map[string]store.Store{
		"Count":           failingLimiter{memory.New()},
		"CountMany":       failingCounter{memory.New()},
		"short CountMany": shortCounter{memory.New()},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) { c.Store = st })
			id, secret := e.client(issuer.ClientSpec{})
			wantResponse(t, e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}),
				503, noStoreJSON, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
		})
	}
}

// limiterOnly is a store whose rate limiter has Hit and Count but not
// CountMany.
type limiterOnly struct {
	store.Store
	rl store.RateLimiter
}

func (l limiterOnly) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	return l.rl.Hit(ctx, key, w, now)
}

func (l limiterOnly) Count(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	return l.rl.Count(ctx, key, w, now)
}

// countingCounter is a store whose rate limiter records each call: which
// method, with which keys.
type countingCounter struct {
	*memory.Store
	mu    sync.Mutex
	calls []string
}

func (c *countingCounter) record(call string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
}

func (c *countingCounter) Count(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	c.record("Count " + key)
	return c.Store.Count(ctx, key, w, now)
}

func (c *countingCounter) CountMany(ctx context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	c.record("CountMany " + strings.Join(keys, " "))
	return c.Store.CountMany(ctx, keys, w, now)
}

func (c *countingCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

// TestRateLimitPrecheckOneRead: before authenticating, the issuer reads
// the client id's and the address's counters in one CountMany (one store
// round trip), and only the counters whose limit is on.
func TestRateLimitPrecheckOneRead(t *testing.T) {
	for _, c := range []struct {
		name string
		rl   issuer.RateLimit
		want string
	}{
		{"both", issuer.RateLimit{}, "CountMany authfail:client:%s authfail:addr:192.0.2.1"},
		{"address only", issuer.RateLimit{PerClient: -1}, "CountMany authfail:addr:192.0.2.1"},
		{"client only", issuer.RateLimit{PerAddress: -1}, "CountMany authfail:client:%s"},
		{"neither", issuer.RateLimit{PerClient: -1, PerAddress: -1}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &countingCounter{Store: memory.New()}
			e := newEnv(t, false, func(cfg *issuer.Config) { cfg.Store, cfg.RateLimit = st, c.rl })
			id, secret := e.client(issuer.ClientSpec{})
			st.take()
			r := result(e.do(req{body: form("grant_type", "client_credentials"), remote: "192.0.2.1:1234",
				header: map[string]string{"Authorization": basic(id, secret)}}))
			if r.code != 200 {
				t.Fatalf("token: %d %s", r.code, r.body)
			}
			var want []string
			if c.want != "" {
				want = []string{strings.ReplaceAll(c.want, "%s", id)}
			}
			if got := st.take(); !slices.Equal(got, want) {
				t.Errorf("rate limiter calls %q, want %q", got, want)
			}
		})
	}
}

// sweepSignal is a store that reports its sweeps.
type sweepSignal struct {
	store.Store
	swept chan time.Time
}

func (s sweepSignal) Sweep(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.Store.(store.Sweeper).Sweep(ctx, now)
	s.swept <- now
	return n, err
}

func TestSweep(t *testing.T) {
	sig := sweepSignal{memory.New(), make(chan time.Time, 4)}
	e := newEnv(t, false, func(c *issuer.Config) { c.Store = sig; c.SweepInterval = time.Hour })
	id, secret := e.client(issuer.ClientSpec{})
	e.getToken(id, secret)
	select {
	case <-sig.swept:
		t.Fatal("swept before the interval")
	default:
	}
	e.clock.Advance(time.Hour)
	e.getToken(id, secret)
	e.getToken(id, secret) // not twice for one interval
	select {
	case at := <-sig.swept:
		if !at.Equal(epoch.Add(time.Hour)) {
			t.Errorf("swept at %v", at)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("no background sweep")
	}
	if n, err := e.iss.Sweep(t.Context()); err != nil || n != 0 {
		t.Errorf("Sweep: %d, %v", n, err)
	}
	<-sig.swept
	select {
	case at := <-sig.swept:
		t.Errorf("a second background sweep at %v within one interval", at)
	default:
	}
}

// TestThrottleIntrospectionAndRevocation: an authenticated client's
// introspection and revocation requests add up against PerClientCalls;
// past it they get 429 with Retry-After, other clients do not, and the
// next window starts afresh.
func TestThrottleIntrospectionAndRevocation(t *testing.T) {
	throttled := errBody("temporarily_unavailable", "too many introspection or revocation requests; retry later")
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "store", false: "in-memory"}[shared]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, !shared, func(c *issuer.Config) { c.RateLimit.PerClientCalls = 4 })
			id, secret := e.client(issuer.ClientSpec{})
			other, otherSecret := e.client(issuer.ClientSpec{})
			call := func(path, id, secret string) *httpResult {
				return result(e.do(req{path: path, body: form("token", "pca_unknown"), remote: "192.0.2.1:1",
					header: map[string]string{"Authorization": basic(id, secret)}}))
			}
			for k := range 4 {
				path := []string{"/oauth/introspect", "/oauth/revoke"}[k%2]
				if r := call(path, id, secret); r.code != 200 {
					t.Fatalf("call %d below the limit: %d %s", k, r.code, r.body)
				}
			}
			// epoch is 03:04:05: the window ends at 03:05:00.
			wantResponse(t, call("/oauth/introspect", id, secret), 429, with(noStoreJSON, "Retry-After", "55"), throttled)
			wantResponse(t, call("/oauth/revoke", id, secret), 429, with(noStoreJSON, "Retry-After", "55"), throttled)
			if r := call("/oauth/introspect", other, otherSecret); r.code != 200 {
				t.Errorf("another client: %d %s", r.code, r.body)
			}
			// A throttled client still gets tokens: only these endpoints count.
			if r := result(e.do(req{body: form("grant_type", "client_credentials"),
				header: map[string]string{"Authorization": basic(id, secret)}})); r.code != 200 {
				t.Errorf("token endpoint of a throttled client: %d %s", r.code, r.body)
			}
			e.clock.Advance(55 * time.Second)
			if r := call("/oauth/introspect", id, secret); r.code != 200 {
				t.Errorf("next window: %d %s", r.code, r.body)
			}
		})
	}
}

func TestThrottleDefaultAndOff(t *testing.T) {
	e := newEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	n := 0
	for ; n < 700; n++ {
		r := result(e.do(req{path: "/oauth/introspect", body: form("token", "x"),
			header: map[string]string{"Authorization": basic(id, secret)}}))
		if r.code == 429 {
			break
		}
	}
	if n != 600 {
		t.Errorf("throttled after %d requests, want 600 by default", n)
	}
	e = newEnv(t, false, func(c *issuer.Config) { c.RateLimit.PerClientCalls = -1 })
	id, secret = e.client(issuer.ClientSpec{})
	for range 700 {
		r := result(e.do(req{path: "/oauth/revoke", body: form("token", "x"),
			header: map[string]string{"Authorization": basic(id, secret)}}))
		if r.code != 200 {
			t.Fatalf("with PerClientCalls -1: %d %s", r.code, r.body)
		}
	}
}
