package middleware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// hookedState runs a hook once, right after the store answered a question
// and before the verifier caches the answer: the moment a store.Watcher
// event (and so Forget) can arrive from another goroutine. The hook stands
// in for that goroutine, so the interleaving is exact and needs no sleeps.
type hookedState struct {
	middleware.LocalStore
	afterClient, afterAccount, afterRevoked func()
}

func (h *hookedState) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := h.LocalStore.GetClient(ctx, id)
	runOnce(&h.afterClient)
	return c, err
}

func (h *hookedState) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	a, err := h.LocalStore.GetAccount(ctx, id)
	runOnce(&h.afterAccount)
	return a, err
}

func (h *hookedState) IsRevoked(ctx context.Context, id string, now time.Time) (bool, error) {
	r, err := h.LocalStore.IsRevoked(ctx, id, now)
	runOnce(&h.afterRevoked)
	return r, err
}

func runOnce(f *func()) {
	if g := *f; g != nil {
		*f = nil
		g()
	}
}

// hookedEnv is an env whose verifier asks the store through a hookedState.
func hookedEnv(t *testing.T, ttl time.Duration) (*env, *hookedState) {
	t.Helper()
	h := &hookedState{}
	counted := &countingState{LocalStore: h}
	e := newEnv(t, middleware.LocalConfig{Store: counted, StateTTL: ttl})
	h.LocalStore = e.st
	e.state = counted
	return e, h
}

// TestForgetDuringStateFetch: a client or account changes, and its event is
// forgotten, after a Verify read the old state from the store but before it
// cached it. The stale answer must not outlive the Forget: the next Verify,
// with the clock unchanged, refuses the token.
func TestForgetDuringStateFetch(t *testing.T) {
	ctx := context.Background()
	const ttl = 5 * time.Second
	type change struct {
		name    string
		account bool
		apply   func(t *testing.T, e *env)
		event   store.Event
	}
	changes := []change{
		{"client rotated", false, func(t *testing.T, e *env) {
			c, _ := e.st.GetClient(ctx, "c1")
			c.Generation = 2
			if err := e.st.UpdateClient(ctx, c, 1); err != nil {
				t.Fatal(err)
			}
		}, store.Event{Kind: store.EventClientChanged, ID: "c1", Generation: 2}},
		{"client deleted", false, func(t *testing.T, e *env) {
			if err := e.st.DeleteClient(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
		}, store.Event{Kind: store.EventClientChanged, ID: "c1", Generation: -1}},
		{"account rotated", true, func(t *testing.T, e *env) {
			a, _ := e.st.GetAccount(ctx, "a1")
			a.Generation = 2
			if err := e.st.UpdateAccount(ctx, a, 1); err != nil {
				t.Fatal(err)
			}
		}, store.Event{Kind: store.EventAccountChanged, ID: "a1", Generation: 2}},
	}
	for _, ch := range changes {
		// The stale read happens on a token's first sight, or when a cached
		// token's state answer has aged past StateTTL and is fetched again.
		for _, recheck := range []bool{false, true} {
			name := ch.name + "/first sight"
			if recheck {
				name = ch.name + "/recheck"
			}
			t.Run(name, func(t *testing.T) {
				e, h := hookedEnv(t, ttl)
				claims := e.claims()
				if ch.account {
					claims = e.accountClaims()
				}
				raw := tokentest.Sign(t, e.keys[token.ES256], nil, claims)
				if recheck {
					if _, err := e.v.Verify(ctx, raw); err != nil {
						t.Fatal(err)
					}
					e.clk.Advance(ttl)
				}
				fired := false
				hook := func() {
					fired = true
					ch.apply(t, e)
					e.v.Forget(ch.event)
				}
				if ch.account {
					h.afterAccount = hook
				} else {
					h.afterClient = hook
				}
				// This Verify overlaps the change: either answer is right.
				_, _ = e.v.Verify(ctx, raw)
				if !fired {
					t.Fatal("the verifier never asked the store: the race was not staged")
				}
				if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
					t.Fatalf("after Forget, the state read before it still lets the token pass: %v", err)
				}
			})
		}
	}
}

// TestForgetDuringRevocationCheck: a token is revoked, and the event
// forgotten, after a first-sight Verify found it not revoked but before it
// cached the token. The next Verify, with the clock unchanged, refuses it.
func TestForgetDuringRevocationCheck(t *testing.T) {
	ctx := context.Background()
	e, h := hookedEnv(t, 5*time.Second)
	c := e.claims()
	jti := c["jti"].(string)
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, c)
	fired := false
	h.afterRevoked = func() {
		fired = true
		if err := e.st.Revoke(ctx, jti, e.clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		e.v.Forget(store.Event{Kind: store.EventRevoked, ID: jti})
	}
	// This Verify overlaps the revocation: either answer is right.
	_, _ = e.v.Verify(ctx, raw)
	if !fired {
		t.Fatal("the verifier never asked about revocation: the race was not staged")
	}
	if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("after Forget, the revocation check made before it still lets the token pass: %v", err)
	}
}

// TestCachingResumesAfterForget: an event during a Verify, here about
// someone else, may cost that Verify its caching (one more store question
// later), but must not stop the verifier from caching for good.
func TestCachingResumesAfterForget(t *testing.T) {
	ctx := context.Background()
	e, h := hookedEnv(t, time.Hour)
	h.afterClient = func() { e.v.Forget(store.Event{Kind: store.EventClientChanged, ID: "other", Generation: 2}) }
	h.afterRevoked = func() { e.v.Forget(store.Event{Kind: store.EventRevoked, ID: "other"}) }
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
	for i := range 2 {
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatalf("Verify %d: %v", i+1, err)
		}
	}
	before := e.state.calls()
	for i := range 3 {
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatalf("Verify %d: %v", i+3, err)
		}
	}
	if n := e.state.calls() - before; n != 0 {
		t.Fatalf("once the events were over, three more Verifies asked the store %d times; want 0, all from the cache", n)
	}
}
