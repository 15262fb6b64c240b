package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/portcullis/portcullis/store"
)

// The change log ([store.ChangeLog]) lives in the tables of migration 6:
// <prefix>changes, one row per change by seq, and <prefix>change_counter,
// one row with the last seq handed out and the highest one trimmed.
//
// Appending takes the counter row's lock in the change's own transaction
// and holds it to commit, so that seqs follow the commit order: on
// PostgreSQL and SQLite the migration's triggers append in the very
// statement that makes the change (still one round trip); on MySQL, where
// creating triggers may need SUPER, Store.logged wraps the change in a
// transaction that appends.

// maxChangesPage bounds the page that one Changes call reads.
const maxChangesPage = store.MaxListLimit

// trimBatch is how many changes one transaction of TrimChanges removes at
// most: the transaction holds the counter's lock, which every change waits
// for, so a long backlog is trimmed a bounded step at a time.
const trimBatch = 1000

var (
	errChangeLimit = errors.New("change log limit must be positive")
	errTrimAge     = errors.New("change log trim age must be positive")
	errNoCounter   = errors.New("change log counter row missing (run Migrate)")
)

// Changes implements [store.ChangeLog] in one query, which reads the page
// and the trimmed watermark from one snapshot. A limit above
// [store.MaxListLimit] reads that many.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, int64, error) {
	const op = "changes"
	if limit <= 0 {
		return nil, 0, fail(op, errChangeLimit)
	}
	rows, err := s.query(ctx, qChanges, after, min(limit, maxChangesPage))
	if err != nil {
		return nil, 0, fail(op, err)
	}
	defer rows.Close()
	var (
		changes []store.Change
		trimmed int64
		counter bool
	)
	for rows.Next() {
		var (
			seq, gen, exp, at sql.NullInt64
			kind, id          sql.NullString
		)
		if err := rows.Scan(&trimmed, &seq, &kind, &id, &gen, &exp, &at); err != nil {
			return nil, 0, fail(op, err)
		}
		counter = true
		if !seq.Valid {
			continue // the empty page's row of NULLs
		}
		changes = append(changes, store.Change{
			Seq:       seq.Int64,
			Event:     store.Event{Kind: store.EventKind(kind.String), ID: id.String, Generation: gen.Int64},
			ExpiresAt: fromMicros(exp.Int64),
			At:        fromMicros(at.Int64),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fail(op, err)
	}
	if !counter {
		return nil, 0, fail(op, errNoCounter)
	}
	return changes, trimmed, nil
}

// TrimChanges implements [store.ChangeLog]. It removes the oldest changes
// up to the first one recorded olderThan ago or later, by the database's
// clock, so what stays is always a contiguous tail of the log: a change
// stamped a little early by a slower transaction is kept with the newer
// ones after it rather than leaving a hole. It works in transactions of
// at most 1000 changes, each holding the counter's lock (so appends wait
// for it) and raising the trimmed watermark with what it removed.
func (s *Store) TrimChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	const op = "trim changes"
	if olderThan <= 0 {
		return 0, fail(op, errTrimAge)
	}
	var total int64
	for {
		n, err := s.trimChanges(ctx, olderThan.Microseconds())
		total += n
		if err != nil {
			return total, fail(op, err)
		}
		if n < trimBatch {
			return total, nil
		}
	}
}

// trimChanges is one transaction of TrimChanges.
func (s *Store) trimChanges(ctx context.Context, ageUS int64) (int64, error) {
	var st [4]*sql.Stmt
	for i, id := range []queryID{qTrimLock, qTrimRead, qTrimDelete, qTrimMark} {
		var err error
		if st[i], err = s.stmt(ctx, id); err != nil {
			return 0, err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // after Commit, a no-op
	if _, err := tx.StmtContext(ctx, st[0]).ExecContext(ctx); err != nil {
		return 0, err
	}
	rows, err := tx.StmtContext(ctx, st[1]).QueryContext(ctx, trimBatch)
	if err != nil {
		return 0, err
	}
	var last int64
	for rows.Next() {
		var seq, at, now int64
		if err := rows.Scan(&seq, &at, &now); err != nil {
			rows.Close()
			return 0, err
		}
		if at > now-ageUS {
			break
		}
		last = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if last == 0 {
		return 0, nil // nothing old enough; the deferred Rollback ends it
	}
	res, err := tx.StmtContext(ctx, st[2]).ExecContext(ctx, last)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.StmtContext(ctx, st[3]).ExecContext(ctx, last, last); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// logged runs the change statement id with args and returns how many rows
// it changed. On MySQL it runs it in a transaction that, when a row
// changed, also appends c to the change log (the counter's update, then
// the row: five round trips against one; three when nothing changed). On
// PostgreSQL and SQLite the statement alone does both, through the
// triggers of migration 6, and c is unused.
func (s *Store) logged(ctx context.Context, id queryID, c store.Change, args ...any) (int64, error) {
	if s.d != MySQL {
		return s.affected(ctx, id, args...)
	}
	var st [3]*sql.Stmt
	for i, q := range []queryID{id, qBumpChanges, qAppendChange} {
		var err error
		if st[i], err = s.stmt(ctx, q); err != nil {
			return 0, err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.StmtContext(ctx, st[0]).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, err // nothing changed, nothing to log
	}
	res, err = tx.StmtContext(ctx, st[1]).ExecContext(ctx)
	if err != nil {
		return 0, err
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return 0, errors.Join(errNoCounter, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	_, err = tx.StmtContext(ctx, st[2]).ExecContext(ctx, seq, string(c.Kind), c.ID, c.Generation, micros(c.ExpiresAt))
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}
