package middleware

import (
	"context"
	"time"

	"github.com/portcullis/portcullis/internal/deadline"
	"github.com/portcullis/portcullis/store"
)

// defaultStoreTimeout is LocalConfig.StoreTimeout's default.
const defaultStoreTimeout = 5 * time.Second

// boundedLocal gives every call to a LocalStore its own deadline (the
// earlier of the caller's and now + d), so that a stalled store makes
// Verify fail with ErrUnavailable instead of hanging the request.
type boundedLocal struct {
	LocalStore
	d time.Duration
}

// boundLocal wraps s unless d is negative or s never waits
// (the memory store: a deadline would cost a timer for nothing).
func boundLocal(s LocalStore, d time.Duration) LocalStore {
	if deadline.NeverWaits(s) || d < 0 {
		return s
	}
	return boundedLocal{s, d}
}

// unbound returns the store boundLocal wrapped, for the optional
// capabilities (store.Watcher) that the wrapper hides.
func unbound(s LocalStore) LocalStore {
	if b, ok := s.(boundedLocal); ok {
		return b.LocalStore
	}
	return s
}

func (b boundedLocal) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.Client, error) { return b.LocalStore.GetClient(ctx, id) })
}

func (b boundedLocal) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.Account, error) { return b.LocalStore.GetAccount(ctx, id) })
}

func (b boundedLocal) IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (bool, error) { return b.LocalStore.IsRevoked(ctx, tokenID, now) })
}

func (b boundedLocal) GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error) {
	return deadline.Call(ctx, b.d, func(ctx context.Context) (*store.AccessToken, error) {
		return b.LocalStore.GetAccessToken(ctx, hash, now)
	})
}

// boundedKeys bounds the key reads of a verifier that loads the keys from
// the store itself. It reads and never writes, so ListKeys is the only
// method it bounds.
type boundedKeys struct {
	store.Keys
	d time.Duration
}

func boundKeys(k store.Keys, d time.Duration) store.Keys {
	if deadline.NeverWaits(k) || d < 0 {
		return k
	}
	return boundedKeys{k, d}
}

func (b boundedKeys) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return deadline.Call(ctx, b.d, b.Keys.ListKeys)
}
