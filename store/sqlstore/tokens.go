package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/store"
)

// The zero times the store contract refuses (see store's "Zero times"). A
// zero would be stored as 0, which every query reads as long expired: the
// token would be dead at birth, the revocation void, and a consume would
// record no use.
var (
	errZeroExpiry = errors.New("zero expiry")
	errZeroNow    = errors.New("zero now")
)

// grantArgs are a grant's columns from kind to expires_at, in table order.
func grantArgs(g *store.Grant) ([]any, error) {
	scopes, err := encode(g.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := encode(g.Audience)
	if err != nil {
		return nil, err
	}
	return []any{g.Kind, g.Subject, g.ClientID, g.AccountID, scopes, aud,
		g.Generation, micros(g.IssuedAt), micros(g.ExpiresAt)}, nil
}

// grantScan holds a grant's columns while they are scanned.
type grantScan struct {
	scopes, aud     string
	issued, expires int64
}

func (gs *grantScan) dest(g *store.Grant) []any {
	return []any{&g.Kind, &g.Subject, &g.ClientID, &g.AccountID, &gs.scopes, &gs.aud,
		&g.Generation, &gs.issued, &gs.expires}
}

func (gs *grantScan) finish(g *store.Grant) error {
	g.IssuedAt, g.ExpiresAt = fromMicros(gs.issued), fromMicros(gs.expires)
	if err := decode(gs.scopes, &g.Scopes); err != nil {
		return err
	}
	return decode(gs.aud, &g.Audience)
}

// CreateRefreshToken implements [store.RefreshTokens].
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	const op = "create refresh token"
	if t.ExpiresAt.IsZero() {
		return fail(op, errZeroExpiry)
	}
	args, err := refreshArgs(t)
	if err != nil {
		return err
	}
	if s.d == SQLite {
		// Prepared outside the group's transaction: on a pool of one
		// connection, which the transaction holds, it could not be.
		var st *sql.Stmt
		if st, err = s.stmt(ctx, qCreateRefreshNew); err != nil {
			return fail(op, err)
		}
		err = s.grouped(ctx, &batchOp{
			inTx: func(ctx context.Context, tx *sql.Tx) (error, error) {
				return createRefreshInTx(ctx, tx, st, args)
			},
			alone: func(ctx context.Context) error {
				_, err := s.exec(ctx, qCreateRefresh, args...)
				return err
			},
		})
	} else {
		_, err = s.exec(ctx, qCreateRefresh, args...)
	}
	if errors.Is(err, errHashTaken) || s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// errHashTaken is a group commit's answer to a create whose hash is taken.
var errHashTaken = errors.New("hash taken")

// createRefreshInTx is CreateRefreshToken in a group commit (batch.go):
// errHashTaken, changing nothing, when the hash is taken.
func createRefreshInTx(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any) (answer, err error) {
	res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return errHashTaken, nil
	}
	return nil, nil
}

// refreshArgs are a refresh token's columns, in refreshCols order.
func refreshArgs(t *store.RefreshToken) ([]any, error) {
	g, err := grantArgs(&t.Grant)
	if err != nil {
		return nil, err
	}
	args := append([]any{t.Hash, t.FamilyID}, g...)
	return append(args, micros(t.UsedAt), t.ReplacedBy, micros(t.FamilyIssuedAt)), nil
}

// scanRefresh scans refresh_tokens' columns, then extra.
func scanRefresh(r rowScanner, extra ...any) (*store.RefreshToken, error) {
	var (
		t    store.RefreshToken
		gs   grantScan
		used int64
		fam  int64
	)
	dest := append([]any{&t.Hash, &t.FamilyID}, gs.dest(&t.Grant)...)
	dest = append(dest, &used, &t.ReplacedBy, &fam)
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	t.UsedAt, t.FamilyIssuedAt = fromMicros(used), fromMicros(fam)
	if err := gs.finish(&t.Grant); err != nil {
		return nil, err
	}
	return &t, nil
}

// GetRefreshToken implements [store.RefreshTokens] in one query.
func (s *Store) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	const op = "get refresh token"
	if !s.storable(hash) {
		return nil, notFound(op)
	}
	var t *store.RefreshToken
	err := s.readRow(ctx, qGetRefresh, func(r rowScanner) (err error) {
		t, err = scanRefresh(r)
		return err
	}, hash, micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op)
	}
	if err != nil {
		return nil, fail(op, err)
	}
	return t, nil
}

