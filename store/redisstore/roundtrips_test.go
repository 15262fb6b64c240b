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
	samePaths(t, one, two, oneKeys, twoKeys, func(a, b readResult) bool { return reflect.DeepEqual(a, b) })
}

// samePaths fails t where the single server's answers or the keys it left
// differ from the cluster path's.
func samePaths[R any](t *testing.T, one, two []R, oneKeys, twoKeys []string, same func(a, b R) bool) {
	t.Helper()
	if len(one) != len(two) {
		t.Fatalf("%d answers on one server, %d on the cluster path", len(one), len(two))
	}
	for i := range one {
		if !same(one[i], two[i]) {
			t.Errorf("one server and cluster path differ:\n%+v\n%+v", one[i], two[i])
		}
	}
	if len(oneKeys) != len(twoKeys) {
		t.Errorf("%d keys left on one server, %d on the cluster path", len(oneKeys), len(twoKeys))
	}
	for i := range min(len(oneKeys), len(twoKeys)) {
		if oneKeys[i] != twoKeys[i] {
			t.Errorf("keys left differ:\none server   %s\ncluster path %s", oneKeys[i], twoKeys[i])
		}
	}
}

// dumpKeys returns every key of prefix with its type, value and absolute
// expiry (PEXPIRETIME), one line each, sorted.
func dumpKeys(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	ctx := t.Context()
	var lines []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		var v any
		var err error
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		default:
			v = typ
		}
		if err != nil {
			t.Fatal(err)
		}
		at, err := rdb.Do(ctx, "PEXPIRETIME", k).Int64()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%q = %q, expires %d", strings.TrimPrefix(k, prefix), fmt.Sprint(v), at))
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

