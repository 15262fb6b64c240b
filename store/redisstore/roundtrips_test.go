package redisstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
)

// countHook counts a client's round trips: one per command, one per
// pipeline (as e2e's abRedisHook does).
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// readResult is what one GetRefreshToken or ConsumeRefreshToken answered.
type readResult struct {
	call string
	tok  store.RefreshToken // zero when none came back
	err  string
}

// TestRefreshReadRoundTrips: GetRefreshToken and ConsumeRefreshToken make
// one round trip on a single server (one script that follows the index)
// and two on the Cluster's path (the index read, then a script in the
// family's slot; one when the index is missing), and both paths answer
// every case alike: live, consumed, rotated, missing index, missing token,
// expired at now, revoked family. Families with braces and odd bytes
// check that the script names the family's keys exactly as
// refreshTokenKey and familyKey do: the keys left afterwards are the same
// on both paths, and the consume marked the very key refreshTokenKey
// names.
func TestRefreshReadRoundTrips(t *testing.T) {
	families := []string{"fam", "", "a}b", "{x}", "}{", "{", "}", "%s%d.*?[", "nul\x00byte", "\xff\xfe", "ünï-🔑", "x}:family"}
	opt := dbtest.RedisOptions(t)
	now := time.Now().Truncate(time.Microsecond)
	exp := now.Add(time.Hour)

	run := func(t *testing.T, oneServer bool) (results []readResult, keys []string) {
		ctx := t.Context()
		var n atomic.Int64
		rdb := newClient(t, opt)
		rdb.AddHook(countHook{&n})
		prefix := dbtest.RedisPrefix(t)
		s := newStore(t, rdb, prefix)
		if !s.oneServer {
			t.Fatal("a *redis.Client store is not on the one-server path")
		}
		s.oneServer = oneServer
		// Load the scripts, so that no EVALSHA meets NOSCRIPT and falls
		// back to EVAL (a second round trip) below.
		for _, sc := range []*redis.Script{getRefreshScript, getRefreshByIndexScript, consumeRefreshScript, consumeRefreshByIndexScript} {
			if err := sc.Load(ctx, rdb).Err(); err != nil {
				t.Fatal(err)
			}
		}
		// call makes one Get or Consume, which should answer want; found
		// says whether the token's index exists.
		call := func(what, hash string, at time.Time, consume, found bool, want error) {
			t.Helper()
			n.Store(0)
			r := readResult{call: fmt.Sprintf("%s %q at %v", what, hash, at.Sub(now))}
			var tok *store.RefreshToken
			var err error
			if consume {
				tok, err = s.ConsumeRefreshToken(ctx, hash, at)
			} else {
				tok, err = s.GetRefreshToken(ctx, hash, at)
			}
			if tok != nil {
				r.tok = *tok
			}
			if err != nil {
				r.err = err.Error()
			}
			// A reused token comes back with its error.
			if !errors.Is(err, want) || (want != store.ErrNotFound) != (tok != nil) {
				t.Errorf("%s: %+v, %v; want %v", r.call, tok, err, want)
			}
			trips := int64(1)
			if !oneServer && found {
				trips = 2
			}
			if got := n.Load(); got != trips {
				t.Errorf("%s: %d round trips, want %d", r.call, got, trips)
			}
			results = append(results, r)
		}
		for i, fam := range families {
			h := func(s string) string { return fmt.Sprintf("%s%d", s, i) }
			for _, tok := range []string{h("live"), h("used"), h("old"), h("gone"), h("late"), h("rev")} {
				if err := s.CreateRefreshToken(ctx, refreshToken(tok, fam, exp)); err != nil {
					t.Fatalf("family %q: create %s: %v", fam, tok, err)
				}
			}
			call("get", h("live"), now, false, true, nil)
			call("get", h("nope"), now, false, false, store.ErrNotFound)
			call("consume", h("nope"), now, true, false, store.ErrNotFound)

			call("consume", h("used"), now, true, true, nil)
			call("consume", h("used"), now.Add(time.Second), true, true, store.ErrTokenReused)
			call("get", h("used"), now.Add(time.Second), false, true, nil)
			if u, err := rdb.HGet(ctx, s.refreshTokenKey(fam, h("used")), "u").Result(); err != nil || u != fmt.Sprint(now.UnixMicro()) {
				t.Errorf("family %q: the consumed token's key holds u = %q, %v; want %d", fam, u, err, now.UnixMicro())
			}

			if err := s.RotateRefreshToken(ctx, h("old"), refreshToken(h("new"), fam, exp), now); err != nil {
				t.Fatalf("family %q: rotate: %v", fam, err)
			}
			call("get", h("old"), now, false, true, nil)
			call("consume", h("old"), now, true, true, store.ErrTokenReused)
			call("get", h("new"), now, false, true, nil)

			// The index is left, the token gone.
			if err := rdb.Del(ctx, s.refreshTokenKey(fam, h("gone"))).Err(); err != nil {
				t.Fatal(err)
			}
			call("get", h("gone"), now, false, true, store.ErrNotFound)
			call("consume", h("gone"), now, true, true, store.ErrNotFound)

			// Expired at exactly its expiry, and not consumed by trying.
			call("get", h("late"), exp, false, true, store.ErrNotFound)
			call("consume", h("late"), exp, true, true, store.ErrNotFound)
			call("get", h("late"), exp.Add(-time.Microsecond), false, true, nil)
		}
		// Revoked families last: a revocation covers every token of its
		// family, and "a}b" and "a" must stay apart.
		for i, fam := range families {
			if err := s.RevokeRefreshFamily(ctx, fam); err != nil {
				t.Fatal(err)
			}
			rev := fmt.Sprintf("rev%d", i)
			call("get", rev, now, false, true, store.ErrNotFound)
			call("consume", rev, now, true, true, store.ErrNotFound)
		}

		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, strings.TrimPrefix(iter.Val(), prefix))
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		return results, keys
	}

	var one, two []readResult
	var oneKeys, twoKeys []string
	t.Run("one server", func(t *testing.T) { one, oneKeys = run(t, true) })
	t.Run("cluster path", func(t *testing.T) { two, twoKeys = run(t, false) })
	if len(one) != len(two) {
		t.Fatalf("%d answers on one server, %d on the cluster path", len(one), len(two))
	}
	for i := range one {
		if !reflect.DeepEqual(one[i], two[i]) {
			t.Errorf("one server and cluster path differ:\n%+v\n%+v", one[i], two[i])
		}
	}
	if !slices.Equal(oneKeys, twoKeys) {
		t.Errorf("keys left differ:\none server   %q\ncluster path %q", oneKeys, twoKeys)
	}
}