// ConsumeRefreshToken implements [store.RefreshTokens]. Single use rests on
// one conditional UPDATE (used_at = 0, not expired, family not revoked): the
// database lets exactly one of any number of concurrent calls match it. On
// PostgreSQL and SQLite the row comes back in the same round trip (RETURNING);
// MySQL reads it afterwards. Only when nothing was consumed does a second
// query tell a reused token (ErrTokenReused, with the record) from a missing,
// expired or revoked one (ErrNotFound).
func (s *Store) ConsumeRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	const op = "consume refresh token"
	if now.IsZero() {
		return nil, fail(op, errZeroNow)
	}
	if !s.storable(hash) {
		return nil, notFound(op)
	}
	nowMicros := micros(now)
	usedAt := nowMicros
	if usedAt == 0 {
		usedAt = 1 // 0 means unused; a token consumed at the Unix epoch is still used
	}
	if s.d == MySQL {
		n, err := s.affected(ctx, qConsumeRefresh, usedAt, hash, nowMicros)
		if err != nil {
			return nil, fail(op, err)
		}
		if n == 1 {
			t, _, err := s.inspectRefresh(ctx, hash)
			if err != nil {
				return nil, fail(op, err)
			}
			if t == nil { // swept between the two statements
				return nil, notFound(op)
			}
			return t, nil
		}
	} else {
		var t *store.RefreshToken
		err := s.row(ctx, qConsumeRefresh, func(r rowScanner) (err error) {
			t, err = scanRefresh(r)
			return err
		}, usedAt, hash, nowMicros)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fail(op, err)
		}
	}

	t, revoked, err := s.inspectRefresh(ctx, hash)
	switch {
	case err != nil:
		return nil, fail(op, err)
	case t == nil || revoked || micros(t.ExpiresAt) <= nowMicros:
		return nil, notFound(op)
	case !t.UsedAt.IsZero():
		return t, fmt.Errorf("sqlstore: %s: %w", op, store.ErrTokenReused)
	}
	// Unused and live now, but not when the UPDATE ran: it was created
	// in between, so it was not there to consume.
	return nil, notFound(op)
}

// RotateRefreshToken implements [store.RefreshTokens]. The consume is the
// conditional UPDATE of ConsumeRefreshToken, which also records the
// successor's hash and requires its family; the successor is inserted in the
// same statement on PostgreSQL (a data-modifying WITH, one round trip), in
// the same transaction on MySQL, run by a stored procedure (migration 7)
// so that it is one CALL instead of START TRANSACTION, UPDATE, INSERT and
// COMMIT (the driver sends one statement at a time unless the DSN allows
// several, which the store cannot ask for), and on SQLite (in process; a
// transaction shared with the writes that arrived meanwhile, see "SQLite
// performance" in the package doc). Only when nothing was consumed does a
// second query tell this very rotation run before (nil) from reuse, and
// both from a missing, expired or revoked token.
//
// database/sql sends a statement again only on driver.ErrBadConn, which the
// drivers return only when the statement never reached the server, so no
// statement here runs twice; a retry that does come (the caller's) finds
// the successor's hash and answers as the first run did.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	const op = "rotate refresh token"
	switch {
	case now.IsZero():
		return fail(op, errZeroNow)
	case next.ExpiresAt.IsZero():
		return fail(op, errZeroExpiry)
	case !s.storable(oldHash):
		return notFound(op)
	}
	args, err := refreshArgs(next)
	if err != nil {
		return err
	}
	nowMicros := micros(now)
	usedAt := max(nowMicros, 1) // 0 means unused
	consume := []any{usedAt, next.Hash, oldHash, next.FamilyID, nowMicros}
	var n int64
	switch s.d {
	case Postgres:
		n, err = s.affected(ctx, qRotateRefresh, append(consume, args...)...)
	case SQLite:
		n, err = s.rotateGrouped(ctx, consume, args)
	default:
		n, err = s.rotateMySQL(ctx, oldHash, usedAt, nowMicros, consume, args)
	}
	if s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	if n == 1 {
		return nil
	}
	t, revoked, err := s.inspectRefresh(ctx, oldHash)
	switch {
	case err != nil:
		return fail(op, err)
	case t == nil || revoked || micros(t.ExpiresAt) <= nowMicros || t.FamilyID != next.FamilyID:
		return notFound(op)
	case t.UsedAt.IsZero():
		// Live now, but not when the UPDATE ran: created in between.
		return notFound(op)
	case t.ReplacedBy != "" && t.ReplacedBy == next.Hash:
		return nil // this very rotation, again
	}
	return fmt.Errorf("sqlstore: %s: %w", op, store.ErrTokenReused)
}

