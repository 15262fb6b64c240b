package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/storetest"
)

// newClient opens a client of its own, closed when t ends.
func newClient(t testing.TB, opt *redis.Options) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// newStore builds a store on rdb under prefix, which should come from
// dbtest.RedisPrefix: that deletes the prefix's keys when t ends.
func newStore(t testing.TB, rdb redis.UniversalClient, prefix string) *Store {
	t.Helper()
	s, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fresh is the common case: a client and a store with a fresh prefix.
func fresh(t testing.TB) (*Store, *redis.Client) {
	t.Helper()
	rdb, prefix := dbtest.Redis(t)
	return newStore(t, rdb, prefix), rdb
}

// A deployment opens stores on clients of one kind: a redis.Client on one
// server, or a redis.ClusterClient on a Redis Cluster.
type deployment struct {
	name string
	// open returns a func that opens a new client, closed when t ends,
	// and one that makes a fresh prefix, whose keys go when t ends.
	open func(t *testing.T) (client func() redis.UniversalClient, prefix func() string)
}

var deployments = []deployment{
	{"redis", func(t *testing.T) (func() redis.UniversalClient, func() string) {
		opt := dbtest.RedisOptions(t)
		return func() redis.UniversalClient { return newClient(t, opt) },
			func() string { return dbtest.RedisPrefix(t) }
	}},
	// PORTCULLIS_TEST_REDIS_CLUSTER; .ci/redis-cluster starts one.
	{"redis-cluster", func(t *testing.T) (func() redis.UniversalClient, func() string) {
		opt := dbtest.RedisClusterOptions(t)
		return func() redis.UniversalClient {
				c := redis.NewClusterClient(opt)
				t.Cleanup(func() { _ = c.Close() })
				return c
			},
			func() string { return dbtest.RedisClusterPrefix(t) }
	}},
}

// forEachDeployment runs f as a subtest per deployment.
func forEachDeployment(t *testing.T, f func(t *testing.T, client func() redis.UniversalClient, prefix func() string)) {
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			client, prefix := d.open(t)
			f(t, client, prefix)
		})
	}
}

func TestStore(t *testing.T) {
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				client, prefix := d.open(t)
				return newStore(t, client(), prefix())
			})
		})
	}
	// What a Cluster client runs, where a script may not reach a new
	// refresh token's index or the change log (other slots), on one
	// server.
	t.Run("cluster path", func(t *testing.T) {
		opt := dbtest.RedisOptions(t)
		clusterPath := func(t *testing.T) store.Store {
			s := newStore(t, newClient(t, opt), dbtest.RedisPrefix(t))
			s.oneServer = false
			return s
		}
		storetest.RunRefreshTokens(t, clusterPath)
		// The exchange reads, checks in Go and rotates.
		storetest.RunRefreshExchanger(t, clusterPath)
		// Changes are appended by a second script.
		storetest.RunChangeLog(t, clusterPath)
		// CountMany pipelines GETs there instead of one MGET.
		storetest.RunRateLimiter(t, clusterPath)
		storetest.RunRateCounter(t, clusterPath)
	})
}

func TestNew(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	s, err := New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	if s.Prefix() != DefaultPrefix || s.skew != DefaultClockSkew || s.channel != DefaultPrefix+"events" {
		t.Errorf("defaults: prefix %q, skew %v, channel %q", s.Prefix(), s.skew, s.channel)
	}
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		opts []Option
	}{
		{"nil client", nil, nil},
		{"open brace", rdb, []Option{WithPrefix("app{1:")}},
		{"close brace", rdb, []Option{WithPrefix("app}:")}},
		{"empty tag", rdb, []Option{WithPrefix("x{}")}},
		{"negative skew", rdb, []Option{WithClockSkew(-time.Second)}},
	} {
		if _, err := New(tc.rdb, tc.opts...); err == nil {
			t.Errorf("New with %s: no error", tc.name)
		}
	}
	if _, err := New(rdb, nil, WithPrefix(""), WithClockSkew(0)); err != nil {
		t.Errorf("New with a nil option, empty prefix and zero skew: %v", err)
	}

	// Which clients get the one-server steps (scripts that touch keys of
	// several slots, or keys they were not given): a plain client and
	// Sentinel's, and no other. None of these connects before a command.
	addr := []string{"127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		one  bool
	}{
		{"client", rdb, true},
		{"sentinel", redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: addr}), true},
		{"universal, one address", redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addr}), true},
		{"cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: addr}), false},
		{"universal, two addresses", redis.NewUniversalClient(&redis.UniversalOptions{Addrs: append(addr, "127.0.0.1:2")}), false},
		{"ring", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": addr[0]}}), false},
	} {
		s, err := New(tc.rdb)
		if err != nil {
			t.Fatal(err)
		}
		if s.oneServer != tc.one {
			t.Errorf("%s: oneServer = %v, want %v", tc.name, s.oneServer, tc.one)
		}
		if tc.rdb != rdb {
			tc.rdb.Close()
		}
	}
}

