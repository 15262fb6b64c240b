package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/store"
)

// Clients. Each client is a hash in its own slot ({client:<id>}); an owner's
// clients are listed by a sorted set in the owner account's slot
// ({account:<owner>}:clients), kept by ordered steps and repaired by the
// listing (see state.go for why that is safe).

// Script status codes.
const (
	stNotFound = 0
	stOK       = 1
	stGone     = 2  // a create's stub expired before its commit
	stConflict = -1 // generation conflict
	stStale    = -3 // the record's state moved on: read again
)

// errStubGone: a create took so long between its first step and its last
// that its claim on the id lapsed; nothing was created.
var errStubGone = fmt.Errorf("create took longer than %v and was abandoned", pendingTTL)

func casResult(op string, n int64) error {
	switch n {
	case stOK:
		return nil
	case stNotFound:
		return sentinel(op, store.ErrNotFound)
	case stConflict:
		return sentinel(op, store.ErrConflict)
	case stTaken:
		return sentinel(op, store.ErrAlreadyExists)
	case stGone:
		return fail(op, errStubGone)
	}
	return fmt.Errorf("redisstore: %s: unexpected script status %d", op, n)
}

// statusReply splits a script reply {status, strings…}.
func statusReply(r []any) (int64, []string, error) {
	if len(r) == 0 {
		return 0, nil, errors.New("empty script reply")
	}
	n, ok := r[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected script status %T", r[0])
	}
	rest := make([]string, len(r)-1)
	for i, v := range r[1:] {
		if rest[i], ok = v.(string); !ok {
			return 0, nil, fmt.Errorf("unexpected script reply %T", v)
		}
	}
	return n, rest, nil
}

// changed is the outcome of a client or account write whose script
// answered n: on a Cluster, a write that succeeded (now, or by an earlier
// send) is then appended to the change log. A failure of that append does
// not fail the write, which is made: a caller that saw an error would take
// a rotation for undone, and its retry would meet ErrConflict while the
// new secret it never returned is stored. The entry is then lost, as
// documented for the Cluster path.
func (s *Store) changed(ctx context.Context, op string, n int64, change string) error {
	if n == stOK {
		_ = s.appendChange(ctx, change)
	}
	return casResult(op, n)
}

// runStatus runs a script whose reply is {status, strings…}.
func (s *Store) runStatus(ctx context.Context, sc *redis.Script, keys []string, args ...any) (int64, []string, error) {
	r, err := sc.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return 0, nil, err
	}
	return statusReply(r)
}

// cleanup runs a best-effort step after the outcome is decided: removing an
// entry that can never become current, which a listing would remove anyway.
// It runs even when ctx is cancelled, a common reason to be there, and its
// error changes nothing the caller could act on.
func cleanup(ctx context.Context, f func(context.Context) error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	_ = f(ctx)
}

// cleanupTimeout bounds a best-effort step run after the caller's context
// ended: a stalled server must not hold the request for go-redis' read
// timeout times its retries (12 s by default). With ContextTimeoutEnabled
// the read is cut at this deadline; without it, go-redis' ReadTimeout cuts
// it, and no retry follows a passed deadline.
const cleanupTimeout = time.Second

// detached is ctx without its cancellation and deadline, bounded by
// cleanupTimeout instead.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// CreateClient stores c; ErrAlreadyExists if the id is taken.
//
// An unowned client is one script. An owned one takes three round trips so
// that its owner's index never misses it: a stub claims the id (one minute
// at most), the index entry goes in, then the record replaces the stub. If
// the create fails after its entry went in, the entry is dead and is
// removed, here or by a later listing.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	const op = "create client"
	j, err := encodeClient(c)
	if err != nil {
		return fail(op, err)
	}
	key := s.clientKey(c.ID)
	state := newState()
	if c.OwnerAccount == "" {
		n, err := s.runInt(ctx, createScript, []string{key}, "", state,
			"g", c.Generation, "j", j, "o", "", "m", "")
		if err != nil {
			return fail(op, err)
		}
		if n == stNotFound {
			return sentinel(op, store.ErrAlreadyExists)
		}
		return casResult(op, n)
	}

	stub := newState()
	n, err := s.runInt(ctx, stubScript, []string{key}, stub, pendingTTL.Milliseconds())
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return sentinel(op, store.ErrAlreadyExists)
	}
	index, member := s.ownerKey(c.OwnerAccount), ownerMember(sortKey(c), state, stub)
	if err := s.rdb.ZAdd(ctx, index, redis.Z{Member: member}).Err(); err != nil {
		// The entry may be in; without its stub it is dead.
		cleanup(ctx, func(ctx context.Context) error {
			return dropStubScript.Run(ctx, s.rdb, []string{key}, stub).Err()
		})
		return fail(op, err)
	}
	n, err = s.runInt(ctx, createScript, []string{key}, stub, state,
		"g", c.Generation, "j", j, "o", c.OwnerAccount, "m", member)
	if err != nil {
		// Committed or not, the entry is right: current, or pending until
		// the stub expires and then dead.
		return fail(op, err)
	}
	if n != stOK {
		cleanup(ctx, func(ctx context.Context) error { return s.rdb.ZRem(ctx, index, member).Err() })
	}
	return casResult(op, n)
}

