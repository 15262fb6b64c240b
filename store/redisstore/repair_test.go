package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
)

// The index and reservation entries that a write leaves behind when it dies
// between its steps are simulated here by writing them directly: these
// tests are about what readers do with them.

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func owned(id, owner string, after time.Duration) *store.Client {
	return &store.Client{ID: id, OwnerAccount: owner, Generation: 1, CreatedAt: t0.Add(after)}
}

func indexMembers(t *testing.T, rdb *redis.Client, key string) []string {
	t.Helper()
	ms, err := rdb.ZRange(t.Context(), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func listIDs(t *testing.T, s *Store, owner string, limit int) []string {
	t.Helper()
	cs, err := s.ListClientsByOwner(t.Context(), owner, limit)
	if err != nil {
		t.Fatalf("ListClientsByOwner(%q, %d): %v", owner, limit, err)
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func state(t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	w, err := rdb.HGet(t.Context(), key, "w").Result()
	if err != nil {
		t.Fatalf("state of %s: %v", key, err)
	}
	return w
}

// TestListRepair: entries whose client is gone, moved away, or was never
// written are neither listed nor kept; entries of writes still in flight
// are not listed and are kept until their record moves on; and a listing
// reads past any number of dead entries to fill its limit.
func TestListRepair(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	const owner = "acct-r"
	index := s.ownerKey(owner)
	live1, live2 := owned("live-1", owner, 10*time.Minute), owned("live-2", owner, 30*time.Minute)
	gone, moved := owned("gone", owner, 20*time.Minute), owned("moved", owner, 0)
	for _, c := range []*store.Client{live1, live2, gone, moved} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// A client deleted by hand: its entry stays behind, as after a
	// DeleteClient whose last step was lost.
	if err := rdb.Del(ctx, s.clientKey("gone")).Err(); err != nil {
		t.Fatal(err)
	}
	// A move whose removal of the old entry was lost.
	old := currentMember(t, s, rdb, "moved")
	away := *moved
	away.OwnerAccount, away.Generation = "acct-elsewhere", 2
	if err := s.UpdateClient(ctx, &away, 1); err != nil {
		t.Fatal(err)
	}
	// Creates that died after adding their entry: one whose stub expired
	// (no record), many before every live client.
	var dead []string
	for i := range 50 {
		c := owned(fmt.Sprintf("never-%02d", i), owner, -time.Hour)
		dead = append(dead, ownerMember(sortKey(c), newState(), newState()))
	}
	// In flight: a create whose stub is there, and a move towards owner
	// of a client whose record is still in the state the move read.
	stub := newState()
	if n, err := s.runInt(ctx, stubScript, []string{s.clientKey("creating")}, stub, pendingTTL.Milliseconds()); err != nil || n != 1 {
		t.Fatalf("stub: %d, %v", n, err)
	}
	creating := ownerMember(sortKey(owned("creating", owner, 15*time.Minute)), newState(), stub)
	other := owned("coming", "acct-elsewhere", 25*time.Minute)
	if err := s.CreateClient(ctx, other); err != nil {
		t.Fatal(err)
	}
	coming := ownerMember(sortKey(owned("coming", owner, 25*time.Minute)), newState(), state(t, rdb, s.clientKey("coming")))
	for _, m := range append(dead, old, creating, coming) {
		if err := rdb.ZAdd(ctx, index, redis.Z{Member: m}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// limit 1 must read past the 51 dead entries in front.
	if got := listIDs(t, s, owner, 1); !slices.Equal(got, []string{"live-1"}) {
		t.Errorf("limit 1: %q, want [live-1]", got)
	}
	if got := listIDs(t, s, owner, 10); !slices.Equal(got, []string{"live-1", "live-2"}) {
		t.Errorf("limit 10: %q, want [live-1 live-2]", got)
	}
	want := []string{currentMember(t, s, rdb, "live-1"), creating, coming, currentMember(t, s, rdb, "live-2")}
	if got := indexMembers(t, rdb, index); !slices.Equal(got, want) {
		t.Errorf("index after listing:\n%q\nwant the live and pending entries only:\n%q", got, want)
	}

	// Once their records move on, the pending entries are dead: the stub
	// expires (here: is deleted), the client is rotated.
	if err := rdb.Del(ctx, s.clientKey("creating")).Err(); err != nil {
		t.Fatal(err)
	}
	rotated := *other
	rotated.Generation = 2
	if err := s.UpdateClient(ctx, &rotated, 1); err != nil {
		t.Fatal(err)
	}
	if got := listIDs(t, s, owner, 10); !slices.Equal(got, []string{"live-1", "live-2"}) {
		t.Errorf("limit 10: %q, want [live-1 live-2]", got)
	}
	want = []string{currentMember(t, s, rdb, "live-1"), currentMember(t, s, rdb, "live-2")}
	if got := indexMembers(t, rdb, index); !slices.Equal(got, want) {
		t.Errorf("index after the pending writes died:\n%q\nwant\n%q", got, want)
	}
	if got := listIDs(t, s, "acct-elsewhere", 10); !slices.Equal(got, []string{"moved", "coming"}) {
		t.Errorf("acct-elsewhere: %q, want [moved coming]", got)
	}
}

// TestCreateStub: an owned create claims its id with a stub that reads as
// no client, blocks other creates of the id, and expires.
func TestCreateStub(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	key := s.clientKey("c")
	if n, err := s.runInt(ctx, stubScript, []string{key}, newState(), pendingTTL.Milliseconds()); err != nil || n != 1 {
		t.Fatalf("stub: %d, %v", n, err)
	}
	if d := pttl(t, rdb, key); d <= 0 || d > pendingTTL {
		t.Errorf("stub PTTL %v, want in (0, %v]", d, pendingTTL)
	}
	if _, err := s.GetClient(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient of a stub: %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient of a stub: %v, want ErrNotFound", err)
	}
	c := owned("c", "acct-1", 0)
	if err := s.UpdateClient(ctx, c, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient of a stub: %v, want ErrNotFound", err)
	}
	if err := s.CreateClient(ctx, c); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateClient over a stub: %v, want ErrAlreadyExists", err)
	}
	if err := rdb.Del(ctx, key).Err(); err != nil { // as if it expired
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if d := pttl(t, rdb, key); d != -1 {
		t.Errorf("created client PTTL %v, want none", d)
	}
	if got := listIDs(t, s, "acct-1", 10); !slices.Equal(got, []string{"c"}) {
		t.Errorf("listing: %q, want [c]", got)
	}
}

// TestUpdatesKeepEntries: an update that keeps the owner and CreatedAt (a
// rotation) leaves the owner index entry as it is, and one that keeps the
// username and email leaves their reservations: one round trip each.
func TestUpdatesKeepEntries(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	c := owned("c", "acct-1", 0)
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := currentMember(t, s, rdb, "c")
	rot := *c
	rot.Generation, rot.Name = 2, "rotated"
	if err := s.UpdateClient(ctx, &rot, 1); err != nil {
		t.Fatal(err)
	}
	if after := currentMember(t, s, rdb, "c"); after != before {
		t.Errorf("a rotation moved the entry: %q, then %q", before, after)
	}
	if got := indexMembers(t, rdb, s.ownerKey("acct-1")); !slices.Equal(got, []string{before}) {
		t.Errorf("index after a rotation: %q, want [%q]", got, before)
	}

	a := &store.Account{ID: "a", Username: "alice", Email: "alice@x", Generation: 1}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	res := func() []any {
		t.Helper()
		v, err := rdb.HMGet(ctx, s.accountKey("a"), "ru", "re").Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	was := res()
	upd := *a
	upd.Generation, upd.PasswordHash = 2, "new"
	if err := s.UpdateAccount(ctx, &upd, 1); err != nil {
		t.Fatal(err)
	}
	if now := res(); fmt.Sprint(now) != fmt.Sprint(was) {
		t.Errorf("a password change moved the reservations: %q, then %q", was, now)
	}
}

// TestResentScripts: a write script that runs twice (go-redis sends a
// command again when its reply is lost) answers success the second time,
// and changes nothing more.
func TestResentScripts(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	c := owned("c", "", 0)
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	j, _ := encodeClient(c)
	st := newState()
	for i := range 2 {
		n, _, err := s.runStatus(ctx, updateClientScript, s.logged(s.clientKey("c")), 1, 2, j, "", "", st, s.channel, "{}", "client 2 0 c")
		if err != nil || n != stOK {
			t.Fatalf("rotation, send %d: %d, %v", i+1, n, err)
		}
	}
	required, next := st, newState()
	for i, want := range []int{3, 1} { // {1, o, m} then {1}
		r, err := swapScript.Run(ctx, s.rdb, s.logged(s.clientKey("c")), 2, required, next, s.channel, "{}", "client 3 0 c", 2,
			"o", "acct-x", "m", "member", "g", 3, "j", j).Slice()
		if err != nil || len(r) != want || r[0] != int64(stOK) {
			t.Fatalf("swap, send %d: %v, %v", i+1, r, err)
		}
	}
	if g, _ := rdb.HGet(ctx, s.clientKey("c"), "g").Result(); g != "3" {
		t.Errorf("generation %q after the swap, want 3", g)
	}
	// Each write, sent twice, is logged once.
	if log, _, err := s.Changes(ctx, 0, 10); err != nil || len(log) != 2 || log[0].Generation != 2 || log[1].Generation != 3 {
		t.Errorf("change log after two writes sent twice each: %+v, %v; want generations 2 and 3", log, err)
	}
	for i := range 2 {
		n, err := s.runInt(ctx, createScript, []string{s.clientKey("d")}, "", st, "g", 1, "j", j, "o", "", "m", "")
		if err != nil || n != stOK {
			t.Fatalf("create, send %d: %d, %v", i+1, n, err)
		}
	}
	// A nonce: the same call's token is the same use; another call's is a
	// replay.
	now := time.Now()
	exp := now.Add(time.Minute)
	for i := range 2 {
		n, err := s.runInt(ctx, useNonceScript, []string{s.nonceKey("jti")}, exp.UnixMicro(), s.expireAtMS(exp), now.UnixMicro(), "call-1")
		if err != nil || n != 1 {
			t.Fatalf("nonce, send %d: %d, %v", i+1, n, err)
		}
	}
	if n, err := s.runInt(ctx, useNonceScript, []string{s.nonceKey("jti")}, exp.UnixMicro(), s.expireAtMS(exp), now.UnixMicro(), "call-2"); err != nil || n != 0 {
		t.Fatalf("nonce replayed by another call: %d, %v; want 0", n, err)
	}
}

// TestReservationRepair: a reservation whose account is gone, renamed away
// or was never written neither finds an account nor blocks the name; one
// of a create or rename in flight blocks the name but finds nothing; a
// rename in flight for longer than any live one is fenced.
func TestReservationRepair(t *testing.T) {
	s, rdb := fresh(t)
	ctx := t.Context()
	create := func(id, u, e string) *store.Account {
		t.Helper()
		a := &store.Account{ID: id, Username: u, Email: e, Generation: 1}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatalf("CreateAccount(%q): %v", id, err)
		}
		return a
	}
	find := func(login, wantID string) {
		t.Helper()
		a, err := s.FindAccount(ctx, login)
		switch {
		case wantID == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("FindAccount(%q): %v, %v; want ErrNotFound", login, a, err)
		case wantID != "" && (err != nil || a.ID != wantID):
			t.Errorf("FindAccount(%q): %v, %v; want %q", login, a, err, wantID)
		}
	}
	exists := func(key string) bool {
		t.Helper()
		n, err := rdb.Exists(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	// Gone: the record deleted by hand, as after a DeleteAccount whose
	// releases were lost. A lookup deletes the reservation it meets; a
	// create takes over the other.
	create("acct-alice", "alice", "alice@x")
	if err := rdb.Del(ctx, s.accountKey("acct-alice")).Err(); err != nil {
		t.Fatal(err)
	}
	find("alice", "")
	if exists(s.usernameKey("alice")) {
		t.Error("FindAccount left the reservation of a deleted account")
	}
	create("acct-bob", "bob", "alice@x")
	find("alice@x", "acct-bob")

	// Renamed away, the release lost.
	carol := create("acct-carol", "carol", "")
	old, _ := rdb.Get(ctx, s.usernameKey("carol")).Result()
	renamed := *carol
	renamed.Username, renamed.Generation = "carol2", 2
	if err := s.UpdateAccount(ctx, &renamed, 1); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, s.usernameKey("carol"), old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	find("carol", "")
	find("carol2", "acct-carol")
	if err := rdb.Set(ctx, s.usernameKey("carol"), old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	create("acct-carol-2", "carol", "")
	find("carol", "acct-carol-2")

	// Never written: a create that died after reserving, its stub expired.
	never := reservation{state: newState(), required: newState(), at: time.Now().UnixMilli(), id: "acct-never"}
	if err := rdb.Set(ctx, s.usernameKey("dave"), never.String(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	find("dave", "")
	create("acct-dave", "dave", "")

	// A create in flight: its stub is there.
	stub := newState()
	if n, err := s.runInt(ctx, stubScript, []string{s.accountKey("acct-erin")}, stub, pendingTTL.Milliseconds()); err != nil || n != 1 {
		t.Fatalf("stub: %d, %v", n, err)
	}
	flight := reservation{state: newState(), required: stub, at: time.Now().Add(-time.Hour).UnixMilli(), id: "acct-erin"}
	if err := rdb.Set(ctx, s.emailKey("erin@x"), flight.String(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	find("erin@x", "")
	if err := s.CreateAccount(ctx, &store.Account{ID: "acct-other", Email: "erin@x"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateAccount with the email of a create in flight: %v, want ErrAlreadyExists", err)
	}
	if !exists(s.emailKey("erin@x")) {
		t.Error("the reservation of a create in flight was deleted")
	}
	if err := rdb.Del(ctx, s.accountKey("acct-erin")).Err(); err != nil { // the stub expires
		t.Fatal(err)
	}
	create("acct-other", "", "erin@x")

	// A rename in flight: the account is still in the state it read.
	frank := create("acct-frank", "frank", "")
	recent := reservation{state: newState(), required: state(t, rdb, s.accountKey("acct-frank")), at: time.Now().UnixMilli(), id: "acct-frank"}
	if err := rdb.Set(ctx, s.usernameKey("gina"), recent.String(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	find("gina", "")
	if err := s.CreateAccount(ctx, &store.Account{ID: "acct-gina", Username: "gina"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateAccount with the username of a rename in flight: %v, want ErrAlreadyExists", err)
	}
	// The same, claimed over an hour ago: its process is gone. The create
	// fences the account's state, so that rename could never commit.
	stale := recent
	stale.at = time.Now().Add(-time.Hour).UnixMilli()
	if err := rdb.Set(ctx, s.usernameKey("gina"), stale.String(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	create("acct-gina", "gina", "")
	find("gina", "acct-gina")
	if w := state(t, rdb, s.accountKey("acct-frank")); w == stale.required {
		t.Error("the stuck rename's account was not fenced")
	}
	find("frank", "acct-frank")
	upd := *frank
	upd.Generation = 2
	if err := s.UpdateAccount(ctx, &upd, 1); err != nil {
		t.Errorf("UpdateAccount of the fenced account: %v", err)
	}
}

// TestConcurrentMovesAndListings: listings that race with moves, rotations
// and deletes (and repair as they go) never delete an entry a client needs:
// once the writers stop, every owner lists exactly its clients. Each round
// is short, since a wrong deletion heals when its client moves again.
func TestConcurrentMovesAndListings(t *testing.T) {
	s, _ := fresh(t)
	// The listers' store waits a little before each repair, so that writes
	// land between what a listing read and what it deletes.
	slow := newClient(t, dbtest.RedisOptions(t))
	slow.AddHook(delayHook{"zrem", time.Millisecond})
	lister := newStore(t, slow, s.Prefix())
	for round := range 6 {
		owners := []string{fmt.Sprintf("acct-%d-a", round), fmt.Sprintf("acct-%d-b", round), fmt.Sprintf("acct-%d-c", round)}
		movesAndListings(t, s, lister, owners)
	}
}

func movesAndListings(t *testing.T, s, lister *Store, owners []string) {
	ctx := t.Context()
	const clients, writers, steps = 32, 4, 16
	var mu [clients]sync.Mutex // one writer per client at a time, so each knows the generation
	cur := make([]*store.Client, clients)
	for i := range cur {
		cur[i] = owned(fmt.Sprintf("%s-client-%02d", owners[0], i), owners[i%len(owners)], time.Duration(i)*time.Minute)
		if err := s.CreateClient(ctx, cur[i]); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var listers sync.WaitGroup
	for l := range 3 {
		listers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := lister.ListClientsByOwner(ctx, owners[(i+l)%len(owners)], 1+i%4); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var ws sync.WaitGroup
	for w := range writers {
		ws.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range steps {
				i := rng.IntN(clients)
				mu[i].Lock()
				c := *cur[i]
				c.Generation++
				switch rng.IntN(4) {
				case 0: // rotate
				case 1:
					c.CreatedAt = c.CreatedAt.Add(time.Second)
				default:
					c.OwnerAccount = owners[rng.IntN(len(owners))]
				}
				var err error
				if cur[i].ID == "" {
					c.ID = fmt.Sprintf("%s-client-%02d", owners[0], i)
					err = s.CreateClient(ctx, &c)
				} else if rng.IntN(10) == 0 {
					err = s.DeleteClient(ctx, c.ID)
					c.ID = ""
				} else {
					err = s.UpdateClient(ctx, &c, cur[i].Generation)
				}
				if err != nil {
					t.Error(err)
				} else {
					cur[i] = &c
				}
				mu[i].Unlock()
			}
		})
	}
	ws.Wait()
	close(stop)
	listers.Wait()
	for _, o := range owners {
		var want []*store.Client
		for _, c := range cur {
			if c.ID != "" && c.OwnerAccount == o {
				want = append(want, c)
			}
		}
		slices.SortFunc(want, func(a, b *store.Client) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		var ids []string
		for _, c := range want {
			ids = append(ids, c.ID)
		}
		if got := listIDs(t, s, o, store.MaxListLimit); !slices.Equal(got, ids) {
			t.Errorf("%s lists %q, want %q", o, got, ids)
		}
	}
}

// delayHook sleeps before every command named name.
type delayHook struct {
	name string
	d    time.Duration
}

func (h delayHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h delayHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == h.name {
			time.Sleep(h.d)
		}
		return next(ctx, cmd)
	}
}

func (h delayHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestConcurrentNames: creates and renames racing for a few names, with
// lookups repairing as they go, never give one name to two accounts, and
// every lookup afterwards finds the account that holds the name.
func TestConcurrentNames(t *testing.T) {
	s, _ := fresh(t)
	ctx := t.Context()
	names := []string{"n0", "n1", "n2", "n3"}
	const accounts, steps = 8, 30
	var ws sync.WaitGroup
	for i := range accounts {
		ws.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			a := &store.Account{ID: fmt.Sprintf("acct-%d", i), Generation: 1}
			created := false
			for range steps {
				next := *a
				next.Username = names[rng.IntN(len(names))]
				next.Email = names[rng.IntN(len(names))] + "@x"
				var err error
				if !created {
					err = s.CreateAccount(ctx, &next)
					created = err == nil
				} else {
					next.Generation++
					err = s.UpdateAccount(ctx, &next, a.Generation)
				}
				switch {
				case err == nil:
					a = &next
				case !errors.Is(err, store.ErrAlreadyExists):
					t.Error(err)
				}
				if _, err := s.FindAccount(ctx, names[rng.IntN(len(names))]); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
				}
			}
		})
	}
	ws.Wait()
	holders := map[string]string{}
	for i := range accounts {
		a, err := s.GetAccount(ctx, fmt.Sprintf("acct-%d", i))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{a.Username, a.Email} {
			if prev, ok := holders[n]; ok {
				t.Errorf("%q is held by %s and %s", n, prev, a.ID)
			}
			holders[n] = a.ID
		}
	}
	for _, n := range names {
		for _, login := range []string{n, n + "@x"} {
			a, err := s.FindAccount(ctx, login)
			switch want := holders[login]; {
			case want == "" && !errors.Is(err, store.ErrNotFound):
				t.Errorf("FindAccount(%q) = %v, %v; want ErrNotFound", login, a, err)
			case want != "" && (err != nil || a.ID != want):
				t.Errorf("FindAccount(%q) = %v, %v; want %s", login, a, err, want)
			}
		}
	}
}
