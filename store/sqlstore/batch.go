package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// SQLite writes are committed in groups. SQLite has one writer, and with
// refresh tokens on every token request writes; measured on a 2-core
// machine, a commit (its WAL frames, one pwrite for each frame header and
// page, and the shared-memory locks, each a syscall) was most of the CPU
// of CreateRefreshToken. Writes that arrive while a commit is under way
// wait for it and then go in one transaction together: the WAL pages the
// rows share (the table's and the expiry index's last leaf) are written
// once, and the locking once per group instead of once per write.
//
// There is no goroutine of its own: the caller that finds no group under
// way commits one, made of every write waiting then (its own included),
// and hands any that arrived meanwhile to a new goroutine, so that no
// caller commits more than one group. Each write answers as it would
// alone: in the group, a write either changes what it would alone, or
// changes nothing and answers (a create's taken hash, a rotation that
// consumed nothing); anything else (a statement's error, BEGIN's or
// COMMIT's, a rotation whose successor's hash is taken) undoes the group,
// and every write of it runs again on its own, with its own context.

// batchOp is one write of a group.
type batchOp struct {
	ctx context.Context
	// inTx runs the write in the group's transaction. It returns the
	// write's answer when it changed nothing or what it would alone, and
	// an error when the group must be undone.
	inTx func(ctx context.Context, tx *sql.Tx) (answer, err error)
	// alone runs the write in a transaction of its own.
	alone func(ctx context.Context) error
	done  chan error
}

// batcher queues writes for the next group.
type batcher struct {
	mu      sync.Mutex
	pending []*batchOp
	running bool // a group is being committed
}

// maxGroup bounds the writes in one group, so that a group's commit, which
// holds SQLite's write lock, stays short.
const maxGroup = 64

// grouped runs op in the next group and returns its answer, or ctx's error
// when ctx ends first (the write may still be committed then, as a write
// whose caller gave up after sending it may on any database).
func (s *Store) grouped(ctx context.Context, op *batchOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.ctx = ctx
	op.done = make(chan error, 1)
	b := &s.batch
	b.mu.Lock()
	b.pending = append(b.pending, op)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		s.commitGroups(false)
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitGroups commits the pending writes, one group, then leaves the
// next group to a new goroutine (async: this is that goroutine, which
// goes on until nothing is pending).
func (s *Store) commitGroups(async bool) {
	b := &s.batch
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxGroup)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		group := make([]*batchOp, n)
		copy(group, b.pending)
		rest := copy(b.pending, b.pending[n:])
		clear(b.pending[rest:])
		b.pending = b.pending[:rest]
		b.mu.Unlock()

		s.commitGroup(group)
		if !async {
			b.mu.Lock()
			if len(b.pending) == 0 {
				b.running = false
				b.mu.Unlock()
				return
			}
			b.mu.Unlock()
			go s.commitGroups(true)
			return
		}
	}
}

// commitGroup runs group in one transaction, or each write alone when the
// transaction fails as a whole.
func (s *Store) commitGroup(group []*batchOp) {
	live := group[:0]
	for _, op := range group {
		if err := op.ctx.Err(); err != nil {
			op.done <- err // given up before it was sent: nothing to write
			continue
		}
		live = append(live, op)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].done <- live[0].alone(live[0].ctx)
		return
	}
	ctx, cancel := groupContext(live)
	defer cancel()
	answers, err := s.runGroup(ctx, live)
	if err != nil {
		for _, op := range live {
			op.done <- op.alone(op.ctx)
		}
		return
	}
	for i, op := range live {
		op.done <- answers[i]
	}
}

// groupContext is the context a group's transaction runs under: the first
// write's values, and the latest of the writes' deadlines, so that no
// write is cut short by another's.
func groupContext(group []*batchOp) (context.Context, context.CancelFunc) {
	var last time.Time
	for _, op := range group {
		d, ok := op.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(group[0].ctx))
		}
		if d.After(last) {
			last = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(group[0].ctx), last)
}

// runGroup runs the writes of group in one transaction and returns their
// answers once it has committed.
func (s *Store) runGroup(ctx context.Context, group []*batchOp) ([]error, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // after Commit, a no-op
	answers := make([]error, len(group))
	for i, op := range group {
		answer, err := op.inTx(ctx, tx)
		if err != nil {
			return nil, err
		}
		answers[i] = answer
	}
	return answers, tx.Commit()
}