// slot computes the Redis Cluster hash slot of key (CRC16/XMODEM of the
// hash tag, or of the whole key), as the server does.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestSlotVector(t *testing.T) {
	// From the Redis Cluster specification: CRC16("123456789") = 0x31C3.
	if got := slot("123456789"); got != 0x31C3%16384 {
		t.Fatalf("slot(123456789) = %d, want %d", got, 0x31C3%16384)
	}
	if slot("{user1000}.following") != slot("{user1000}.followers") {
		t.Fatal("keys with one hash tag land in different slots")
	}
}

// TestSlots checks the layout on Redis Cluster, for odd ids too: the keys
// that one script touches share a hash slot, an owner's index shares its
// account's, clients, accounts and reservations spread over many slots, and
// no two kinds of key can ever be the same key.
func TestSlots(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	same := func(what string, keys ...string) {
		t.Helper()
		for _, k := range keys[1:] {
			if slot(k) != slot(keys[0]) {
				t.Errorf("%s: %q (slot %d) and %q (slot %d) differ", what, keys[0], slot(keys[0]), k, slot(k))
			}
		}
	}
	odd := []string{"", "plain", "a}b", "{x}", "}{", "{", "}", "ünï-🔑", "a:b:{c}", "x}:clients", "}:clients"}
	for _, prefix := range []string{DefaultPrefix, "", "pc:"} {
		s, err := New(rdb, WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{} // key → the kind and id that made it
		distinct := func(kind, id, key string) {
			t.Helper()
			if prev, ok := kinds[key]; ok && prev != kind+" "+id {
				t.Errorf("key %q is both %s and %s %q", key, prev, kind, id)
			}
			kinds[key] = kind + " " + id
		}
		for _, id := range odd {
			same("account and its owner index", s.accountKey(id), s.ownerKey(id))
			for _, other := range odd {
				same("refresh family", s.refreshTokenKey(id, other), s.familyKey(id), s.refreshTokenKey(id, "h"+other))
			}
			distinct("client", id, s.clientKey(id))
			distinct("account", id, s.accountKey(id))
			distinct("owner index", id, s.ownerKey(id))
			distinct("username", id, s.usernameKey(id))
			distinct("email", id, s.emailKey(id))
			distinct("family", id, s.familyKey(id))
			distinct("refresh index", id, s.refreshIndexKey(id))
			distinct("access", id, s.accessKey(id))
			distinct("revoked", id, s.revokedKey(id))
		}
		same("signing keys", s.signingKeys()...)
		same("change log", s.changeLogKey(), s.changeSeqKey(), s.changeTrimmedKey(), s.changeReqKey("0123abcd"))
		for _, k := range []string{s.changeLogKey(), s.changeSeqKey(), s.changeTrimmedKey(), s.changeReqKey("0123abcd")} {
			distinct("change log", k, k)
		}
		for _, k := range append(s.signingKeys(), s.accountKey("a"), s.familyKey("f"), s.clientKey("c"), s.ownerKey("o"),
			s.usernameKey("u"), s.emailKey("e"), s.accessKey("h"), s.revokedKey("j"), s.refreshIndexKey("h")) {
			if !strings.HasPrefix(k, prefix) {
				t.Errorf("key %q does not start with the prefix %q", k, prefix)
			}
		}

		// Spread: 1,000 ids of one shape land in many slots. (A shared
		// hash tag would put them all in one.)
		for what, key := range map[string]func(string) string{
			"clients": s.clientKey, "accounts": s.accountKey, "owner indexes": s.ownerKey,
			"usernames": s.usernameKey, "emails": s.emailKey,
		} {
			slots := map[int]bool{}
			for i := range 1000 {
				slots[slot(key(fmt.Sprintf("id-%d", i)))] = true
			}
			if len(slots) < 900 {
				t.Errorf("%s: 1,000 ids in only %d slots", what, len(slots))
			}
		}
	}
}

func refreshToken(hash, family string, exp time.Time) *store.RefreshToken {
	return &store.RefreshToken{Hash: hash, FamilyID: family, Grant: store.Grant{
		Kind: "account", Subject: "acct-1", Scopes: []string{"read"}, IssuedAt: exp.Add(-time.Hour), ExpiresAt: exp,
	}}
}

// pttl returns key's remaining TTL: -1ns for none, -2ns for a missing key
// (go-redis passes the server's -1 and -2 through as durations).
func pttl(t *testing.T, rdb *redis.Client, key string) time.Duration {
	t.Helper()
	d, err := rdb.PTTL(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	return d
}

// TestTTLs checks that every token and revocation key carries a TTL, that a
// consumed token keeps its own, and that family markers outlive their tokens.
func TestTTLs(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	now := time.Now()
	hour, day := now.Add(time.Hour), now.Add(24*time.Hour)

	rt := refreshToken("h1", "fam", hour)
	if err := s.CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	at := &store.AccessToken{Hash: "a1", ID: "jti-a1", Grant: store.Grant{ExpiresAt: hour}}
	if err := s.CreateAccessToken(ctx, at); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "jti-1", hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Hit(ctx, "client:x", time.Minute, now); err != nil {
		t.Fatal(err)
	}
	rkey, _, _ := s.window("client:x", time.Minute, now)
	for _, k := range []string{
		s.refreshIndexKey("h1"), s.refreshTokenKey("fam", "h1"), s.familyKey("fam"),
		s.accessKey("a1"), s.revokedKey("jti-1"), rkey,
	} {
		if d := pttl(t, rdb, k); d <= 0 {
			t.Errorf("PTTL %s = %v, want > 0", k, d)
		}
	}
	// The margin: a key lives past the expiry it records.
	if d := pttl(t, rdb, s.revokedKey("jti-1")); d <= time.Until(hour) {
		t.Errorf("revocation PTTL %v does not reach past the token's expiry (%v away)", d, time.Until(hour))
	}

	// Consuming keeps the token, used, with its TTL: reuse is detected.
	before := pttl(t, rdb, s.refreshTokenKey("fam", "h1"))
	if _, err := s.ConsumeRefreshToken(ctx, "h1", now); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, rdb, s.refreshTokenKey("fam", "h1")); d <= 0 || d > before {
		t.Errorf("PTTL after consume = %v, want in (0, %v]", d, before)
	}
	if _, err := s.ConsumeRefreshToken(ctx, "h1", now); !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("second consume: %v, want ErrTokenReused", err)
	}

	// A longer-lived sibling extends the family marker; revoking keeps it.
	if err := s.CreateRefreshToken(ctx, refreshToken("h2", "fam", day)); err != nil {
		t.Fatal(err)
	}
	if f, tok := pttl(t, rdb, s.familyKey("fam")), pttl(t, rdb, s.refreshTokenKey("fam", "h2")); f < tok {
		t.Errorf("family marker PTTL %v is shorter than its token's %v", f, tok)
	}
	// A shorter-lived one does not shorten it.
	if err := s.CreateRefreshToken(ctx, refreshToken("h3", "fam", hour)); err != nil {
		t.Fatal(err)
	}
	if f, tok := pttl(t, rdb, s.familyKey("fam")), pttl(t, rdb, s.refreshTokenKey("fam", "h2")); f < tok {
		t.Errorf("family marker PTTL %v fell below its longest token's %v", f, tok)
	}
	if err := s.RevokeRefreshFamily(ctx, "fam"); err != nil {
		t.Fatal(err)
	}
	if f, tok := pttl(t, rdb, s.familyKey("fam")), pttl(t, rdb, s.refreshTokenKey("fam", "h2")); f < tok {
		t.Errorf("revoked family marker PTTL %v is shorter than its token's %v", f, tok)
	}
	if _, err := s.GetRefreshToken(ctx, "h2", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of a revoked family: %v, want ErrNotFound", err)
	}
}

