package e2e

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
)

// TestClientCacheReplicas: the token endpoint caches the client it
// authenticates (issuer.Config.ClientCacheTTL, StateTTL by default). A
// rotation at one replica is refused at the other at once when the store
// pushes events (Redis, PostgreSQL through pgwatch), and otherwise once the
// TTL has passed, the clock standing still until the test moves it; the
// new secret works at the other replica at once either way.
func TestClientCacheReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		open := b.fresh(t)
		clk := tokentest.NewClockAt(time.Now())
		r1, r2 := newServer(t, open(), clk), newServer(t, open(), clk)
		for _, r := range []*server{r1, r2} {
			if _, err := r.iss.Watch(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		id, secret := r1.client(t, issuer.ClientSpec{})
		r2.token(t, id, secret) // r2 caches the client
		newSecret, err := r1.iss.RotateClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		oldRefused := func() bool {
			_, err := r2.cc(id, secret, oauth2.AuthStyleInHeader).Token(context.Background())
			if err != nil && !invalidClient(err) {
				t.Fatal(err)
			}
			return err != nil
		}
		if b.pushes {
			deadline := time.Now().Add(pushBound)
			for !oldRefused() {
				if time.Now().After(deadline) {
					t.Fatalf("old secret still accepted %v after the rotation although the store pushes events", pushBound)
				}
				time.Sleep(10 * time.Millisecond)
			}
		} else {
			clk.Advance(stateTTL)
			if !oldRefused() {
				t.Fatal("old secret accepted at the other replica after ClientCacheTTL")
			}
		}
		r2.token(t, id, newSecret)
	})
}
