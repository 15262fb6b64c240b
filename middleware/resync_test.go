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

// TestForgetResync: changes the verifier never heard of (their events were
// lost while a store's subscription was down) stay invisible while its
// caches are trusted, and an EventResync drops both caches: the token
// cache (a revocation) and the state cache (a rotation).
func TestForgetResync(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{StateTTL: time.Hour})
	revokedClaims := e.claims()
	revoked := tokentest.Sign(t, e.keys[token.ES256], nil, revokedClaims)
	rotated := tokentest.Sign(t, e.keys[token.ES256], nil, e.accountClaims())
	for _, raw := range []string{revoked, rotated} {
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}

	// Behind the verifier's back: no Forget.
	if err := e.st.Revoke(ctx, revokedClaims["jti"].(string), e.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a, err := e.st.GetAccount(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	a.Generation = 2
	if err := e.st.UpdateAccount(ctx, a, 1); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{revoked, rotated} {
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatalf("before the resync, within StateTTL: %v; want the cached answer", err)
		}
	}

	e.v.Forget(store.Event{Kind: store.EventResync})
	if _, err := e.v.Verify(ctx, revoked); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("revoked token after a resync: %v, want ErrInvalidToken", err)
	}
	if _, err := e.v.Verify(ctx, rotated); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token of a rotated account after a resync: %v, want ErrInvalidToken", err)
	}
}