// TestRevokedFamilyOutlivesPastTokens: a family revoked before it had
// tokens keeps its marker, even when a token that has already expired (by
// the server's clock) is then created in it; a live token created after is
// still refused.
func TestRevokedFamilyOutlivesPastTokens(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	now := time.Now()
	if err := s.RevokeRefreshFamily(ctx, "fam"); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, rdb, s.familyKey("fam")); d != -1 {
		t.Errorf("marker of a family revoked without tokens: PTTL %v, want none (-1)", d)
	}
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateRefreshToken(ctx, refreshToken("old", "fam", past)); err != nil {
		t.Fatalf("create an expired token: %v", err)
	}
	if _, err := s.GetRefreshToken(ctx, "old", past.Add(-time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token expired by the server clock: %v, want ErrNotFound", err)
	}
	if err := s.CreateRefreshToken(ctx, refreshToken("new", "fam", now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeRefreshToken(ctx, "new", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consume in a family revoked before it existed: %v, want ErrNotFound", err)
	}
	if v, err := rdb.Get(ctx, s.familyKey("fam")).Result(); err != nil || v != "1" {
		t.Errorf("family marker = %q, %v; want \"1\"", v, err)
	}
}

// recv waits for the next event, failing t if none comes: a liveness bound,
// not a timing assertion.
func recv(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(storetest.WatchTimeout):
		t.Fatalf("no event within %v", storetest.WatchTimeout)
	}
	return store.Event{}
}

func watch(t *testing.T, s *Store) <-chan store.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ch := make(chan store.Event, 64)
	if err := s.Watch(ctx, func(e store.Event) { ch <- e }); err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestWatchReplicas: two Stores with one prefix (two replicas, each with its
// own client) both hear every change; a Store with another prefix on the
// same server hears none; a rejected change is not announced.
func TestWatchReplicas(t *testing.T) {
	forEachDeployment(t, testWatchReplicas)
}

func testWatchReplicas(t *testing.T, client func() redis.UniversalClient, newPrefix func() string) {
	prefix := newPrefix()
	a := newStore(t, client(), prefix)
	b := newStore(t, client(), prefix)
	other := newStore(t, client(), newPrefix())
	chA, chB, chOther := watch(t, a), watch(t, b), watch(t, other)
	ctx := t.Context()

	c := &store.Client{ID: "client-1", Generation: 1}
	if err := a.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	rot := *c
	rot.Generation = 2
	if err := a.UpdateClient(ctx, &rot, 1); err != nil {
		t.Fatal(err)
	}
	// Rejected: a lost compare-and-swap, a missing client, a revocation
	// that shortens nothing. None may be announced.
	if err := b.UpdateClient(ctx, &rot, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale UpdateClient: %v", err)
	}
	if err := b.DeleteClient(ctx, "client-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteClient of a missing client: %v", err)
	}
	exp := time.Now().Add(time.Hour)
	if err := b.Revoke(ctx, "jti-1", exp); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, "jti-1", exp.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := other.Revoke(ctx, "jti-other", exp); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteClient(ctx, "client-1"); err != nil {
		t.Fatal(err)
	}

	want := []store.Event{
		{Kind: store.EventClientChanged, ID: "client-1", Generation: 2},
		{Kind: store.EventRevoked, ID: "jti-1"},
		{Kind: store.EventClientChanged, ID: "client-1", Generation: -1},
	}
	// One server delivers one channel's messages in publish order, so each
	// replica sees exactly this sequence, with nothing in between.
	for name, ch := range map[string]<-chan store.Event{"a": chA, "b": chB} {
		for i, w := range want {
			if got := recv(t, ch); got != w {
				t.Errorf("replica %s, event %d: got %+v, want %+v", name, i, got, w)
			}
		}
	}
	// The other prefix's first event is its own: it heard none of ours.
	if got, w := recv(t, chOther), (store.Event{Kind: store.EventRevoked, ID: "jti-other"}); got != w {
		t.Errorf("other prefix: got %+v, want %+v", got, w)
	}
}

// pubsubClientID finds the server-side id of the pub/sub connection whose
// client name is name, or 0.
func pubsubClientID(t *testing.T, admin *redis.Client, name string) int64 {
	t.Helper()
	list, err := admin.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " sub=1 ") {
			continue
		}
		var id int64
		if _, err := fmt.Sscanf(line, "id=%d ", &id); err == nil {
			return id
		}
	}
	return 0
}