// GetClient returns the client or ErrNotFound.
//
// An unknown id costs what a known one does, so that the time the issuer
// takes to refuse it does not tell which ids exist: a miss decodes the
// last client found, as a hit decodes its own.
//
// It asks with HMGET, which answers a missing key with a nil element rather
// than go-redis' error path for redis.Nil, measurably slower.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	r, err := s.rdb.HMGet(ctx, s.clientKey(id), "j").Result()
	if err != nil {
		return nil, fail("get client", err)
	}
	j, _ := r[0].(string)
	if j == "" {
		if like := s.lastClient.Load(); like != nil {
			decodeClient(*like)
		}
		return nil, fail("get client", redis.Nil)
	}
	b := []byte(j)
	c, err := decodeClient(b)
	if err != nil {
		return nil, fail("get client", err)
	}
	s.lastClient.Store(&b)
	return c, nil
}

// UpdateClient replaces the client if its stored generation equals
// prevGeneration, and announces the change to watchers.
//
// It first guesses that the owner and CreatedAt stay, which is one round
// trip (a rotation). When either changes, the script answers with the
// record's state instead, and the update moves the index entry in order: the
// new owner's entry goes in, the record is swapped if it is still in that
// state, then the old entry goes. Every attempt sends a fresh state, which
// the record keeps, so a script that go-redis sends again after a lost reply
// finds its own write and answers success.
func (s *Store) UpdateClient(ctx context.Context, c *store.Client, prevGeneration int64) error {
	const op = "update client"
	j, err := encodeClient(c)
	if err != nil {
		return fail(op, err)
	}
	ev := encodeEvent(store.Event{Kind: store.EventClientChanged, ID: c.ID, Generation: c.Generation})
	change := changeOf(store.EventClientChanged, c.ID, c.Generation, time.Time{})
	key := s.clientKey(c.ID)
	var sk string
	if c.OwnerAccount != "" {
		sk = sortKey(c)
	}
	for range maxStaleRetries {
		n, r, err := s.runStatus(ctx, updateClientScript, s.logged(key),
			prevGeneration, c.Generation, j, c.OwnerAccount, sk, newState(), s.channel, ev, change)
		if err != nil {
			return fail(op, err)
		}
		if n != stStale {
			return s.changed(ctx, op, n, change)
		}
		if len(r) != 1 {
			return fail(op, fmt.Errorf("unexpected script reply of %d parts", len(r)))
		}
		n, err = s.moveClient(ctx, c, j, ev, change, prevGeneration, sk, r[0])
		if err != nil {
			return fail(op, err)
		}
		if n != stStale {
			return s.changed(ctx, op, n, change)
		}
	}
	return sentinel(op, store.ErrConflict)
}

// moveClient is one attempt to update a client whose index entry changes,
// from the record state required.
func (s *Store) moveClient(ctx context.Context, c *store.Client, j, ev []byte, change string, prevGeneration int64, sk, required string) (int64, error) {
	state := newState()
	var index, member string
	if c.OwnerAccount != "" {
		index, member = s.ownerKey(c.OwnerAccount), ownerMember(sk, state, required)
		if err := s.rdb.ZAdd(ctx, index, redis.Z{Member: member}).Err(); err != nil {
			return 0, err // an entry that went in stays pending until the record's next write
		}
	}
	n, old, err := s.runStatus(ctx, swapScript, s.logged(s.clientKey(c.ID)),
		prevGeneration, required, state, s.channel, ev, change, 2,
		"o", c.OwnerAccount, "m", member, "g", c.Generation, "j", j)
	if err != nil {
		return 0, err // committed or not, the new entry is right
	}
	if n != stOK {
		if member != "" {
			cleanup(ctx, func(ctx context.Context) error { return s.rdb.ZRem(ctx, index, member).Err() })
		}
		return n, nil
	}
	// old is empty when an earlier send did the swap; its old entry is then
	// left to a listing.
	if len(old) == 2 && old[0] != "" && old[1] != "" {
		cleanup(ctx, func(ctx context.Context) error { return s.rdb.ZRem(ctx, s.ownerKey(old[0]), old[1]).Err() })
	}
	return stOK, nil
}