// rotateTx is RotateRefreshToken's consume and create in one transaction
// of four round trips, for SQLite's rotations that run alone and MySQL's
// when its procedure cannot be called. It returns how many tokens were
// consumed.
func (s *Store) rotateTx(ctx context.Context, consume, create []any) (int64, error) {
	rot, err := s.stmt(ctx, qRotateRefresh)
	if err != nil {
		return 0, err
	}
	ins, err := s.stmt(ctx, qCreateRefresh)
	if err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.StmtContext(ctx, rot).ExecContext(ctx, consume...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n != 1 {
		return 0, err
	}
	if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, create...); err != nil {
		return 0, err
	}
	return 1, tx.Commit()
}

// rotateMySQL is RotateRefreshToken's consume and create on MySQL: one
// CALL of migration 7's procedure, which runs them in one transaction. It
// returns how many tokens were consumed.
//
// When the procedure cannot be called (a database restored from a dump
// made without --routines, a user without EXECUTE), it runs them in a
// transaction of its own instead, four round trips, and goes on doing so
// for a minute before it tries the procedure again. Such a CALL failed
// before the procedure ran, so nothing ran twice.
func (s *Store) rotateMySQL(ctx context.Context, oldHash string, usedAt, now int64, consume, create []any) (int64, error) {
	if len(oldHash) > maxMySQLKey {
		// No such token can exist, and the procedure's parameter would
		// refuse it, or truncate it (without strict mode) into another.
		return 0, nil
	}
	if s.rotateProc.callable() {
		_, err := s.exec(ctx, qRotateCall, append(slices.Clip(create), oldHash, usedAt, now)...)
		switch {
		case err == nil:
			return 1, nil
		case notConsumed(err):
			return 0, nil
		case !procedureUnusable(err):
			return 0, err
		}
		s.rotateProc.unusable()
	}
	return s.rotateTx(ctx, consume, create)
}

// maxMySQLKey is the length of MySQL's key columns (VARBINARY(255)).
const maxMySQLKey = 255

// procedure is when (unix ns) the store may try one of MySQL's procedures
// again after a CALL found it unusable; 0 while it is usable.
type procedure struct{ off atomic.Int64 }

// procedureRetry is how long the store does without a procedure after a
// CALL found it unusable.
const procedureRetry = time.Minute

func (p *procedure) callable() bool {
	off := p.off.Load()
	return off == 0 || time.Now().UnixNano() >= off
}

func (p *procedure) unusable() { p.off.Store(time.Now().Add(procedureRetry).UnixNano()) }

// notConsumed reports whether err is the SIGNAL of migration 7's procedure
// when its UPDATE matched no row: go-sql-driver/mysql's
// "Error 1644 (45000): portcullis: not consumed".
func notConsumed(err error) bool {
	return strings.HasSuffix(err.Error(), "(45000): portcullis: not consumed")
}

// procedureUnusable reports whether err says that a CALL could not start
// the procedure: 1305, it does not exist; 1370, the user lacks EXECUTE.
// go-sql-driver/mysql writes them "Error 1305 (42000): …".
func procedureUnusable(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "Error 1305 ") || strings.HasPrefix(msg, "Error 1370 ")
}

// errNotConsumed is a grouped rotation's answer when its UPDATE matched
// nothing: RotateRefreshToken then finds out why, as after rotateTx.
var errNotConsumed = errors.New("not consumed")

