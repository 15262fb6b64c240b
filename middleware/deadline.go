package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/deadline"
	"github.com/portcullis/portcullis/store"
)

// defaultStoreTimeout is LocalConfig.StoreTimeout's default.
const defaultStoreTimeout = 5 * time.Second

// defaultVerifyTimeout is LocalConfig.VerifyTimeout's default when
// StoreTimeout sets no bound of its own.
const defaultVerifyTimeout = 2 * defaultStoreTimeout

// budget is one Verify's time for the store: every store call it makes
// ends by the same deadline, so that a token that needs four lookups
// (client, account, token and family revocations) cannot take four times
// StoreTimeout. The deadline is set at the first store call, not at the
// start of Verify: a token answered from the caches, the common case,
// costs no timer. The zero d means no budget (a store that never waits,
// or none configured).
type budget struct {
	ctx    context.Context
	d      time.Duration
	cancel context.CancelFunc
}

// store returns the context for a store call, starting the budget on the
// first one.
func (b *budget) store() context.Context {
	if b.d > 0 && b.cancel == nil {
		b.ctx, b.cancel = context.WithTimeoutCause(b.ctx, b.d, errVerifyTimeout)
	}
	return b.ctx
}

// errVerifyTimeout is the cause of a budget that ran out, for the logs.
var errVerifyTimeout = errors.New("middleware: the verification's time for the store (LocalConfig.VerifyTimeout) ran out")

// why adds to a store call's error that it was the budget that ran out,
// when it was, so that the log tells it from a stalled call.
func (b *budget) why(err error) error {
	if b.cancel != nil && b.ctx.Err() != nil {
		if c := context.Cause(b.ctx); c != nil && c != b.ctx.Err() {
			return fmt.Errorf("%w (%w)", err, c)
		}
	}
	return err
}

// end releases the budget's timer.
func (b *budget) end() {
	if b.cancel != nil {
		b.cancel()
	}
}

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
