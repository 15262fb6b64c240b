package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/store"
)

// Sweep implements [store.Sweeper]: it deletes refresh tokens, access tokens,
// revocations, nonces and rate-limit windows that had expired at now, signing keys
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
		{qSweepNonces, []any{at}},
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

// UseNonce implements [store.Nonces] in one upsert (see qUseNonce). An id
// is stored after ":", or hex-encoded after "!" where the dialect cannot
// store it as text, as rate-limit keys are.
func (s *Store) UseNonce(ctx context.Context, id string, expiresAt, now time.Time) error {
	const op = "use nonce"
	if err := store.CheckNonce(id, expiresAt, now); err != nil {
		return fail(op, err)
	}
	key := ":" + id
	if !s.storable(id) {
		key = "!" + hex.EncodeToString([]byte(id))
	}
	n, err := s.affected(ctx, qUseNonce, key, micros(expiresAt), micros(now))
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	return nil
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

// rateKey is the stored key of key's counter for windows of length w. The
// length is part of it, so that windows of different lengths starting at
// the same instant (a minute and an hour on the hour) are separate
// counters. A key the dialect cannot store as text (see storable) is
// stored hex-encoded after "!" instead of ":", which no stored-as-is key
// has at that place, so distinct keys never share a counter.
func (s *Store) rateKey(key string, w time.Duration) string {
	n := strconv.FormatInt(int64(w), 10)
	if !s.storable(key) {
		return n + "!" + hex.EncodeToString([]byte(key))
	}
	return n + ":" + key
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
		res, err := s.exec(ctx, qHit, s.rateKey(key, w), micros(start), micros(end))
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
	err = s.row(ctx, qHit, func(r rowScanner) error { return r.Scan(&count) }, s.rateKey(key, w), micros(start), micros(end))
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
	err = s.readRow(ctx, qCount, func(r rowScanner) error { return r.Scan(&count) }, s.rateKey(key, w), micros(start))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, end, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sqlstore: rate limit count: %w", err)
	}
	return count, end, nil
}

// CountMany implements [store.RateCounter] in one statement: the
// issuer's pre-check of a client id and an address is one round trip
// instead of two.
func (s *Store) CountMany(ctx context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	const op = "rate limit count"
	start, end, err := window(w, now)
	switch {
	case err != nil:
		return nil, time.Time{}, err
	case len(keys) > store.MaxCountKeys:
		return nil, time.Time{}, fmt.Errorf("sqlstore: %s: %d keys, more than %d", op, len(keys), store.MaxCountKeys)
	case len(keys) == 0:
		return nil, end, nil
	case len(keys) == 1:
		n, end, err := s.Count(ctx, keys[0], w, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		return []int64{n}, end, nil
	}
	ws := micros(start)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, s.rateKey(k, w), ws)
	}
	got := make([]sql.NullInt64, len(keys))
	dest := make([]any, len(keys))
	for i := range got {
		dest[i] = &got[i]
	}
	err = s.row(ctx, qCountMany+queryID(len(keys)-2), func(r rowScanner) error { return r.Scan(dest...) }, args...)
	if err != nil {
		return nil, time.Time{}, fail(op, err)
	}
	counts := make([]int64, len(keys))
	for i, g := range got {
		counts[i] = g.Int64 // 0 when NULL: no row, no failures yet
	}
	return counts, end, nil
}
