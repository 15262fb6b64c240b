package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/store"
)

// ListClients implements [store.Lister]. There is no index of every client
// (keeping one would put every create and delete through one more key, and
// one slot), so each page walks the store's client keys with SCAN MATCH
// prefix{client:*} (on every master of a Cluster), keeps the limit smallest
// ids after the cursor, and reads those records in one pipeline: time in
// proportion to the key space, memory in proportion to limit. It is meant for
// administration, not for request paths.
func (s *Store) ListClients(ctx context.Context, after string, limit int) ([]*store.Client, error) {
	return listRecords(ctx, s, "list clients", s.prefix+"{client:", after, limit, decodeClient)
}

// ListAccounts implements [store.Lister] as ListClients does, over the
// account records (prefix{account:*}, which the owner indexes, ending in
// ":clients", never match).
func (s *Store) ListAccounts(ctx context.Context, after string, limit int) ([]*store.Account, error) {
	return listRecords(ctx, s, "list accounts", s.prefix+"{account:", after, limit, decodeAccount)
}

// listRecords lists the records whose keys are head + id + "}". A record
// that is gone by the time it is read, or is still a create's stub, is
// skipped; the walk then goes on past it, so that a short page still means
// the end.
func listRecords[T any](ctx context.Context, s *Store, op, head, after string, limit int, decode func([]byte) (*T, error)) ([]*T, error) {
	if limit < 1 || limit > store.MaxListLimit {
		return nil, fail(op, errListLimit)
	}
	var out []*T
	for len(out) < limit {
		want := limit - len(out)
		ids, err := s.smallestIDs(ctx, head, after, want)
		if err != nil {
			return nil, fail(op, err)
		}
		pipe := s.rdb.Pipeline()
		gets := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			gets[i] = pipe.HGet(ctx, head+id+"}", "j")
		}
		if len(ids) > 0 {
			if err := exec(ctx, pipe); err != nil {
				return nil, fail(op, err)
			}
		}
		for _, g := range gets {
			b, err := g.Bytes()
			if errors.Is(err, redis.Nil) {
				continue // deleted meanwhile, or a stub
			}
			if err != nil {
				return nil, fail(op, err)
			}
			v, err := decode(b)
			if err != nil {
				return nil, fail(op, err)
			}
			out = append(out, v)
		}
		if len(ids) < want {
			break // the key space has no more
		}
		after = ids[len(ids)-1]
	}
	return out, nil
}

// smallestIDs returns, in order, the n smallest ids greater than after of
// the keys head + id + "}", walking every node's keys with SCAN.
func (s *Store) smallestIDs(ctx context.Context, head, after string, n int) ([]string, error) {
	var (
		mu  sync.Mutex
		ids []string // sorted, at most n
	)
	keep := func(keys []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			if !strings.HasPrefix(k, head) || !strings.HasSuffix(k, "}") {
				continue
			}
			id := k[len(head) : len(k)-1]
			if id <= after || (len(ids) == n && id >= ids[n-1]) {
				continue
			}
			i, found := slices.BinarySearch(ids, id)
			if found {
				continue // SCAN may return a key twice
			}
			ids = slices.Insert(ids, i, id)
			if len(ids) > n {
				ids = ids[:n]
			}
		}
	}
	pattern := globEscape(head) + "*}"
	err := s.forEachNode(ctx, func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, sweepBatch).Result()
			if err != nil {
				return err
			}
			keep(keys)
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
	return ids, err
}
