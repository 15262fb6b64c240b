package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/store"
)

// DefaultPrefix starts every key when no [WithPrefix] is given.
const DefaultPrefix = "portcullis:"

// DefaultClockSkew is how long keys outlive the expiry they guard when no
// [WithClockSkew] is given.
const DefaultClockSkew = 5 * time.Minute

// Store is a [store.Store] over Redis. It is safe for concurrent use; it
// holds no state besides its configuration (and the last client record
// read, see [Store.GetClient]), so any number of Stores (one per replica)
// may share one Redis.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	skew     time.Duration
	channel  string
	eviction EvictionCheck
	// oneServer: every key is on one server (not a Cluster or Ring), so
	// a script may touch keys of different slots.
	oneServer bool

	lastClient atomic.Pointer[[]byte]
}

var (
	_ store.Store            = (*Store)(nil)
	_ store.Sweeper          = (*Store)(nil)
	_ store.Pinger           = (*Store)(nil)
	_ store.Watcher          = (*Store)(nil)
	_ store.RateLimiter      = (*Store)(nil)
	_ store.RateCounter      = (*Store)(nil)
	_ store.StartChecker     = (*Store)(nil)
	_ store.ChangeLog        = (*Store)(nil)
	_ store.RefreshExchanger = (*Store)(nil)
)

// Option configures [New]. Only this package can make one.
type Option interface{ apply(*options) }

type options struct {
	prefix   string
	skew     time.Duration
	eviction EvictionCheck
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithPrefix sets the string every key and the event channel start with
// (default [DefaultPrefix]). Stores with different prefixes share nothing. The
// prefix may not contain '{' or '}', which Redis Cluster reads as a hash tag.
func WithPrefix(p string) Option {
	return optionFunc(func(o *options) { o.prefix = p })
}

// WithClockSkew sets how long token, revocation and family keys outlive the
// expiry they record (default [DefaultClockSkew]). Expiry is always decided by
// the now argument of each method; the margin only keeps Redis from dropping
// a key while a replica whose clock lags the server's still needs it. Zero is
// allowed when every clock is trusted; negative is an error.
func WithClockSkew(d time.Duration) Option {
	return optionFunc(func(o *options) { o.skew = d })
}

// New returns a Store over rdb, which the caller owns and closes. It fails
// only on a nil client or a bad option; it does not contact the server (use
// [Store.Ping] for that).
func New(rdb redis.UniversalClient, opts ...Option) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil redis client")
	}
	o := options{prefix: DefaultPrefix, skew: DefaultClockSkew}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if strings.ContainsAny(o.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q contains a brace, which Redis Cluster reads as a hash tag", o.prefix)
	}
	if o.skew < 0 {
		return nil, fmt.Errorf("redisstore: negative clock skew %v", o.skew)
	}
	if o.eviction != EvictionRefuse && o.eviction != EvictionWarn {
		return nil, fmt.Errorf("redisstore: unknown EvictionCheck %d", o.eviction)
	}
	_, oneServer := rdb.(*redis.Client)
	return &Store{rdb: rdb, prefix: o.prefix, skew: o.skew, channel: o.prefix + "events", eviction: o.eviction, oneServer: oneServer}, nil
}

// Prefix returns the prefix of every key of this store.
func (s *Store) Prefix() string { return s.prefix }

// Keys. See the package documentation for the layout and the slot reasoning.

// Each client and each account has a slot of its own (the id inside the
// braces), so that they spread over a Cluster. The same rule as for refresh
// families holds: the slot is that of the text up to the first '}' after our
// '{', so an id holding braces still maps every key of one record to one
// slot. An owner's index of clients lives in the slot of the owner's account
// ({account:<owner>}), and each username and email reservation in a slot of
// its own. state.go says how records and indexes stay consistent without a
// script spanning slots.
func (s *Store) clientKey(id string) string   { return s.prefix + "{client:" + id + "}" }
func (s *Store) accountKey(id string) string  { return s.prefix + "{account:" + id + "}" }
func (s *Store) ownerKey(owner string) string { return s.prefix + "{account:" + owner + "}:clients" }
func (s *Store) usernameKey(u string) string  { return s.prefix + "{username:" + u + "}" }
func (s *Store) emailKey(e string) string     { return s.prefix + "{email:" + e + "}" }

