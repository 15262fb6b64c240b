package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/portcullis/portcullis/store"
)

var _ store.RefreshExchanger = (*Store)(nil)

// ExchangeRefreshToken implements [store.RefreshExchanger]: on PostgreSQL
// one statement (the conditional consume returns the presented row, and a
// data-modifying WITH inserts the successor built from it), on MySQL one
// CALL of the exchange's procedure (the same in one transaction), and on
// SQLite, in process, a read followed by RotateRefreshToken, which is what
// the issuer would do without the capability.
//
// The conditions on the token's kind, client, generation, scopes and
// family start are conditions of the consuming UPDATE, so a token that
// does not meet them is left as it was: the issuer then reads it and
// answers as it always has.
func (s *Store) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	const op = "exchange refresh token"
	switch {
	case x.Now.IsZero():
		return nil, fail(op, errZeroNow)
	case x.ExpiresAt.IsZero():
		return nil, fail(op, errZeroExpiry)
	case !s.storable(x.Hash) || !s.storable(x.Kind) || !s.storable(x.ClientID):
		return nil, notFound(op) // no stored token has such a value
	}
	if s.d == SQLite {
		return s.exchangeByParts(ctx, x)
	}
	a, err := newExchangeArgs(x)
	if err != nil {
		return nil, fail(op, err)
	}
	var t *store.RefreshToken
	if s.d == Postgres {
		err = s.row(ctx, qExchangeRefresh, func(r rowScanner) (err error) {
			t, err = scanRefresh(r)
			return err
		}, a.postgres(x)...)
	} else {
		t, err = s.exchangeMySQL(ctx, x, a)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, errNotConsumed):
		return nil, notFound(op)
	case s.isUniqueViolation(err):
		return nil, fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	case err != nil:
		return nil, fail(op, err)
	}
	return t, nil
}

// exchangeArgs are an exchange's parameters as the statements take them.
type exchangeArgs struct {
	use, now       int64
	scopes, aud    string
	cutoff         int64 // the family must have begun after it
	expires, limit int64 // the successor's expiry, the family's lifetime
}

func newExchangeArgs(x *store.RefreshExchange) (*exchangeArgs, error) {
	scopes, err := encode(x.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := encode(x.Audience)
	if err != nil {
		return nil, err
	}
	now := micros(x.Now)
	a := &exchangeArgs{use: max(now, 1), now: now, scopes: scopes, aud: aud,
		cutoff: math.MinInt64, expires: micros(x.ExpiresAt), limit: noFamilyLimit}
	if x.MaxFamilyLifetime > 0 {
		// Alive at now means start+lifetime > now, in nanoseconds; with
		// start in whole microseconds that is start > ⌊(now-lifetime)/µs⌋,
		// which UnixMicro gives (it rounds down, before 1970 too).
		a.cutoff = x.Now.Add(-x.MaxFamilyLifetime).UnixMicro()
		a.limit = int64(x.MaxFamilyLifetime / time.Microsecond)
	}
	return a, nil
}

// noFamilyLimit stands for "no family lifetime" where the statements take
// the lesser of the successor's expiry and the family's start plus the
// lifetime: larger than any real lifetime (a time.Duration is at most 292
// years, 2^53 µs), small enough that a start plus it cannot overflow.
const noFamilyLimit = 1 << 62

// consume are the arguments of the exchange's UPDATE (exchangeText).
func (a *exchangeArgs) consume(x *store.RefreshExchange) []any {
	return []any{a.use, x.Next, x.Hash, a.now, x.Kind, x.ClientID, x.Generation, a.scopes, a.cutoff}
}

// postgres are qExchangeRefresh's arguments: the UPDATE's, then the
// successor's hash, audience, issue and expiry, and the family lifetime.
func (a *exchangeArgs) postgres(x *store.RefreshExchange) []any {
	return append(a.consume(x), x.Next, a.aud, a.now, a.expires, a.limit)
}

// exchangeMySQL calls the exchange's procedure (migration 9). When it
// cannot be called (see rotateMySQL), it runs the same steps in a
// transaction for a minute: the UPDATE, a read of the row, the
// successor's INSERT. A CALL that failed to start ran nothing, so nothing
// runs twice.
func (s *Store) exchangeMySQL(ctx context.Context, x *store.RefreshExchange, a *exchangeArgs) (*store.RefreshToken, error) {
	if len(x.Hash) > maxMySQLKey || len(x.Kind) > maxMySQLKey || len(x.ClientID) > maxMySQLKey {
		return nil, errNotConsumed // no stored token has such a value
	}
	if len(x.Next) <= maxMySQLKey && s.exchangeProc.callable() {
		t, err := s.callExchange(ctx, x, a)
		switch {
		case err == nil:
			return t, nil
		case notConsumed(err):
			return nil, errNotConsumed
		case !procedureUnusable(err):
			return nil, err
		}
		s.exchangeProc.unusable()
	}
	return s.exchangeTx(ctx, x, a)
}

// callExchange is one CALL of {p}exchange_refresh, whose one result set
// is the presented token's row after the exchange.
func (s *Store) callExchange(ctx context.Context, x *store.RefreshExchange, a *exchangeArgs) (*store.RefreshToken, error) {
	rows, err := s.query(ctx, qExchangeCall, x.Hash, x.Next, a.use, a.now, x.Kind, x.ClientID, x.Generation,
		a.scopes, a.cutoff, a.aud, a.expires, a.limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("exchange_refresh returned no row")
	}
	t, err := scanRefresh(rows)
	if err != nil {
		return nil, err
	}
	// Close reads the CALL's final status: an error there is the call's.
	return t, rows.Close()
}

// exchangeTx is the exchange in a transaction of its own, for MySQL when
// its procedure cannot be called.
func (s *Store) exchangeTx(ctx context.Context, x *store.RefreshExchange, a *exchangeArgs) (*store.RefreshToken, error) {
	upd, err := s.stmt(ctx, qExchangeConsume)
	if err != nil {
		return nil, err
	}
	get, err := s.stmt(ctx, qInspectRefresh)
	if err != nil {
		return nil, err
	}
	ins, err := s.stmt(ctx, qCreateRefresh)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.StmtContext(ctx, upd).ExecContext(ctx, a.consume(x)...)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return nil, cmp.Or(err, errNotConsumed)
	}
	var revoked int64
	t, err := scanRefresh(tx.StmtContext(ctx, get).QueryRowContext(ctx, x.Hash), &revoked)
	if err != nil {
		return nil, err
	}
	next, err := refreshArgs(x.Successor(t))
	if err != nil {
		return nil, err
	}
	if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, next...); err != nil {
		return nil, err
	}
	return t, tx.Commit()
}

// exchangeByParts is the exchange as the issuer would run it without the
// capability: a read, the conditions checked on it, and a rotation, which
// requires the token unused and live again. The conditions are on fields
// that never change, so a read before the rotation decides them as well
// as the rotation's own statement would.
func (s *Store) exchangeByParts(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	const op = "exchange refresh token"
	t, err := s.GetRefreshToken(ctx, x.Hash, x.Now)
	if err != nil {
		return nil, err
	}
	if !t.UsedAt.IsZero() || !x.Matches(t) {
		return nil, notFound(op)
	}
	switch err := s.RotateRefreshToken(ctx, x.Hash, x.Successor(t), x.Now); {
	case errors.Is(err, store.ErrTokenReused):
		return nil, notFound(op) // consumed since the read
	case err != nil:
		return nil, err
	}
	t.UsedAt, t.ReplacedBy = fromMicros(max(micros(x.Now), 1)), x.Next
	return t, nil
}