// TestRefreshExchangeRoundTrips: ExchangeRefreshToken is one round trip on
// a single server (one script that follows the index) and GetRefreshToken's
// and RotateRefreshToken's steps on the Cluster's path, and both paths
// answer every case alike and leave the very same keys, values and
// expiries. The Cluster's path builds the successor with
// store.RefreshExchange.Successor and encodeRefresh, so the equal values
// check that the script's spliced JSON is encodeRefresh's byte for byte;
// the grant's strings need escaping, the generation is past 2^53 (where a
// double would round it), and the times are off whole microseconds and
// milliseconds. The families are TestRefreshReadRoundTrips's odd ones.
func TestRefreshExchangeRoundTrips(t *testing.T) {
	families := []string{"fam", "", "a}b", "{x}", "}{", "{", "}", "%s%d.*?[", "nul\x00byte", "\xff\xfe", "ünï-🔑", "x}:family"}
	opt := dbtest.RedisOptions(t)
	now := time.Now().Truncate(time.Microsecond)
	exp := now.Add(2 * time.Hour)
	start := now.Add(-2 * time.Hour)
	const gen = 1<<60 + 3

	type result struct {
		readResult
		trips int64
	}
	run := func(t *testing.T, oneServer bool) (results []result, keys []string) {
		ctx := t.Context()
		var n atomic.Int64
		rdb := newClient(t, opt)
		rdb.AddHook(countHook{&n})
		prefix := dbtest.RedisPrefix(t)
		s := newStore(t, rdb, prefix)
		s.oneServer = oneServer
		for _, sc := range []*redis.Script{exchangeRefreshByIndexScript, getRefreshScript, rotateRefreshScript, claimIndexScript, deleteIfEqualScript} {
			if err := sc.Load(ctx, rdb).Err(); err != nil {
				t.Fatal(err)
			}
		}
		token := func(hash, fam string) *store.RefreshToken {
			return &store.RefreshToken{Hash: hash, FamilyID: fam, FamilyIssuedAt: start, Grant: store.Grant{
				Kind: "account", Subject: "s\"\\<>&\u2028\x00\ufffd/é", ClientID: "client-1", AccountID: "acct\t1",
				Scopes: []string{"read", "wr\"ite"}, Audience: []string{"old"}, Generation: gen,
				IssuedAt: now.Add(-time.Hour), ExpiresAt: exp,
			}}
		}
		exchange := func(hash, next string, at time.Time) *store.RefreshExchange {
			return &store.RefreshExchange{
				Hash: hash, Next: next, Now: at, Kind: "account", ClientID: "client-1", Generation: gen,
				Scopes: []string{"x", "wr\"ite", "read"}, Audience: []string{"new<aud>", "é"},
				ExpiresAt: at.Add(24*time.Hour + 1500*time.Nanosecond),
			}
		}
		// call makes one exchange, which should answer want in one round
		// trip on one server and in cluster on the Cluster's path.
		call := func(what string, x *store.RefreshExchange, want error, cluster int64) {
			t.Helper()
			n.Store(0)
			r := result{readResult: readResult{call: fmt.Sprintf("%s: %q → %q at %v", what, x.Hash, x.Next, x.Now.Sub(now))}}
			tok, err := s.ExchangeRefreshToken(ctx, x)
			if tok != nil {
				r.tok = *tok
			}
			if err != nil {
				r.err = err.Error()
			}
			if !errors.Is(err, want) || (want == nil) != (tok != nil) {
				t.Errorf("%s: %+v, %v; want %v", r.call, tok, err, want)
			}
			r.trips = n.Load()
			if want := map[bool]int64{true: 1, false: cluster}[oneServer]; r.trips != want {
				t.Errorf("%s: %d round trips, want %d", r.call, r.trips, want)
			}
			results = append(results, r)
		}
		for i, fam := range families {
			h := func(s string) string { return fmt.Sprintf("%s%d", s, i) }
			create := func(r *store.RefreshToken) {
				t.Helper()
				if err := s.CreateRefreshToken(ctx, r); err != nil {
					t.Fatalf("family %q: create %s: %v", fam, r.Hash, err)
				}
			}
			for _, tok := range []string{"ok", "cut", "ends", "kind", "client", "gen", "scope", "used", "taken", "late", "gone", "rev"} {
				create(token(h(tok), fam))
			}
			legacy := token(h("legacy"), fam)
			legacy.FamilyIssuedAt = time.Time{}
			create(legacy)
			other := token(h("other"), fam+"-other")
			create(other)

			// Exchanged, and its successor (the script's JSON) in turn.
			call("ok", exchange(h("ok"), h("ok-next"), now.Add(700*time.Nanosecond)), nil, 4)
			call("ok again", exchange(h("ok"), h("ok-next"), now.Add(time.Second)), store.ErrNotFound, 2)
			// The very same exchange (a re-sent script) answers as the
			// first did; another successor at that instant does not.
			call("ok resent", exchange(h("ok"), h("ok-next"), now.Add(700*time.Nanosecond)), nil, 2)
			call("ok to another at once", exchange(h("ok"), h("ok-other"), now.Add(700*time.Nanosecond)), store.ErrNotFound, 2)
			call("ok to another", exchange(h("ok"), h("ok-other"), now.Add(time.Second)), store.ErrNotFound, 2)
			call("successor", exchange(h("ok-next"), h("ok-next-next"), now.Add(time.Minute)), nil, 4)

			// The family lifetime cuts the successor's expiry, off whole
			// microseconds and milliseconds.
			x := exchange(h("cut"), h("cut-next"), now.Add(300*time.Nanosecond))
			x.MaxFamilyLifetime = 3*time.Hour + 1500*time.Nanosecond
			call("cut", x, nil, 4)
			x = exchange(h("cut-next"), h("cut-next-next"), now.Add(time.Minute))
			x.MaxFamilyLifetime = 3*time.Hour + 999_999*time.Nanosecond
			call("cut successor", x, nil, 4)
			// The family ends at exactly start+lifetime.
			x = exchange(h("ends"), h("ends-next"), now)
			x.MaxFamilyLifetime = 2 * time.Hour
			call("the family ends", x, store.ErrNotFound, 2)
			x.Now = now.Add(-time.Nanosecond)
			call("a nanosecond before the family ends", x, nil, 4)
			x = exchange(h("legacy"), h("legacy-next"), now)
			x.MaxFamilyLifetime = time.Hour
			call("the legacy family ends", x, store.ErrNotFound, 2)
			x.MaxFamilyLifetime = time.Hour + time.Microsecond
			call("legacy", x, nil, 4)

			x = exchange(h("kind"), h("kind-next"), now)
			x.Kind = "Account"
			call("kind", x, store.ErrNotFound, 2)
			x = exchange(h("client"), h("client-next"), now)
			x.ClientID = "client-1\x00"
			call("client", x, store.ErrNotFound, 2)
			x = exchange(h("gen"), h("gen-next"), now)
			x.Generation = gen + 1
			call("generation", x, store.ErrNotFound, 2)
			x.Generation = gen - 1
			call("generation", x, store.ErrNotFound, 2)
			x = exchange(h("scope"), h("scope-next"), now)
			x.Scopes = []string{"read", "wr\\\"ite"}
			call("scope", x, store.ErrNotFound, 2)
			x.Scopes = nil
			call("no scope", x, store.ErrNotFound, 2)

			if _, err := s.ConsumeRefreshToken(ctx, h("used"), now); err != nil {
				t.Fatal(err)
			}
			call("used", exchange(h("used"), h("used-next"), now), store.ErrNotFound, 2)

			call("taken by another family", exchange(h("taken"), h("other"), now), store.ErrAlreadyExists, 3)
			call("taken by the family", exchange(h("taken"), h("ok"), now), store.ErrAlreadyExists, 5)
			call("taken, used", exchange(h("used"), h("other"), now), store.ErrNotFound, 2)

			call("expired", exchange(h("late"), h("late-next"), exp), store.ErrNotFound, 2)
			call("a microsecond before expiry", exchange(h("late"), h("late-next"), exp.Add(-time.Microsecond)), nil, 4)

			call("no index", exchange(h("nope"), h("nope-next"), now), store.ErrNotFound, 1)
			if err := rdb.Del(ctx, s.refreshTokenKey(fam, h("gone"))).Err(); err != nil {
				t.Fatal(err)
			}
			call("no token", exchange(h("gone"), h("gone-next"), now), store.ErrNotFound, 2)
		}
		for i, fam := range families {
			if err := s.RevokeRefreshFamily(ctx, fam); err != nil {
				t.Fatal(err)
			}
			call("revoked", exchange(fmt.Sprintf("rev%d", i), fmt.Sprintf("rev-next%d", i), now), store.ErrNotFound, 2)
		}
		return results, dumpKeys(t, rdb, prefix)
	}

	var one, two []result
	var oneKeys, twoKeys []string
	t.Run("one server", func(t *testing.T) { one, oneKeys = run(t, true) })
	t.Run("cluster path", func(t *testing.T) { two, twoKeys = run(t, false) })
	samePaths(t, one, two, oneKeys, twoKeys, func(a, b result) bool { return reflect.DeepEqual(a.readResult, b.readResult) })
}