// rotateGrouped is rotateTx in a group commit (SQLite, batch.go). A
// successor whose hash is taken undoes the group, so that this rotation
// runs again alone and leaves its token unused (with 256-bit hashes, that
// is an issuer's bug or a test, not traffic).
func (s *Store) rotateGrouped(ctx context.Context, consume, create []any) (int64, error) {
	rot, err := s.stmt(ctx, qRotateRefresh)
	if err != nil {
		return 0, err
	}
	ins, err := s.stmt(ctx, qCreateRefreshNew)
	if err != nil {
		return 0, err
	}
	err = s.grouped(ctx, &batchOp{
		inTx: func(ctx context.Context, tx *sql.Tx) (error, error) {
			res, err := tx.StmtContext(ctx, rot).ExecContext(ctx, consume...)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errNotConsumed, err
			}
			answer, err := createRefreshInTx(ctx, tx, ins, create)
			if answer != nil && err == nil {
				err = answer
			}
			return nil, err
		},
		alone: func(ctx context.Context) error {
			n, err := s.rotateTx(ctx, consume, create)
			if err == nil && n == 0 {
				err = errNotConsumed
			}
			return err
		},
	})
	switch {
	case errors.Is(err, errNotConsumed):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return 1, nil
}

// inspectRefresh reads a token whatever its state, and whether its family is
// revoked. A missing token is nil without error.
func (s *Store) inspectRefresh(ctx context.Context, hash string) (*store.RefreshToken, bool, error) {
	var (
		t       *store.RefreshToken
		revoked int64
	)
	err := s.row(ctx, qInspectRefresh, func(r rowScanner) (err error) {
		t, err = scanRefresh(r, &revoked)
		return err
	}, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return t, revoked > 0, nil
}

// RevokeRefreshFamily implements [store.RefreshTokens]. The family is
// recorded in a table of its own, which every read and consume checks, so
// tokens created later in the family are dead as well.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if _, err := s.exec(ctx, qRevokeFamily, familyID); err != nil {
		return fail("revoke refresh family", err)
	}
	return nil
}

// CreateAccessToken implements [store.AccessTokens].
func (s *Store) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	const op = "create access token"
	if t.ExpiresAt.IsZero() {
		return fail(op, errZeroExpiry)
	}
	g, err := grantArgs(&t.Grant)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qCreateAccess, append([]any{t.Hash, t.ID, t.FamilyID}, g...)...)
	if s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// GetAccessToken implements [store.AccessTokens].
func (s *Store) GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error) {
	const op = "get access token"
	if !s.storable(hash) {
		return nil, notFound(op)
	}
	var t store.AccessToken
	err := s.readRow(ctx, qGetAccess, func(r rowScanner) error {
		var gs grantScan
		if err := r.Scan(append([]any{&t.Hash, &t.ID, &t.FamilyID}, gs.dest(&t.Grant)...)...); err != nil {
			return err
		}
		return gs.finish(&t.Grant)
	}, hash, micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op)
	}
	if err != nil {
		return nil, fail(op, err)
	}
	return &t, nil
}

// DeleteAccessToken implements [store.AccessTokens].
func (s *Store) DeleteAccessToken(ctx context.Context, hash string) error {
	if !s.storable(hash) {
		return nil // no such token can exist
	}
	if _, err := s.exec(ctx, qDeleteAccess, hash); err != nil {
		return fail("delete access token", err)
	}
	return nil
}

// Revoke implements [store.Revocations]: an upsert that keeps the later of
// the stored and the given expiry. A zero expiresAt is an error.
func (s *Store) Revoke(ctx context.Context, tokenID string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return fail("revoke", errZeroExpiry)
	}
	args := []any{tokenID, micros(expiresAt)}
	if s.d == MySQL {
		args = append(args, micros(expiresAt))
	}
	logAs := store.Change{Event: store.Event{Kind: store.EventRevoked, ID: tokenID}, ExpiresAt: expiresAt}
	if _, err := s.logged(ctx, qRevoke, logAs, args...); err != nil {
		return fail("revoke", err)
	}
	return nil
}

// IsRevoked implements [store.Revocations] in one indexed lookup.
func (s *Store) IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error) {
	if !s.storable(tokenID) {
		return false, nil // Revoke of such an id fails, so none is recorded
	}
	var one int
	err := s.readRow(ctx, qIsRevoked, func(r rowScanner) error { return r.Scan(&one) }, tokenID, micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fail("is revoked", err)
	}
	return true, nil
}
