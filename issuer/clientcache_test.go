package issuer_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// countingStore wraps a real store and counts the reads that client
// authentication makes; like faultStore it is not a database stand-in, and
// it hides the memory store's optional capabilities (no Watcher).
type countingStore struct {
	store.Store
	clients, accounts atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	s.clients.Add(1)
	return s.Store.GetClient(ctx, id)
}

func (s *countingStore) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	s.accounts.Add(1)
	return s.Store.GetAccount(ctx, id)
}

// tokenStatus runs client_credentials at e and returns the status.
func (e *env) tokenStatus(id, secret string) int {
	e.t.Helper()
	return e.do(req{body: form("grant_type", "client_credentials"),
		header: map[string]string{"Authorization": basic(id, secret)}}).Code
}

// replica is another issuer over e's store and clock, with e's config
// otherwise.
func (e *env) replica(mod func(*issuer.Config)) *env {
	e.t.Helper()
	r := *e
	if mod != nil {
		mod(&r.cfg)
	}
	iss, err := issuer.New(r.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	r.iss = iss
	return &r
}

func newCountingEnv(t *testing.T, mod func(*issuer.Config)) (*env, *countingStore) {
	cs := &countingStore{Store: memory.New()}
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Store = cs
		if mod != nil {
			mod(c)
		}
	})
	e.st = cs
	return e, cs
}

// TestClientCacheReadsOnce: a client asking for tokens again and again is
// read from the store once per ClientCacheTTL (the default, StateTTL, or
// its own), and every time when the cache is off.
func TestClientCacheReadsOnce(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cacheTTL    time.Duration
		stateTTL    time.Duration
		wantTTL     time.Duration // 0: no caching
		readsOfFive int64
	}{
		{"default", 0, 0, 5 * time.Second, 1},
		{"StateTTL", 0, 2 * time.Second, 2 * time.Second, 1},
		{"own", time.Second, 0, time.Second, 1},
		{"off", -1, 0, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, cs := newCountingEnv(t, func(c *issuer.Config) {
				c.ClientCacheTTL, c.StateTTL = tc.cacheTTL, tc.stateTTL
			})
			id, secret := e.client(issuer.ClientSpec{})
			for range 5 {
				e.getToken(id, secret)
			}
			if n := cs.clients.Load(); n != tc.readsOfFive {
				t.Fatalf("5 token requests read the client %d times, want %d", n, tc.readsOfFive)
			}
			if tc.wantTTL == 0 {
				return
			}
			e.clock.Advance(tc.wantTTL - time.Nanosecond)
			e.getToken(id, secret)
			if n := cs.clients.Load(); n != 1 {
				t.Fatalf("within the TTL: %d reads, want 1", n)
			}
			e.clock.Advance(time.Nanosecond)
			e.getToken(id, secret)
			if n := cs.clients.Load(); n != 2 {
				t.Fatalf("at the TTL: %d reads, want 2", n)
			}
		})
	}
}

// TestClientCacheUnknownNotCached: an unknown id is asked of the store
// every time, so that a client created at another replica works at once.
func TestClientCacheUnknownNotCached(t *testing.T) {
	e, cs := newCountingEnv(t, nil)
	other := e.replica(nil)
	for range 2 {
		if code := e.tokenStatus("later", "secret-of-a-client-made-later-on"); code != http.StatusUnauthorized {
			t.Fatalf("unknown client: %d", code)
		}
	}
	if n := cs.clients.Load(); n != 2 {
		t.Fatalf("two attempts of an unknown id read the store %d times, want 2", n)
	}
	c, secret, err := other.iss.CreateClient(t.Context(), issuer.ClientSpec{ID: "later"})
	if err != nil {
		t.Fatal(err)
	}
	e.getToken(c.ID, secret)
}

