// Package deadline bounds one call to a store: the issuer and the
// verifier give each store call its own deadline, so that a stalled store
// turns into an error within a known time instead of a request that hangs.
package deadline

import (
	"context"
	"time"
)

// Call runs f with ctx bounded by d: its deadline is the earlier of ctx's
// and now + d.
func Call[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

// Do is Call for a function that returns only an error.
func Do(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

// NeverWaits reports whether a store's calls never wait for I/O or another
// process, so that a deadline would cost a timer per call for nothing: the
// memory store says so with an InMemory method.
func NeverWaits(s any) bool {
	_, ok := s.(interface{ InMemory() })
	return ok
}