func (s *Store) refreshIndexKey(h string) string { return s.prefix + "refresh:" + h }

// The family id sits inside the braces: every key of one family has the same
// text up to the first '}' after our '{', hence the same slot, even when the
// family id itself contains braces.
func (s *Store) refreshTokenKey(family, hash string) string {
	return s.prefix + "{refresh:" + family + "}:token:" + hash
}
func (s *Store) familyKey(family string) string { return s.prefix + "{refresh:" + family + "}:family" }
func (s *Store) accessKey(h string) string      { return s.prefix + "access:" + h }
func (s *Store) revokedKey(id string) string    { return s.prefix + "revoked:" + id }
func (s *Store) nonceKey(id string) string      { return s.prefix + "nonce:" + id }

func (s *Store) signingKeys() []string {
	return []string{
		s.prefix + "{keys}:record", // id → JSON (without ExpiresAt)
		s.prefix + "{keys}:expiry", // id → ExpiresAt µs; absent when zero
		s.prefix + "{keys}:seq",    // Seq → id
		s.prefix + "{keys}:seqof",  // id → Seq
	}
}

// expireAtMS is the PEXPIREAT argument for a key guarding something that
// expires at t: t plus the skew margin, never below 1 (Redis refuses 0 and
// negative PXAT; 1 is in the past, so the key goes at once).
func (s *Store) expireAtMS(t time.Time) int64 {
	ms := t.Add(s.skew).UnixMilli()
	if ms < 1 {
		return 1
	}
	return ms
}

func fail(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// The zero times the store contract refuses (see store's "Zero times"). A
// zero expiry would become a key that expires at once (PXAT 1): a token dead
// at birth, a revocation void; a consume at the zero time would record a use
// at a negative instant.
var (
	errZeroExpiry = errors.New("zero expiry")
	errZeroNow    = errors.New("zero now")
)

func sentinel(op string, err error) error { return fmt.Errorf("redisstore: %s: %w", op, err) }

// setNXAt is SET key val NX PXAT at: one command, so a key never exists
// without its TTL. It reports whether the key was set.
func (s *Store) setNXAt(ctx context.Context, key string, val any, atMS int64) (bool, error) {
	err := s.rdb.Do(ctx, "SET", key, val, "NX", "PXAT", atMS).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// runInt runs a script whose reply is an integer status.
func (s *Store) runInt(ctx context.Context, sc *redis.Script, keys []string, args ...any) (int64, error) {
	return sc.Run(ctx, s.rdb, keys, args...).Int64()
}

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Refresh tokens

// CreateRefreshToken stores t; ErrAlreadyExists if the hash is taken. Both
// steps (the index claim, then the token in its family's slot) find their
// own earlier write when go-redis sends them again, and succeed.
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	const op = "create refresh token"
	if t != nil && t.ExpiresAt.IsZero() {
		return fail(op, errZeroExpiry) // before the hash is claimed
	}
	j, err := encodeRefresh(t)
	if err != nil {
		return fail(op, err)
	}
	at := s.expireAtMS(t.ExpiresAt)
	claimed, err := s.claimIndex(ctx, op, t.Hash, t.FamilyID, at)
	if err != nil {
		return err
	}
	keys := []string{s.refreshTokenKey(t.FamilyID, t.Hash), s.familyKey(t.FamilyID)}
	n, err := s.runInt(ctx, createRefreshScript, keys, j, t.ExpiresAt.UnixMicro(), at)
	if err == nil && n == 0 {
		err = store.ErrAlreadyExists
	}
	if err != nil {
		if claimed {
			s.releaseIndex(ctx, t.Hash, t.FamilyID)
		}
		return fail(op, err)
	}
	return nil
}

// claimIndex claims a new token's hash for its family (the index is written
// once and never changed, so readers may follow it without a transaction).
// It reports whether this call claimed it, rather than an earlier send of
// the same request; ErrAlreadyExists when another family holds it.
func (s *Store) claimIndex(ctx context.Context, op, hash, family string, atMS int64) (bool, error) {
	n, err := s.runInt(ctx, claimIndexScript, []string{s.refreshIndexKey(hash)}, family, atMS)
	if err != nil {
		return false, fail(op, err)
	}
	if n == 0 {
		return false, sentinel(op, store.ErrAlreadyExists)
	}
	return n == 2, nil
}

// releaseIndex gives up a claim on a hash whose token could not be stored,
// so that a retry is not refused. Detached: a cancelled ctx is a common
// reason to be here.
func (s *Store) releaseIndex(ctx context.Context, hash, family string) {
	ctx, cancel := detached(ctx)
	defer cancel()
	deleteIfEqualScript.Run(ctx, s.rdb, []string{s.refreshIndexKey(hash)}, family)
}

// runRefresh runs the Get or Consume script on the token of hash, at now
// µs, and returns its reply. On a single server it runs byIndex, given the
// token's index key, which reads the family and names the family's keys
// itself (see refreshKeys in scripts.go): one round trip. On a Cluster
// those keys lie in the family's slot, which a script given the index key
// may not touch, so the index is read first (GET) and inSlot then runs on
// the family's keys: two round trips. Both paths answer alike: a missing
// index is ErrNotFound (here) or {0} (the script), as are a missing token,
// an expired one and a revoked family.
func (s *Store) runRefresh(ctx context.Context, op string, inSlot, byIndex *redis.Script, hash, nowUS string) ([]any, error) {
	var cmd *redis.Cmd
	if s.oneServer {
		cmd = byIndex.Run(ctx, s.rdb, []string{s.refreshIndexKey(hash)}, s.prefix, hash, nowUS)
	} else {
		fam, err := s.rdb.Get(ctx, s.refreshIndexKey(hash)).Result()
		if err != nil {
			return nil, fail(op, err) // redis.Nil: ErrNotFound
		}
		cmd = inSlot.Run(ctx, s.rdb, []string{s.refreshTokenKey(fam, hash), s.familyKey(fam)}, nowUS)
	}
	r, err := cmd.Slice()
	if err != nil {
		return nil, fail(op, err)
	}
	return r, nil
}

// GetRefreshToken returns the token without consuming it; ErrNotFound if it
// is missing, expired at now, or its family was revoked. One round trip on
// a single server, two on a Cluster (see runRefresh).
func (s *Store) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	const op = "get refresh token"
	r, err := s.runRefresh(ctx, op, getRefreshScript, getRefreshByIndexScript, hash, strconv.FormatInt(now.UnixMicro(), 10))
	if err != nil {
		return nil, err
	}
	status, j, used, next, err := refreshReply(r, 2)
	if err != nil {
		return nil, fail(op, err)
	}
	if status != stOK {
		return nil, sentinel(op, store.ErrNotFound)
	}
	return decodeRefreshWithUse(op, j, used, next)
}

