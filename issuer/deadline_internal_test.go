package issuer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// stallLog is a store whose change log blocks until its context is done,
// as a database that stopped answering does.
type stallLog struct{ store.Store }

func (stallLog) Changes(ctx context.Context, _ int64, _ int) ([]store.Change, int64, error) {
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

func (stallLog) TrimChanges(ctx context.Context, _ time.Duration) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// The change log is found on the configured store, not on the deadline
// wrapper that hides it, and its calls get the per-call deadline.
func TestChangeLogBounded(t *testing.T) {
	st := stallLog{memory.New()}
	if _, ok := bound(st, time.Second).(store.ChangeLog); ok {
		t.Fatal("boundedStore exposes ChangeLog: then it is unbounded, and changeLog is not needed")
	}
	cl, ok := changeLog(st, 10*time.Millisecond)
	if !ok {
		t.Fatal("changeLog did not find the store's ChangeLog")
	}
	if _, _, err := cl.Changes(context.Background(), 0, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Changes on a stalled store: %v, want a deadline error", err)
	}
	if _, err := cl.TrimChanges(context.Background(), time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("TrimChanges on a stalled store: %v, want a deadline error", err)
	}
	// The memory store never waits: its log is used as it is.
	mem := memory.New()
	if cl, ok := changeLog(mem, time.Second); !ok || cl != store.ChangeLog(mem) {
		t.Errorf("changeLog(memory) = %T, %v; want the memory store itself", cl, ok)
	}
	if _, ok := changeLog(struct{ store.Store }{mem}, time.Second); ok {
		t.Error("changeLog found a ChangeLog on a store without one")
	}
}