// TestWatchReconnect kills the watcher's connection on the server and checks
// that events flow again (go-redis re-subscribes), then that cancelling the
// context ends the subscription.
func TestWatchReconnect(t *testing.T) {
	opt := dbtest.RedisOptions(t)
	name := "pctest-watch-" + rand.Text()
	wopt := *opt
	wopt.ClientName = name
	admin := newClient(t, opt)
	prefix := dbtest.RedisPrefix(t)
	watcher := newStore(t, newClient(t, &wopt), prefix)
	writer := newStore(t, admin, prefix)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := make(chan store.Event, 64)
	if err := watcher.Watch(ctx, func(e store.Event) { ch <- e }); err != nil {
		t.Fatal(err)
	}
	id := pubsubClientID(t, admin, name)
	if id == 0 {
		t.Fatal("the watcher's subscription is not in CLIENT LIST")
	}
	if err := admin.ClientKillByFilter(t.Context(), "ID", fmt.Sprint(id)).Err(); err != nil {
		t.Fatal(err)
	}
	// Publish until one arrives: events sent before the re-subscription are
	// lost, as pub/sub stores nothing.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no event after the connection was killed: no re-subscription")
		}
		jti := fmt.Sprintf("jti-%d", i)
		if err := writer.Revoke(t.Context(), jti, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-ch:
			if e.Kind != store.EventRevoked || !strings.HasPrefix(e.ID, "jti-") {
				t.Fatalf("unexpected event %+v", e)
			}
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	if newID := pubsubClientID(t, admin, name); newID == 0 || newID == id {
		t.Errorf("subscription after reconnect: id %d (killed %d)", newID, id)
	}

	cancel()
	for pubsubClientID(t, admin, name) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived its context")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// everyCall calls every method of s once and returns their errors by name.
func everyCall(s *Store) map[string]error {
	ctx := context.Background()
	now := time.Now()
	errs := map[string]error{}
	errs["Ping"] = s.Ping(ctx)
	errs["CreateClient"] = s.CreateClient(ctx, &store.Client{ID: "c"})
	_, errs["GetClient"] = s.GetClient(ctx, "c")
	errs["UpdateClient"] = s.UpdateClient(ctx, &store.Client{ID: "c"}, 0)
	errs["DeleteClient"] = s.DeleteClient(ctx, "c")
	_, errs["ListClientsByOwner"] = s.ListClientsByOwner(ctx, "o", 10)
	errs["CreateAccount"] = s.CreateAccount(ctx, &store.Account{ID: "a", Username: "u"})
	_, errs["GetAccount"] = s.GetAccount(ctx, "a")
	_, errs["FindAccount"] = s.FindAccount(ctx, "u")
	errs["UpdateAccount"] = s.UpdateAccount(ctx, &store.Account{ID: "a"}, 0)
	errs["DeleteAccount"] = s.DeleteAccount(ctx, "a")
	errs["CreateRefreshToken"] = s.CreateRefreshToken(ctx, refreshToken("h", "f", now.Add(time.Hour)))
	_, errs["GetRefreshToken"] = s.GetRefreshToken(ctx, "h", now)
	_, errs["ConsumeRefreshToken"] = s.ConsumeRefreshToken(ctx, "h", now)
	_, errs["ExchangeRefreshToken"] = s.ExchangeRefreshToken(ctx, &store.RefreshExchange{Hash: "h", Next: "n", Now: now, ExpiresAt: now.Add(time.Hour)})
	errs["RevokeRefreshFamily"] = s.RevokeRefreshFamily(ctx, "f")
	errs["CreateAccessToken"] = s.CreateAccessToken(ctx, &store.AccessToken{Hash: "h"})
	_, errs["GetAccessToken"] = s.GetAccessToken(ctx, "h", now)
	errs["DeleteAccessToken"] = s.DeleteAccessToken(ctx, "h")
	errs["Revoke"] = s.Revoke(ctx, "j", now.Add(time.Hour))
	_, errs["IsRevoked"] = s.IsRevoked(ctx, "j", now)
	errs["CreateKey"] = s.CreateKey(ctx, &store.SigningKey{ID: "k", Seq: 1})
	_, errs["ListKeys"] = s.ListKeys(ctx)
	errs["UpdateKeyExpiry"] = s.UpdateKeyExpiry(ctx, "k", now)
	errs["DeleteKey"] = s.DeleteKey(ctx, "k")
	_, errs["Sweep"] = s.Sweep(ctx, now)
	_, _, errs["Hit"] = s.Hit(ctx, "k", time.Minute, now)
	_, _, errs["Count"] = s.Count(ctx, "k", time.Minute, now)
	errs["Watch"] = s.Watch(ctx, func(store.Event) {})
	return errs
}

// checkAllFail wants every call to fail with a plain error: not a sentinel,
// which would tell a caller "no such record" while the store is down.
func checkAllFail(t *testing.T, s *Store) {
	t.Helper()
	for name, err := range everyCall(s) {
		switch {
		case err == nil:
			t.Errorf("%s: no error", name)
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyExists),
			errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrTokenReused):
			t.Errorf("%s: %v: a sentinel for a dead connection", name, err)
		}
	}
}