// ConsumeRefreshToken marks the token used at now in one script that also
// checks its family and expiry, so exactly one of any concurrent calls wins.
// One round trip on a single server, two on a Cluster (see runRefresh).
func (s *Store) ConsumeRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	const op = "consume refresh token"
	if now.IsZero() {
		return nil, fail(op, errZeroNow)
	}
	nowUS := strconv.FormatInt(now.UnixMicro(), 10)
	r, err := s.runRefresh(ctx, op, consumeRefreshScript, consumeRefreshByIndexScript, hash, nowUS)
	if err != nil {
		return nil, err
	}
	status, j, used, next, err := refreshReply(r, 2)
	if err != nil {
		return nil, fail(op, err)
	}
	switch status {
	case stOK:
		return decodeRefreshWithUse(op, j, nowUS, "")
	case reused:
		t, err := decodeRefreshWithUse(op, j, used, next)
		if err != nil {
			return nil, err
		}
		return t, sentinel(op, store.ErrTokenReused)
	}
	return nil, sentinel(op, store.ErrNotFound)
}

// RotateRefreshToken consumes oldHash and stores next in one script in the
// family's slot (see rotateRefreshScript), which on a single server (a
// *redis.Client, Sentinel included) also claims next's index: one round
// trip. On a Cluster the index lies in another slot, so it is claimed first
// (a second round trip) and released if the rotation does not happen. Both
// scripts find their own earlier write when go-redis sends them again and
// answer success, so a reply lost to a timeout never turns the first use
// into reuse.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	const op = "rotate refresh token"
	switch {
	case next == nil:
		return fail(op, errors.New("nil refresh token"))
	case now.IsZero():
		return fail(op, errZeroNow)
	case next.ExpiresAt.IsZero():
		return fail(op, errZeroExpiry)
	}
	j, err := encodeRefresh(next)
	if err != nil {
		return fail(op, err)
	}
	fam := next.FamilyID
	at := s.expireAtMS(next.ExpiresAt)
	keys := []string{s.refreshTokenKey(fam, oldHash), s.familyKey(fam), s.refreshTokenKey(fam, next.Hash)}
	if s.oneServer {
		keys = append(keys, s.refreshIndexKey(next.Hash))
	} else if _, err = s.claimIndex(ctx, op, next.Hash, fam, at); err != nil {
		return err
	}
	n, err := s.runInt(ctx, rotateRefreshScript, keys, now.UnixMicro(), next.Hash, j, next.ExpiresAt.UnixMicro(), at, fam)
	if !s.oneServer && err == nil && n != stOK {
		// Refused, so no send of this rotation stored the successor. The
		// claim is released unless a token of that hash exists (the claim
		// was then not this call's, though it may look like it: a re-sent
		// claim finds its own first send).
		if exists, xerr := s.rdb.Exists(ctx, keys[2]).Result(); xerr == nil && exists == 0 {
			s.releaseIndex(ctx, next.Hash, fam)
		}
	}
	switch {
	case err != nil:
		// The rotation may have happened: the index stays, and a retry
		// of this very rotation succeeds.
		return fail(op, err)
	case n == stOK:
		return nil
	case n == reused:
		return sentinel(op, store.ErrTokenReused)
	case n == taken:
		return sentinel(op, store.ErrAlreadyExists)
	}
	return sentinel(op, store.ErrNotFound)
}

