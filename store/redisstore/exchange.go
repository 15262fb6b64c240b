package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/store"
)

// ExchangeRefreshToken implements [store.RefreshExchanger]. On a single
// server (a *redis.Client, Sentinel included) it is one script
// (exchangeRefreshByIndexScript), given the token's index and the
// successor's: it follows the index to the family, decides liveness as
// GetRefreshToken does, checks that the token is unused and matches x,
// then consumes it and stores the successor as RotateRefreshToken's script
// does: one round trip, where the issuer would otherwise make two.
//
// On a Cluster that script cannot reach the family's slot, so the exchange
// is the issuer's own two steps: GetRefreshToken's (two round trips), the
// checks here with x's own Matches and Successor, then RotateRefreshToken
// (two more, and one or two after a refusal, see there). That is atomic
// all the same: the fields Matches reads never change once a token is
// stored, and the rotation consumes the token only
// if it is still live and unused at x.Now (a token used in between
// answers ErrNotFound, as the contract asks, not ErrTokenReused).
//
// A token used at x.Now for x.Next was used by this very exchange: go-redis
// sends a script again when it lost the reply (MaxRetries), and the server
// may then run it twice. That is answered as the first run was, the token
// as stored after it, and not ErrNotFound, which would make the issuer read
// a token used by its own request and, without a grace period, revoke the
// family. No other call can use the token so, since x.Next is a fresh
// random hash; the same exchange made again later (another x.Now) is
// ErrNotFound, as the contract says.
func (s *Store) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	const op = "exchange refresh token"
	switch {
	case x == nil:
		return nil, fail(op, errors.New("nil refresh exchange"))
	case x.Now.IsZero():
		return nil, fail(op, errZeroNow)
	case x.ExpiresAt.IsZero():
		return nil, fail(op, errZeroExpiry)
	}
	if !s.oneServer {
		return s.exchangeByParts(ctx, op, x)
	}
	args, err := s.exchangeArgs(x)
	if err != nil {
		return nil, fail(op, err)
	}
	keys := []string{s.refreshIndexKey(x.Hash), s.refreshIndexKey(x.Next)}
	r, err := exchangeRefreshByIndexScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return nil, fail(op, err)
	}
	status, j, _, _, err := refreshReply(r, 2)
	if err != nil {
		return nil, fail(op, err)
	}
	switch status {
	case stOK:
		return decodeRefreshWithUse(op, j, strconv.FormatInt(x.Now.UnixMicro(), 10), x.Next)
	case taken:
		return nil, sentinel(op, store.ErrAlreadyExists)
	}
	return nil, sentinel(op, store.ErrNotFound)
}

// exchangeArgs are exchangeRefreshByIndexScript's ARGV for x (see there).
//
// The family must not have ended at x.Now: start+lifetime > now in
// nanoseconds, which with a start in whole microseconds (as stored) is
// start > ⌊(now-lifetime)/µs⌋, the cutoff that UnixMicro gives (it rounds
// down, before 1970 too). The successor's expiry is then the lesser of
// x.ExpiresAt and start+lifetime, each rounded down to µs as encodeRefresh
// stores them (rounding down keeps the order), and its PEXPIREAT is
// ⌊(start+lifetime+skew)/ms⌋, which the script computes from start and the
// lifetime plus skew in µs, rounded down, as expireAtMS would from the
// exact end.
func (s *Store) exchangeArgs(x *store.RefreshExchange) ([]any, error) {
	next, err := json.Marshal(x.Next)
	if err != nil {
		return nil, err
	}
	aud, err := json.Marshal(x.Audience)
	if err != nil {
		return nil, err
	}
	cutoff, life, lifeSkew := "", "", ""
	if d := x.MaxFamilyLifetime; d > 0 {
		cutoff = strconv.FormatInt(x.Now.Add(-d).UnixMicro(), 10)
		life = strconv.FormatInt(int64(d/time.Microsecond), 10)
		// Apart, so that a lifetime near the largest Duration cannot
		// overflow.
		us := int64(d/time.Microsecond) + int64(s.skew/time.Microsecond) +
			int64((d%time.Microsecond+s.skew%time.Microsecond)/time.Microsecond)
		lifeSkew = strconv.FormatInt(us, 10)
	}
	args := make([]any, 0, 15+len(x.Scopes))
	args = append(args,
		s.prefix, x.Hash, strconv.FormatInt(x.Now.UnixMicro(), 10), x.Next,
		x.Kind, x.ClientID, strconv.FormatInt(x.Generation, 10),
		`{"hash":`+string(next), string(aud),
		strconv.FormatInt(x.ExpiresAt.UnixMicro(), 10), strconv.FormatInt(s.expireAtMS(x.ExpiresAt), 10),
		cutoff, life, lifeSkew, zeroTimeMicro)
	for _, sc := range x.Scopes {
		args = append(args, sc)
	}
	return args, nil
}

// zeroTimeMicro is the zero time.Time as toMicro stores it: a family start
// that encodeRefresh leaves out.
var zeroTimeMicro = strconv.FormatInt(toMicro(time.Time{}), 10)

// exchangeByParts is the Cluster's exchange (see ExchangeRefreshToken):
// GetRefreshToken's two steps, then RotateRefreshToken. Its answers are the
// single server's, with the same messages: the sentinels are named for the
// exchange, not for its steps. The successor's family is the index's, as
// the script's is, rather than the decoded record's: encoding/json turns
// invalid UTF-8 in a family id into U+FFFD, which would name other keys.
func (s *Store) exchangeByParts(ctx context.Context, op string, x *store.RefreshExchange) (*store.RefreshToken, error) {
	fam, err := s.rdb.Get(ctx, s.refreshIndexKey(x.Hash)).Result()
	if err != nil {
		return nil, fail(op, err) // redis.Nil: ErrNotFound
	}
	nowUS := strconv.FormatInt(x.Now.UnixMicro(), 10)
	keys := []string{s.refreshTokenKey(fam, x.Hash), s.familyKey(fam)}
	r, err := getRefreshScript.Run(ctx, s.rdb, keys, nowUS).Slice()
	if err != nil {
		return nil, fail(op, err)
	}
	status, j, used, next, err := refreshReply(r, 2)
	if err != nil {
		return nil, fail(op, err)
	}
	if status != stOK {
		return nil, sentinel(op, store.ErrNotFound)
	}
	t, err := decodeRefreshWithUse(op, j, used, next)
	if err != nil {
		return nil, err
	}
	if used != "" {
		if used == nowUS && next == x.Next {
			return t, nil // this very exchange, as the script answers
		}
		return nil, sentinel(op, store.ErrNotFound)
	}
	if !x.Matches(t) {
		return nil, sentinel(op, store.ErrNotFound)
	}
	succ := x.Successor(t)
	succ.FamilyID = fam
	err = s.RotateRefreshToken(ctx, x.Hash, succ, x.Now)
	switch {
	case errors.Is(err, store.ErrTokenReused), errors.Is(err, store.ErrNotFound):
		// Used or gone since the read.
		return nil, sentinel(op, store.ErrNotFound)
	case errors.Is(err, store.ErrAlreadyExists):
		return nil, sentinel(op, store.ErrAlreadyExists)
	case err != nil:
		return nil, err
	}
	t.UsedAt, t.ReplacedBy = fromMicro(x.Now.UnixMicro()), x.Next
	return t, nil
}