func TestClosedClient(t *testing.T) {
	opt := dbtest.RedisOptions(t)
	rdb := redis.NewClient(opt)
	s := newStore(t, newClient(t, opt), dbtest.RedisPrefix(t)) // for cleanup of anything written
	closed, err := New(rdb, WithPrefix(s.Prefix()))
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Close(); err != nil {
		t.Fatal(err)
	}
	checkAllFail(t, closed)
}

func TestUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens, the dial is refused at once.
	rdb := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond,
	})
	defer rdb.Close()
	s, err := New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	checkAllFail(t, s)
}

// TestExactTimes: times round-trip to the microsecond, in UTC, and the zero
// time stays zero.
func TestExactTimes(t *testing.T) {
	s, _ := fresh(t)
	ctx := t.Context()
	loc := time.FixedZone("X", 5*3600+30*60)
	created := time.Date(2031, 2, 3, 4, 5, 6, 789_123_456, loc)
	c := &store.Client{ID: "c", CreatedAt: created}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetClient(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if want := created.Truncate(time.Microsecond).UTC(); got.CreatedAt != want {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
	}
	if got.UpdatedAt != (time.Time{}) {
		t.Errorf("zero UpdatedAt came back as %v", got.UpdatedAt)
	}
	if got.Scopes != nil || got.Metadata != nil || got.SecretHash != nil {
		t.Errorf("nil fields came back non-nil: %#v", got)
	}
}

// TestOwnerIndexKeys: the owner indexes hold exactly the owned clients,
// whatever moved or went, so nothing is left for a sweep; an empty index is
// no key at all.
func TestOwnerIndexKeys(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, owner := range []string{"acct-a", "acct-a", "acct-b", ""} {
		c := &store.Client{ID: fmt.Sprintf("c%d", i), OwnerAccount: owner, Generation: 1, CreatedAt: t0}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// c0 moves to acct-b with a new CreatedAt, c1 is deleted, c2 loses its
	// owner, c3 gains one.
	moves := []*store.Client{
		{ID: "c0", OwnerAccount: "acct-b", Generation: 2, CreatedAt: t0.Add(time.Hour)},
		{ID: "c2", Generation: 2, CreatedAt: t0},
		{ID: "c3", OwnerAccount: "acct-c", Generation: 2, CreatedAt: t0},
	}
	for _, c := range moves {
		if err := s.UpdateClient(ctx, c, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteClient(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	indexes, err := rdb.Keys(ctx, globEscape(s.prefix)+"{account:*}:clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		s.ownerKey("acct-b"): {currentMember(t, s, rdb, "c0")},
		s.ownerKey("acct-c"): {currentMember(t, s, rdb, "c3")},
	}
	if len(indexes) != len(want) {
		t.Errorf("owner index keys %q, want those of acct-b and acct-c only", indexes)
	}
	for k, members := range want {
		got, err := rdb.ZRange(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", members) {
			t.Errorf("%s holds %q, want %q", k, got, members)
		}
	}
}

// currentMember is the owner index member that client id's record names.
func currentMember(t *testing.T, s *Store, rdb *redis.Client, id string) string {
	t.Helper()
	m, err := rdb.HGet(t.Context(), s.clientKey(id), "m").Result()
	if err != nil || m == "" {
		t.Fatalf("client %q names no member: %q, %v", id, m, err)
	}
	return m
}

// TestOwnerMemberOrder: members sort bytewise as (CreatedAt, ID) for any
// instant, before 1970 and beyond 2^53 µs included, and for ids that extend
// one another by a NUL, whatever states follow; and they parse back.
func TestOwnerMemberOrder(t *testing.T) {
	times := []time.Time{
		{}, // the zero time: year 1
		time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1000),
		time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		time.UnixMicro(1<<53 + 1),
		time.UnixMicro(1<<53 + 2),
	}
	ids := []string{"", "\x00", "\x00\x00", "\x00\xff", "\x01", "A", "a", "a\x00", "a\x00\x00", "a\x00b", "a\x01", "a\xff", "b", "\xff"}
	lo, hi := strings.Repeat("0", stateLen), strings.Repeat("f", stateLen)
	var prev string // the greatest member of the previous (CreatedAt, ID)
	for i, at := range times {
		for _, id := range ids {
			// The states never decide the order between two ids: the
			// greatest member of one sorts before the least of the next.
			key := sortKey(&store.Client{ID: id, CreatedAt: at})
			least, greatest := ownerMember(key, lo, lo), ownerMember(key, hi, hi)
			if prev != "" && least <= prev {
				t.Errorf("time %d, id %q: member %q sorts at or before %q", i, id, least, prev)
			}
			prev = greatest
			st := newState()
			got, state, req, ok := parseMember(ownerMember(key, st, hi))
			if !ok || got != id || state != st || req != hi {
				t.Errorf("parseMember(ownerMember(%q)) = %q, %q, %q, %v", id, got, state, req, ok)
			}
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("0", 16) + "a\x00" + strings.Repeat("0", 31), strings.Repeat("0", 16) + "a\x00\x01" + strings.Repeat("0", 32) + "\x00" + strings.Repeat("0", 32)} {
		if _, _, _, ok := parseMember(bad); ok {
			t.Errorf("parseMember(%q) accepted a malformed member", bad)
		}
	}
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, _ := fresh(b)
	return s
}

func BenchmarkGetClient(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	c := &store.Client{
		ID: "client-1", SecretHash: make([]byte, 32), Name: "bench", Scopes: []string{"read", "write"},
		Generation: 3, CreatedAt: time.Now(), UpdatedAt: time.Now(), Metadata: map[string]string{"team": "a"},
	}
	if err := s.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetClient(ctx, "client-1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsumeRefreshToken(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	hashes := make([]string, b.N)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("%064x", i)
		if err := s.CreateRefreshToken(ctx, refreshToken(hashes[i], fmt.Sprintf("fam-%d", i), now.Add(time.Hour))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.ConsumeRefreshToken(ctx, hashes[i], now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIsRevoked(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	if err := s.Revoke(ctx, "jti-revoked", now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	for _, id := range []string{"jti-revoked", "jti-live"} {
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.IsRevoked(ctx, id, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