// Statuses of the consume and rotate scripts besides stOK and 0.
const (
	reused = 2 // the token was already used
	taken  = 3 // the successor's hash is taken
)

// refreshReply splits a script's reply {status, JSON, used, successor}; the
// successor is at index nextAt.
func refreshReply(r []any, nextAt int) (status int64, j, used, next string, err error) {
	if len(r) == 0 {
		return 0, "", "", "", errors.New("empty script reply")
	}
	status, ok := r[0].(int64)
	if !ok {
		return 0, "", "", "", fmt.Errorf("unexpected script reply %T", r[0])
	}
	str := func(i int) string {
		if i < len(r) {
			v, _ := r[i].(string)
			return v
		}
		return ""
	}
	return status, str(1), str(2), str(nextAt + 1), nil
}

func decodeRefreshWithUse(op, j, used, next string) (*store.RefreshToken, error) {
	t, err := decodeRefresh([]byte(j))
	if err != nil {
		return nil, fail(op, err)
	}
	if used != "" {
		us, err := strconv.ParseInt(used, 10, 64)
		if err != nil {
			return nil, fail(op, err)
		}
		t.UsedAt = fromMicro(us)
	}
	t.ReplacedBy = next
	return t, nil
}

// RevokeRefreshFamily marks the family revoked. The marker keeps the TTL
// that covers the family's longest-lived token (KEEPTTL); for a family with
// no live token it has none, so later tokens of the family stay refused.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	err := s.rdb.SetArgs(ctx, s.familyKey(familyID), "1", redis.SetArgs{KeepTTL: true}).Err()
	if err != nil {
		return fail("revoke refresh family", err)
	}
	return nil
}

// Access tokens

// CreateAccessToken stores t; ErrAlreadyExists if the hash is taken.
func (s *Store) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	if t != nil && t.ExpiresAt.IsZero() {
		return fail("create access token", errZeroExpiry)
	}
	j, err := encodeAccess(t)
	if err != nil {
		return fail("create access token", err)
	}
	ok, err := s.setNXAt(ctx, s.accessKey(t.Hash), j, s.expireAtMS(t.ExpiresAt))
	if err != nil {
		return fail("create access token", err)
	}
	if !ok {
		return sentinel("create access token", store.ErrAlreadyExists)
	}
	return nil
}

// GetAccessToken returns the token, or ErrNotFound if it is missing or
// expired at now.
func (s *Store) GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error) {
	b, err := s.rdb.Get(ctx, s.accessKey(hash)).Bytes()
	if err != nil {
		return nil, fail("get access token", err)
	}
	t, err := decodeAccess(b)
	if err != nil {
		return nil, fail("get access token", err)
	}
	if !now.Before(t.ExpiresAt) {
		return nil, sentinel("get access token", store.ErrNotFound)
	}
	return t, nil
}

