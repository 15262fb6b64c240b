package e2e

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
)

// TestPushDelay measures how long a rotation at one replica takes to reach
// the other replica's verifier when the store pushes events: from the
// moment RotateClient returns (the change is committed) until the other
// verifier, which had the old token cached, refuses it. It logs the figures
// and asserts only the liveness bound pushBound: timing is for benchmarks
// and reports, not for tests.
func TestPushDelay(t *testing.T) {
	const rounds = 20
	for _, b := range backends {
		if !b.pushes || b.name == "memory" {
			continue // memory shares one store in one process: nothing travels
		}
		t.Run(b.name, func(t *testing.T) {
			open := b.fresh(t)
			clk := tokentest.NewClockAt(time.Now())
			r1, r2 := newServer(t, open(), clk), newServer(t, open(), clk)
			for _, r := range []*server{r1, r2} {
				if ok, err := r.iss.Watch(t.Context()); err != nil || !ok {
					t.Fatalf("Watch = %v, %v", ok, err)
				}
			}
			id, secret := r1.client(t, issuer.ClientSpec{})
			v := r2.iss.Verifier()
			ctx := context.Background()
			delays := make([]time.Duration, 0, rounds)
			for range rounds {
				tok := r2.token(t, id, secret)
				if _, err := v.Verify(ctx, tok); err != nil { // cached from now on
					t.Fatal(err)
				}
				var err error
				if secret, err = r1.iss.RotateClient(ctx, id); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				for {
					if _, err := v.Verify(ctx, tok); err != nil {
						break
					}
					if time.Since(start) > pushBound {
						t.Fatalf("the other replica still accepts the old token %v after the rotation", pushBound)
					}
					runtime.Gosched()
				}
				delays = append(delays, time.Since(start))
			}
			slices.Sort(delays)
			t.Logf("%s: rotation at one replica refused at the other after min %v, median %v, max %v (%d rounds)",
				b.name, delays[0], delays[len(delays)/2], delays[len(delays)-1], rounds)
		})
	}
}
