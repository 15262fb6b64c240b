package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// sweepBatch is the SCAN COUNT hint and so about how many keys one round of
// pipelined checks handles.
const sweepBatch = 500

// Sweep deletes what had expired at now and reports how many records went:
// refresh tokens (used or not), access tokens, revocations, nonces and signing keys
// past their ExpiresAt.
//
// Redis TTLs already remove tokens and revocations once the server's clock
// passes their expiry (plus the clock-skew margin), so on Redis Sweep is
// optional housekeeping for a now ahead of that. It walks the store's keys
// with SCAN MATCH prefix* (on every master of a Cluster), which costs time in
// proportion to the whole keyspace: run it rarely, if at all. Every deletion
// re-checks the expiry inside a script, so Sweep never removes a record that
// a concurrent writer just extended or replaced.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	nowUS := now.UnixMicro()
	n, err := s.runInt(ctx, sweepKeysScript, s.signingKeys(), nowUS)
	if err != nil {
		return 0, fail("sweep", err)
	}
	var total atomic.Int64
	total.Add(n)
	err = s.forEachNode(ctx, func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, globEscape(s.prefix)+"*", sweepBatch).Result()
			if err != nil {
				return err
			}
			n, err := s.sweepKeys(ctx, keys, nowUS)
			total.Add(n)
			if err != nil {
				return err
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
	if err != nil {
		return total.Load(), fail("sweep", err)
	}
	return total.Load(), nil
}

// forEachNode runs fn on every node that holds keys: each master of a
// Cluster, each shard of a Ring, or the one server otherwise.
func (s *Store) forEachNode(ctx context.Context, fn func(context.Context, redis.Cmdable) error) error {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return fn(ctx, n) })
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return fn(ctx, n) })
	}
	return fn(ctx, s.rdb)
}

// globEscape escapes the glob metacharacters of SCAN MATCH.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sweepKeys deletes the expired records among one SCAN page of keys. Commands
// go through the store's client (not the node SCAN ran on), so that a Cluster
// routes them right even while slots move.
func (s *Store) sweepKeys(ctx context.Context, keys []string, nowUS int64) (int64, error) {
	var access, revoked, index []string
	for _, k := range keys {
		rest := k[len(s.prefix):]
		switch {
		case strings.HasPrefix(rest, "access:"):
			access = append(access, k)
		case strings.HasPrefix(rest, "revoked:"), strings.HasPrefix(rest, "nonce:"):
			revoked = append(revoked, k) // both hold their expiry first
		case strings.HasPrefix(rest, "refresh:"):
			index = append(index, k)
		}
	}
	if len(access)+len(revoked)+len(index) == 0 {
		return 0, nil
	}

	// Round one: read what decides expiry.
	pipe := s.rdb.Pipeline()
	accessGets := make([]*redis.StringCmd, len(access))
	for i, k := range access {
		accessGets[i] = pipe.Get(ctx, k)
	}
	indexGets := make([]*redis.StringCmd, len(index))
	for i, k := range index {
		indexGets[i] = pipe.Get(ctx, k)
	}
	revokeDels := make([]*redis.Cmd, len(revoked))
	for i, k := range revoked {
		revokeDels[i] = sweepRevokedScript.Eval(ctx, pipe, []string{k}, nowUS)
	}
	if err := exec(ctx, pipe); err != nil {
		return 0, err
	}

	// Round two: delete, each deletion checking again in its script.
	pipe = s.rdb.Pipeline()
	var dels []*redis.Cmd
	for i, cmd := range accessGets {
		v, err := cmd.Result()
		if err != nil {
			continue // gone meanwhile
		}
		t, err := decodeAccess([]byte(v))
		if err != nil || nowUS < t.ExpiresAt.UnixMicro() {
			continue // not ours to judge, or live
		}
		dels = append(dels, deleteIfEqualScript.Eval(ctx, pipe, []string{access[i]}, v))
	}
	var tokenDels []*redis.Cmd
	var tokenIdx []string
	for i, cmd := range indexGets {
		fam, err := cmd.Result()
		if err != nil {
			continue
		}
		hash := index[i][len(s.prefix)+len("refresh:"):]
		tokenDels = append(tokenDels, sweepRefreshScript.Eval(ctx, pipe, []string{s.refreshTokenKey(fam, hash)}, nowUS))
		tokenIdx = append(tokenIdx, index[i])
	}
	if len(dels)+len(tokenDels) > 0 {
		if err := exec(ctx, pipe); err != nil {
			return 0, err
		}
	}

	var n int64
	for _, cmd := range revokeDels {
		if v, err := cmd.Int64(); err == nil {
			n += v
		}
	}
	for _, cmd := range dels {
		if v, err := cmd.Int64(); err == nil {
			n += v
		}
	}
	// The index of a swept token goes after it: the index is claimed before
	// the token is written, so an index without its token may be a create in
	// flight and is left to its TTL.
	pipe = s.rdb.Pipeline()
	for i, cmd := range tokenDels {
		if v, err := cmd.Int64(); err == nil && v == 1 {
			n++
			pipe.Del(ctx, tokenIdx[i]) // one key per DEL: they lie in different slots
		}
	}
	if pipe.Len() > 0 {
		if err := exec(ctx, pipe); err != nil {
			return n, err
		}
	}
	return n, nil
}

// exec runs a pipeline and returns the first error other than redis.Nil (a
// key that went meanwhile, which the caller handles per command).
func exec(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