// DeleteAccessToken removes the token; a missing one is not an error.
func (s *Store) DeleteAccessToken(ctx context.Context, hash string) error {
	if err := s.rdb.Del(ctx, s.accessKey(hash)).Err(); err != nil {
		return fail("delete access token", err)
	}
	return nil
}

// Revocations

// Revoke records the token id as revoked until expiresAt (the later expiry
// wins) and, when that changed anything, announces it to watchers and
// appends it to the change log. A zero expiresAt is an error.
//
// On a Cluster the append is a second step (see appendChange), taken also
// when the very same expiry was recorded already: the script cannot tell
// another call's revocation from an earlier send of its own whose reply was
// lost, and a duplicate entry is true where a missing one is not. If that
// step fails, Revoke fails, and calling it again appends the entry.
func (s *Store) Revoke(ctx context.Context, tokenID string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return fail("revoke", errZeroExpiry)
	}
	ev := encodeEvent(store.Event{Kind: store.EventRevoked, ID: tokenID})
	change := changeOf(store.EventRevoked, tokenID, 0, expiresAt)
	n, err := s.runInt(ctx, revokeScript, s.logged(s.revokedKey(tokenID)),
		expiresAt.UnixMicro(), s.expireAtMS(expiresAt), s.channel, ev, change)
	if err == nil && n != 0 {
		err = s.appendChange(ctx, change)
	}
	if err != nil {
		return fail("revoke", err)
	}
	return nil
}

// UseNonce implements [store.Nonces] in one script, safe to re-send: a
// random token of the call is stored with the record, so that go-redis
// running the script again after a lost reply (its default on a timeout)
// gets the first run's answer rather than a replay.
func (s *Store) UseNonce(ctx context.Context, id string, expiresAt, now time.Time) error {
	const op = "use nonce"
	if err := store.CheckNonce(id, expiresAt, now); err != nil {
		return fail(op, err)
	}
	var tok [12]byte
	rand.Read(tok[:])
	n, err := s.runInt(ctx, useNonceScript, []string{s.nonceKey(id)},
		expiresAt.UnixMicro(), s.expireAtMS(expiresAt), now.UnixMicro(), hex.EncodeToString(tok[:]))
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrAlreadyExists)
	}
	return nil
}

// IsRevoked reports whether the token id is revoked at now, that is, a
// revocation is recorded and now is before its expiry.
func (s *Store) IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error) {
	// MGET of one key rather than GET: the common answer is "no such key",
	// and a GET would report it as the error redis.Nil, which go-redis runs
	// through a dozen error checks (20 allocations) on this hot path.
	vals, err := s.rdb.MGet(ctx, s.revokedKey(tokenID)).Result()
	if err != nil {
		return false, fail("is revoked", err)
	}
	if len(vals) != 1 || vals[0] == nil {
		return false, nil
	}
	v, _ := vals[0].(string)
	exp, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, fail("is revoked", err)
	}
	return now.UnixMicro() < exp, nil
}

// Signing keys

// CreateKey stores k; ErrAlreadyExists if its id or Seq is taken.
func (s *Store) CreateKey(ctx context.Context, k *store.SigningKey) error {
	j, err := encodeKey(k)
	if err != nil {
		return fail("create key", err)
	}
	exp := ""
	if !k.ExpiresAt.IsZero() {
		exp = strconv.FormatInt(k.ExpiresAt.UnixMicro(), 10)
	}
	n, err := s.runInt(ctx, createKeyScript, s.signingKeys(), k.ID, k.Seq, j, exp)
	if err != nil {
		return fail("create key", err)
	}
	if n == 0 {
		return sentinel("create key", store.ErrAlreadyExists)
	}
	return nil
}

// ListKeys returns every key ordered by Seq.
func (s *Store) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	r, err := listKeysScript.Run(ctx, s.rdb, s.signingKeys()).Slice()
	if err != nil {
		return nil, fail("list keys", err)
	}
	keys, err := decodeKeyList(r)
	if err != nil {
		return nil, fail("list keys", err)
	}
	return keys, nil
}