// DeleteClient removes the client, announces it with generation -1, then
// removes its owner index entry.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	const op = "delete client"
	ev := encodeEvent(store.Event{Kind: store.EventClientChanged, ID: id, Generation: -1})
	change := changeOf(store.EventClientChanged, id, -1, time.Time{})
	n, old, err := s.runStatus(ctx, deleteRecordScript, s.logged(s.clientKey(id)), s.channel, ev, change, "o", "m")
	if err != nil {
		return fail(op, err)
	}
	if n != stOK {
		return casResult(op, n)
	}
	_ = s.appendChange(ctx, change) // see changed
	if len(old) == 2 && old[0] != "" && old[1] != "" {
		cleanup(ctx, func(ctx context.Context) error { return s.rdb.ZRem(ctx, s.ownerKey(old[0]), old[1]).Err() })
	}
	return nil
}

// The listing arguments the store contract refuses: an empty owner would
// list every unowned client, and the limit bounds what one call reads.
var (
	errNoOwner   = errors.New("empty owner")
	errListLimit = fmt.Errorf("list limit must be from 1 to %d", store.MaxListLimit)
)

// ListClientsByOwner reads the owner's index in order (ZRANGE BYLEX), then
// the clients it names in one pipeline (one command per client, which a
// Cluster client splits by node), and keeps each client whose record names
// that very entry. It skips pending entries, deletes dead ones (best
// effort, after the listing), and reads on past them until it has limit
// clients or the index ends: two round trips when the index is clean.
func (s *Store) ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*store.Client, error) {
	const op = "list clients by owner"
	if owner == "" {
		return nil, fail(op, errNoOwner)
	}
	if limit < 1 || limit > store.MaxListLimit {
		return nil, fail(op, errListLimit)
	}
	index := s.ownerKey(owner)
	var (
		cs    []*store.Client
		dead  []any
		start = "-"
		batch = limit
	)
	for {
		members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: index, Start: start, Stop: "+", ByLex: true, Count: int64(batch),
		}).Result()
		if err != nil {
			return nil, fail(op, err)
		}
		if len(members) == 0 {
			break
		}
		got, gone, err := s.listed(ctx, owner, members, limit-len(cs))
		if err != nil {
			return nil, fail(op, err)
		}
		cs = append(cs, got...)
		dead = append(dead, gone...)
		if len(cs) == limit || len(members) < batch {
			break
		}
		start = "(" + members[len(members)-1]
		// Entries were skipped: read more at once next time, so that a run
		// of stale entries costs a few round trips, not one each.
		batch = min(max(limit-len(cs), 2*batch), store.MaxListLimit)
	}
	if len(dead) > 0 {
		cleanup(ctx, func(ctx context.Context) error { return s.rdb.ZRem(ctx, index, dead...).Err() })
	}
	return cs, nil
}

// listed reads the clients that members name and returns, in order, at most
// limit of those the owner holds through that very member, and the members
// that are dead.
func (s *Store) listed(ctx context.Context, owner string, members []string, limit int) (cs []*store.Client, dead []any, err error) {
	pipe := s.rdb.Pipeline()
	gets := make([]*redis.SliceCmd, len(members))
	required := make([]string, len(members))
	for i, m := range members {
		id, _, req, ok := parseMember(m)
		if !ok {
			return nil, nil, fmt.Errorf("owner index member %q is malformed", m)
		}
		required[i] = req
		gets[i] = pipe.HMGet(ctx, s.clientKey(id), "j", "o", "m", "w")
	}
	if err := exec(ctx, pipe); err != nil {
		return nil, nil, err
	}
	for i, g := range gets {
		r, err := g.Result()
		if err != nil {
			return nil, nil, err
		}
		j, live := r[0].(string)
		o, _ := r[1].(string)
		m, _ := r[2].(string)
		w, exists := r[3].(string)
		switch {
		case live && o == owner && m == members[i]:
			if len(cs) == limit {
				return cs, dead, nil
			}
			c, err := decodeClient([]byte(j))
			if err != nil {
				return nil, nil, err
			}
			cs = append(cs, c)
		case exists && w == required[i]:
			// Pending: its write may still commit. Not listed yet, and
			// not ours to delete.
		default:
			dead = append(dead, members[i])
		}
	}
	return cs, dead, nil
}