// TestClientCacheChangesHere: a rotation, disabling, deletion or owner
// account disabling made through this issuer is seen by its token
// endpoint at once, although the client is cached.
func TestClientCacheChangesHere(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(e *env, id string) (newSecret string)
	}{
		{"rotate", func(e *env, id string) string {
			s, err := e.iss.RotateClient(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"disable", func(e *env, id string) string {
			if err := e.iss.DisableClient(ctx, id); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{"delete", func(e *env, id string) string {
			if err := e.iss.DeleteClient(ctx, id); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{"disable owner", func(e *env, id string) string {
			if err := e.iss.DisableAccount(ctx, "owner"); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newCountingEnv(t, nil)
			if err := e.st.CreateAccount(ctx, &store.Account{ID: "owner", CreatedAt: epoch, UpdatedAt: epoch}); err != nil {
				t.Fatal(err)
			}
			id, secret := e.client(issuer.ClientSpec{OwnerAccount: "owner"})
			e.getToken(id, secret) // cached from now on
			newSecret := tc.change(e, id)
			if code := e.tokenStatus(id, secret); code != http.StatusUnauthorized {
				t.Fatalf("old credentials after the change: %d, want 401", code)
			}
			if newSecret != "" {
				e.getToken(id, newSecret)
			}
		})
	}
}

// TestClientCacheOtherReplica: a change made through another issuer on the
// same store reaches this one's token endpoint within ClientCacheTTL; a
// new secret and a client enabled again work at once.
func TestClientCacheOtherReplica(t *testing.T) {
	ctx := context.Background()
	const ttl = 3 * time.Second
	setup := func(t *testing.T) (here, there *env, id, secret string) {
		there, _ = newCountingEnv(t, func(c *issuer.Config) { c.ClientCacheTTL = ttl })
		if err := there.st.CreateAccount(ctx, &store.Account{ID: "owner", CreatedAt: epoch, UpdatedAt: epoch}); err != nil {
			t.Fatal(err)
		}
		here = there.replica(nil)
		id, secret = there.client(issuer.ClientSpec{OwnerAccount: "owner"})
		here.getToken(id, secret) // cached here
		return here, there, id, secret
	}
	// stale checks that the old credentials still work here until the
	// TTL has passed since they were read, and are refused from then on.
	stale := func(t *testing.T, here *env, id, secret string) {
		t.Helper()
		here.clock.Advance(ttl - time.Nanosecond)
		if code := here.tokenStatus(id, secret); code != http.StatusOK {
			t.Fatalf("within the TTL: %d, want the cached 200", code)
		}
		here.clock.Advance(time.Nanosecond)
		if code := here.tokenStatus(id, secret); code != http.StatusUnauthorized {
			t.Fatalf("at the TTL: %d, want 401", code)
		}
	}

	t.Run("rotate", func(t *testing.T) {
		here, there, id, secret := setup(t)
		if _, err := there.iss.RotateClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		stale(t, here, id, secret)
	})
	t.Run("new secret at once", func(t *testing.T) {
		here, there, id, secret := setup(t)
		newSecret, err := there.iss.RotateClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		here.getToken(id, newSecret)
		// The fresh read replaced the cached client: the old secret is
		// refused from then on.
		if code := here.tokenStatus(id, secret); code != http.StatusUnauthorized {
			t.Fatalf("old secret after the new one was seen: %d, want 401", code)
		}
	})
	t.Run("disable", func(t *testing.T) {
		here, there, id, secret := setup(t)
		if err := there.iss.DisableClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		stale(t, here, id, secret)
		if err := there.iss.EnableClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		here.getToken(id, secret) // enabled again: at once
	})
	t.Run("delete", func(t *testing.T) {
		here, there, id, secret := setup(t)
		if err := there.iss.DeleteClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		stale(t, here, id, secret)
	})
	t.Run("disable owner", func(t *testing.T) {
		here, there, id, secret := setup(t)
		if err := there.iss.DisableAccount(ctx, "owner"); err != nil {
			t.Fatal(err)
		}
		stale(t, here, id, secret)
		if err := there.iss.EnableAccount(ctx, "owner"); err != nil {
			t.Fatal(err)
		}
		here.getToken(id, secret) // an inactive account is never cached
	})
}

// TestClientCacheWatch: with Watch running, a rotation at another issuer
// reaches this one's token endpoint at once, the clock standing still.
func TestClientCacheWatch(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	clk := tokentest.NewClockAt(epoch)
	newIssuer := func() *env {
		e := &env{t: t, st: st, clock: clk, cfg: issuer.Config{Issuer: testIssuer, Store: st, Logger: quietLogger(), Now: clk.Now}}
		iss, err := issuer.New(e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.iss = iss
		return e
	}
	here, there := newIssuer(), newIssuer()
	if ok, err := here.iss.Watch(t.Context()); !ok || err != nil {
		t.Fatalf("Watch = %v, %v", ok, err)
	}
	id, secret := there.client(issuer.ClientSpec{})
	here.getToken(id, secret)
	if _, err := there.iss.RotateClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Events arrive on the watcher's goroutine; the deadline only bounds
	// a failing test.
	deadline := time.Now().Add(5 * time.Second)
	for here.tokenStatus(id, secret) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the rotated secret is still accepted although the store pushes events")
		}
		time.Sleep(time.Millisecond)
	}
}