// UpdateKeyExpiry sets the key's ExpiresAt; ErrNotFound if there is none.
func (s *Store) UpdateKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error {
	exp := ""
	if !expiresAt.IsZero() {
		exp = strconv.FormatInt(expiresAt.UnixMicro(), 10)
	}
	n, err := s.runInt(ctx, updateKeyExpiryScript, s.signingKeys(), id, exp)
	if err != nil {
		return fail("update key expiry", err)
	}
	if n == 0 {
		return sentinel("update key expiry", store.ErrNotFound)
	}
	return nil
}

// DeleteKey removes the key; ErrNotFound if there is none.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	n, err := s.runInt(ctx, deleteKeyScript, s.signingKeys(), id)
	if err != nil {
		return fail("delete key", err)
	}
	if n == 0 {
		return sentinel("delete key", store.ErrNotFound)
	}
	return nil
}

// Rate limiting

// window returns the fixed window of length w that contains now, aligned
// as time.Truncate aligns (to the zero time) so that every replica and
// every backend agree, and the key of its counter.
func (s *Store) window(key string, w time.Duration, now time.Time) (rkey string, reset time.Time, err error) {
	if w <= 0 {
		return "", time.Time{}, fmt.Errorf("redisstore: rate limit window %v is not positive", w)
	}
	start := now.Truncate(w)
	rkey = s.prefix + "ratelimit:" + strconv.FormatInt(int64(w), 10) + ":" +
		strconv.FormatInt(start.Unix(), 10) + "." + strconv.Itoa(start.Nanosecond()) + ":" + key
	return rkey, start.Add(w).UTC(), nil
}

// Hit adds one to key's counter in the window containing now, in one script
// (INCR, and PEXPIREAT at the window's end on the first hit).
func (s *Store) Hit(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	rkey, reset, err := s.window(key, w, now)
	if err != nil {
		return 0, time.Time{}, err
	}
	n, err := s.runInt(ctx, hitScript, []string{rkey}, s.expireAtMS(reset))
	if err != nil {
		return 0, time.Time{}, fail("rate limit hit", err)
	}
	return n, reset, nil
}

// Count returns key's count in the window containing now without adding to it.
func (s *Store) Count(ctx context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	rkey, reset, err := s.window(key, w, now)
	if err != nil {
		return 0, time.Time{}, err
	}
	n, err := s.rdb.Get(ctx, rkey).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, reset, nil
	}
	if err != nil {
		return 0, time.Time{}, fail("rate limit count", err)
	}
	return n, reset, nil
}

// CountMany implements [store.RateCounter]: one MGET on a single server;
// on a Cluster, whose MGET refuses keys of different slots, a pipeline of
// GETs that the client sends to each node at once (one round trip per
// node, in parallel).
func (s *Store) CountMany(ctx context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	const op = "rate limit count"
	if len(keys) > store.MaxCountKeys {
		return nil, time.Time{}, fmt.Errorf("redisstore: %s: %d keys, more than %d", op, len(keys), store.MaxCountKeys)
	}
	rkeys := make([]string, len(keys))
	_, reset, err := s.window("", w, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(keys) == 0 {
		return nil, reset, nil
	}
	for i, k := range keys {
		rkeys[i], _, _ = s.window(k, w, now)
	}
	counts := make([]int64, len(keys))
	if s.oneServer {
		vals, err := s.rdb.MGet(ctx, rkeys...).Result()
		if err != nil {
			return nil, time.Time{}, fail(op, err)
		}
		if len(vals) != len(keys) {
			return nil, time.Time{}, fmt.Errorf("redisstore: %s: %d answers for %d keys", op, len(vals), len(keys))
		}
		for i, v := range vals {
			if counts[i], err = countOf(v); err != nil {
				return nil, time.Time{}, fail(op, err)
			}
		}
		return counts, reset, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range rkeys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, time.Time{}, fail(op, err)
	}
	for i, c := range cmds {
		n, err := c.Int64()
		switch {
		case errors.Is(err, redis.Nil):
			n = 0
		case err != nil:
			return nil, time.Time{}, fail(op, err)
		}
		counts[i] = n
	}
	return counts, reset, nil
}

// countOf is a counter's value as MGET returns it: nil for a missing key,
// else the decimal string INCR left.
func countOf(v any) (int64, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case string:
		return strconv.ParseInt(v, 10, 64)
	default:
		return 0, fmt.Errorf("counter of type %T", v)
	}
}
