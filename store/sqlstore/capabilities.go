package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sweep implements [store.Sweeper]: it deletes refresh tokens, access tokens,
// revocations and rate-limit windows that had expired at now, signing keys
// whose non-zero ExpiresAt had passed, and revoked refresh families that no
// longer have any token. It returns how many rows went in all. Run it from
// one replica now and then (hourly is plenty); rows it has not yet reached
// are already ignored by every read.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	at := micros(now)
	steps := []struct {
		id   queryID
		args []any
	}{
		{qSweepRefresh, []any{at}},
		{qSweepFamilies, nil}, // after the tokens, so that their families can go too
		{qSweepAccess, []any{at}},
		{qSweepRevocations, []any{at}},
		{qSweepKeys, []any{at}},
		{qSweepRateLimits, []any{at}},
	}
	var total int64
	for _, st := range steps {
		n, err := s.affected(ctx, st.id, st.args...)
		if err != nil {
			return total, fail("sweep", err)
		}
		total += n
	}
	return total, nil
}

// Ping implements [store.Pinger] with the *sql.DB's PingContext.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fail("ping", err)
	}
	return nil
}

// ErrBadWindow is returned by [Store.Hit] and [Store.Count] for a window that
// is not positive.
var ErrBadWindow = errors.New("sqlstore: rate limit window must be positive")

// window returns the fixed window of length w that contains now, aligned as
// [time.Time.Truncate] aligns it.
func window(w time.Duration, now time.Time) (start, end time.Time, err error) {
	if w <= 0 {
		return time.Time{}, time.Time{}, ErrBadWindow
	}
	start = now.Truncate(w).UTC()
	return start, start.Add(w), nil
}

// Hit implements [store.RateLimiter] with one upsert: concurrent hits from
// any number of replicas are all counted.
func (s *Store) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	const op = "rate limit hit"
	start, end, err := window(w, now)
	if err != nil {
		return 0, time.Time{}, err
	}
	if s.d == MySQL {
		res, err := s.exec(ctx, qHit, key, micros(start), micros(end))
		if err != nil {
			return 0, time.Time{}, fail(op, err)
		}
		// 1 row affected is an insert; 2 an update, whose new count
		// LAST_INSERT_ID(expr) put in the result.
		n, err := res.RowsAffected()
		if err != nil {
			return 0, time.Time{}, fail(op, err)
		}
		if n == 1 {
			return 1, end, nil
		}
		count, err := res.LastInsertId()
		if err != nil {
			return 0, time.Time{}, fail(op, err)
		}
		return count, end, nil
	}
	var count int64
	err = s.row(ctx, qHit, func(r rowScanner) error { return r.Scan(&count) }, key, micros(start), micros(end))
	if err != nil {
		return 0, time.Time{}, fail(op, err)
	}
	return count, end, nil
}

// Count implements [store.RateLimiter].
func (s *Store) Count(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	start, end, err := window(w, now)
	if err != nil {
		return 0, time.Time{}, err
	}
	var count int64
	err = s.row(ctx, qCount, func(r rowScanner) error { return r.Scan(&count) }, key, micros(start))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, end, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sqlstore: rate limit count: %w", err)
	}
	return count, end, nil
}
