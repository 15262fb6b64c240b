package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/store"
)

// Watch subscribes to this store's event channel (prefix + "events") and
// calls fn for every event, one at a time on a goroutine of its own, until
// ctx is done. It returns once Redis has confirmed the subscription, so an
// event published after Watch returns is delivered; or it returns the error
// that prevented subscribing.
//
// After a lost connection go-redis reconnects and re-subscribes by itself
// (and pings an idle subscription every few seconds to notice a dead one);
// events published in between are lost, so callers must still expire cached
// results on their own. Messages that are not events (from another writer on
// the channel) are skipped.
func (s *Store) Watch(ctx context.Context, fn func(store.Event)) error {
	if fn == nil {
		return errors.New("redisstore: watch: nil func")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: watch: %w", err)
	}
	ps := s.rdb.Subscribe(ctx, s.channel)
	// Subscribe sends the command but drops its error; the first reply is
	// the confirmation, or the error that prevented it.
	msg, err := ps.Receive(ctx)
	if err == nil {
		if _, ok := msg.(*redis.Subscription); !ok {
			err = fmt.Errorf("unexpected reply %T to SUBSCRIBE", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return fmt.Errorf("redisstore: watch: %w", err)
	}
	// Channel starts go-redis' receive loop, which reconnects, re-subscribes
	// and health-checks; it ends when ps is closed.
	ch := ps.Channel()
	go func() {
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				ev, err := decodeEvent(m.Payload)
				if err != nil {
					continue
				}
				fn(ev)
			}
		}
	}()
	return nil
}
