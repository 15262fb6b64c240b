package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunSweeper checks [store.Sweeper]: what had expired at now goes, live
// records stay, and the count says how many went.
func RunSweeper(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Sweep", testSweep)
	run(t, newStore, "RevokedFamily", testSweepRevokedFamily)
	run(t, newStore, "RevokedFamilyExpired", testSweepRevokedFamilyExpired)
}

func testSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	sw := capability[store.Sweeper](t, s, "Sweeper")
	now := at(2 * time.Hour)
	expired, live := at(time.Hour), at(10*time.Hour)

	rtExpired := newRefresh("rt-expired", "family-1")
	rtExpired.ExpiresAt = expired
	rtUsedExpired := newRefresh("rt-used-expired", "family-1")
	rtUsedExpired.ExpiresAt = expired
	rtLive := newRefresh("rt-live", "family-2")
	rtLive.ExpiresAt = live
	rtUsedLive := newRefresh("rt-used-live", "family-2")
	rtUsedLive.ExpiresAt = live
	for _, r := range []*store.RefreshToken{rtExpired, rtUsedExpired, rtLive, rtUsedLive} {
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	}
	consume(t, s, rtUsedExpired.Hash, base, nil)
	consume(t, s, rtUsedLive.Hash, base, nil)

	atExpired := newAccess("at-expired")
	atExpired.ExpiresAt = expired
	atLive := newAccess("at-live")
	atLive.ExpiresAt = live
	for _, a := range []*store.AccessToken{atExpired, atLive} {
		wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken")
	}

	revoke(t, s, "jti-expired", expired)
	revoke(t, s, "jti-live", live)

	kExpired := newKey("kid-expired", 1)
	kExpired.ExpiresAt = expired
	kUnscheduled := newKey("kid-unscheduled", 2)
	kUnscheduled.ExpiresAt = time.Time{}
	kLive := newKey("kid-live", 3)
	kLive.ExpiresAt = live
	for _, k := range []*store.SigningKey{kExpired, kUnscheduled, kLive} {
		wantErr(t, s.CreateKey(ctx, k), nil, "CreateKey")
	}

	n, err := sw.Sweep(ctx, now)
	wantErr(t, err, nil, "Sweep")
	// Two refresh tokens, one access token, one revocation, one key.
	if n != 5 {
		t.Errorf("Sweep removed %d records, want 5", n)
	}

	// Gone: looked up at base, when they were still valid, they are
	// missing, so the rows went and not merely the answers.
	getRefresh(t, s, rtExpired.Hash, base, nil)
	getRefresh(t, s, rtUsedExpired.Hash, base, nil)
	getAccess(t, s, atExpired.Hash, base, nil)
	revoked(t, s, "jti-expired", base, false)

	// Kept, including a used token that has not expired: its reuse must
	// still be detected.
	getRefresh(t, s, rtLive.Hash, base, rtLive)
	consume(t, s, rtUsedLive.Hash, now, store.ErrTokenReused)
	getAccess(t, s, atLive.Hash, base, atLive)
	revoked(t, s, "jti-live", now, true)
	listKeys(t, s, kUnscheduled, kLive)

	n, err = sw.Sweep(ctx, now)
	wantErr(t, err, nil, "second Sweep")
	if n != 0 {
		t.Errorf("second Sweep at the same instant removed %d records, want 0", n)
	}
}

// testSweepRevokedFamily: sweeping a revoked family's expired tokens must
// not lift the revocation from the tokens it still has, nor from one
// created in the family afterwards (a refresh that raced the revocation).
func testSweepRevokedFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	sw := capability[store.Sweeper](t, s, "Sweeper")
	now := at(2 * time.Hour)
	old := newRefresh("rt-old", "family-1")
	old.ExpiresAt = at(time.Hour)
	live := newRefresh("rt-live", "family-1")
	live.ExpiresAt = at(10 * time.Hour)
	for _, r := range []*store.RefreshToken{old, live} {
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	}
	consume(t, s, old.Hash, base, nil)
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-1"), nil, "RevokeRefreshFamily")

	_, err := sw.Sweep(ctx, now)
	wantErr(t, err, nil, "Sweep")
	getRefresh(t, s, old.Hash, base, nil)
	getRefresh(t, s, live.Hash, now, nil)
	consume(t, s, live.Hash, now, store.ErrNotFound)
	later := newRefresh("rt-later", "family-1")
	later.ExpiresAt = at(20 * time.Hour)
	wantErr(t, s.CreateRefreshToken(ctx, later), nil, "CreateRefreshToken in a revoked family after Sweep")
	getRefresh(t, s, later.Hash, now, nil)
	consume(t, s, later.Hash, now, store.ErrNotFound)
}

// testSweepRevokedFamilyExpired: a revoked family whose every token has
// expired is still revoked until a Sweep forgets it, so a token created in
// it meanwhile is born dead, and that token keeps the family revoked through
// Sweeps until it expires itself. (After a Sweep that found no token left the
// store may forget the family: see [store.RefreshTokens].)
func testSweepRevokedFamilyExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	sw := capability[store.Sweeper](t, s, "Sweeper")
	now := at(2 * time.Hour)
	old := newRefresh("rt-old", "family-1")
	old.ExpiresAt = at(time.Hour)
	wantErr(t, s.CreateRefreshToken(ctx, old), nil, "CreateRefreshToken")
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-1"), nil, "RevokeRefreshFamily")

	later := newRefresh("rt-later", "family-1")
	later.ExpiresAt = at(20 * time.Hour)
	wantErr(t, s.CreateRefreshToken(ctx, later), nil, "CreateRefreshToken in a revoked family whose tokens have all expired")
	getRefresh(t, s, later.Hash, now, nil)
	_, err := sw.Sweep(ctx, now)
	wantErr(t, err, nil, "Sweep")
	getRefresh(t, s, later.Hash, now, nil)
	consume(t, s, later.Hash, now, store.ErrNotFound)
	_, err = sw.Sweep(ctx, at(10*time.Hour))
	wantErr(t, err, nil, "Sweep")
	getRefresh(t, s, later.Hash, at(10*time.Hour), nil)
	consume(t, s, later.Hash, at(10*time.Hour), store.ErrNotFound)
}

// RunRateLimiter checks [store.RateLimiter]. Windows are fixed and aligned
// to the zero time: the window of length w that contains now starts at
// now.Truncate(w) and ends (resetAt) at now.Truncate(w).Add(w), so now and
// now+w always fall in different windows. Backends must compute the window
// exactly so, for replicas to agree.
func RunRateLimiter(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "HitCount", testRateHitCount)
	run(t, newStore, "Keys", testRateKeys)
	run(t, newStore, "Alignment", testRateAlignment)
	run(t, newStore, "WindowLengths", testRateWindowLengths)
	run(t, newStore, "ConcurrentHit", testRateConcurrentHit)
}

func rate(t *testing.T, rl store.RateLimiter, op, key string, window time.Duration, now time.Time, wantCount int64) {
	t.Helper()
	f := rl.Count
	if op == "Hit" {
		f = rl.Hit
	}
	n, resetAt, err := f(t.Context(), key, window, now)
	what := fmt.Sprintf("%s(%q, %v, %s)", op, key, window, now.Format(time.RFC3339Nano))
	wantErr(t, err, nil, "%s", what)
	if n != wantCount {
		t.Errorf("%s: count %d, want %d", what, n, wantCount)
	}
	if want := now.Truncate(window).Add(window); !same(resetAt, want) {
		t.Errorf("%s: resetAt %s, want %s", what, resetAt.UTC().Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
	if rc, ok := rl.(store.RateCounter); ok && op == "Count" {
		// CountMany must agree with Count, for one key and among others
		// (a key never hit, the key twice).
		countMany(t, rc, []string{key}, window, now, []int64{wantCount})
		countMany(t, rc, []string{neverHit, key, key}, window, now, []int64{0, wantCount, wantCount})
	}
}

// neverHit is a rate-limit key that no case hits.
const neverHit = "storetest:never-hit"

func countMany(t *testing.T, rc store.RateCounter, keys []string, window time.Duration, now time.Time, want []int64) {
	t.Helper()
	got, resetAt, err := rc.CountMany(t.Context(), keys, window, now)
	what := fmt.Sprintf("CountMany(%q, %v, %s)", keys, window, now.Format(time.RFC3339Nano))
	wantErr(t, err, nil, "%s", what)
	if !slices.Equal(got, want) {
		t.Errorf("%s: counts %v, want %v", what, got, want)
	}
	if want := now.Truncate(window).Add(window); !same(resetAt, want) {
		t.Errorf("%s: resetAt %s, want %s", what, resetAt.UTC().Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// RunRateCounter checks [store.RateCounter]: CountMany answers what Count
// answers for each key, in order (RunRateLimiter also compares the two at
// every Count it makes).
func RunRateCounter(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "CountMany", testCountMany)
}

func testCountMany(t *testing.T, s store.Store) {
	rl := capability[store.RateLimiter](t, s, "RateLimiter")
	rc := capability[store.RateCounter](t, s, "RateCounter")
	ctx := t.Context()
	w := time.Minute
	countMany(t, rc, nil, w, base, nil)
	countMany(t, rc, []string{}, w, base, nil)
	// Every key of a full call, each with its own count, some odd.
	keys := make([]string, store.MaxCountKeys)
	want := make([]int64, store.MaxCountKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("client:%d", i)
		if i < len(oddKeys) {
			keys[i] = "client:" + oddKeys[i]
		}
		want[i] = int64(i % 4)
		for range want[i] {
			_, _, err := rl.Hit(ctx, keys[i], w, base)
			wantErr(t, err, nil, "Hit(%q)", keys[i])
		}
	}
	countMany(t, rc, keys, w, base, want)
	slices.Reverse(keys)
	slices.Reverse(want)
	countMany(t, rc, keys, w, base, want)
	// Another window, another length: nothing counted there.
	countMany(t, rc, keys[:2], w, base.Add(w), []int64{0, 0})
	countMany(t, rc, keys[:2], time.Hour, base, []int64{0, 0})
	// Misuse is an error, none of the sentinels.
	for _, c := range []struct {
		what string
		keys []string
		w    time.Duration
	}{
		{"too many keys", append(slices.Clone(keys), "one more"), w},
		{"zero window", keys[:2], 0},
		{"negative window", keys[:2], -time.Minute},
	} {
		_, _, err := rc.CountMany(ctx, c.keys, c.w, base)
		if err == nil {
			t.Errorf("CountMany with %s: no error", c.what)
		}
		for _, sentinel := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict, store.ErrTokenReused} {
			if errors.Is(err, sentinel) {
				t.Errorf("CountMany with %s: %v, a sentinel", c.what, err)
			}
		}
	}
}

func testRateHitCount(t *testing.T, s store.Store) {
	rl := capability[store.RateLimiter](t, s, "RateLimiter")
	w := time.Minute
	start := base.Truncate(w)
	rate(t, rl, "Count", "client:abc", w, base, 0)
	rate(t, rl, "Hit", "client:abc", w, base, 1)
	rate(t, rl, "Hit", "client:abc", w, base, 2)
	rate(t, rl, "Count", "client:abc", w, base, 2)
	rate(t, rl, "Count", "client:abc", w, base, 2)
	rate(t, rl, "Hit", "client:abc", w, start, 3)
	rate(t, rl, "Hit", "client:abc", w, start.Add(w-time.Millisecond), 4)
	// The next window starts from nothing.
	rate(t, rl, "Count", "client:abc", w, start.Add(w), 0)
	rate(t, rl, "Hit", "client:abc", w, start.Add(w), 1)
	rate(t, rl, "Hit", "client:abc", w, base.Add(w), 2)
	rate(t, rl, "Count", "client:abc", w, start.Add(2*w-time.Millisecond), 2)
	rate(t, rl, "Count", "client:abc", w, base.Add(5*w), 0)
}

func testRateKeys(t *testing.T, s store.Store) {
	rl := capability[store.RateLimiter](t, s, "RateLimiter")
	w := time.Hour
	rate(t, rl, "Hit", "client:a", w, base, 1)
	rate(t, rl, "Hit", "client:a", w, base, 2)
	rate(t, rl, "Hit", "addr:192.0.2.1", w, base, 1)
	rate(t, rl, "Count", "client:a", w, base, 2)
	rate(t, rl, "Count", "addr:192.0.2.1", w, base, 1)
	rate(t, rl, "Count", "client:A", w, base, 0)
	rate(t, rl, "Count", "client:b", w, base, 0)
	// Keys are request input (a client id as sent): whatever their bytes,
	// they are counted, and each on its own.
	for i, k := range oddKeys {
		rate(t, rl, "Count", "client:"+k, w, base, 0)
		rate(t, rl, "Hit", "client:"+k, w, base, 1)
		rate(t, rl, "Hit", "client:"+k, w, base, 2)
		for _, other := range oddKeys[:i] {
			rate(t, rl, "Count", "client:"+other, w, base, 2)
		}
	}
}

func testRateWindowLengths(t *testing.T, s store.Store) {
	rl := capability[store.RateLimiter](t, s, "RateLimiter")
	// A minute and an hour that start at the same instant are two
	// counters: a limit of n a minute and m an hour on one key must not
	// count each other's hits.
	start := base.Truncate(time.Hour)
	rate(t, rl, "Hit", "client:a", time.Minute, start, 1)
	rate(t, rl, "Hit", "client:a", time.Hour, start, 1)
	rate(t, rl, "Hit", "client:a", time.Hour, start, 2)
	rate(t, rl, "Count", "client:a", time.Minute, start, 1)
	rate(t, rl, "Count", "client:a", time.Hour, start, 2)
	rate(t, rl, "Count", "client:a", 2*time.Hour, base.Truncate(2*time.Hour), 0)
}

func testRateAlignment(t *testing.T, s store.Store) {
	rl := capability[store.RateLimiter](t, s, "RateLimiter")
	// Seven seconds does not divide a day, so windows aligned to the Unix
	// epoch would disagree with now.Truncate: every replica must agree.
	w := 7 * time.Second
	start := base.Truncate(w)
	rate(t, rl, "Hit", "k", w, start, 1)
	rate(t, rl, "Hit", "k", w, start.Add(w-time.Millisecond), 2)
	rate(t, rl, "Hit", "k", w, start.Add(w), 1)
	rate(t, rl, "Count", "k", w, start.Add(w-time.Millisecond), 2)
}

func testRateConcurrentHit(t *testing.T, s store.Store) {
	rl := capability[store.RateLimiter](t, s, "RateLimiter")
	w := time.Minute
	counts := make([]int64, workers)
	errs := race(workers, func(i int) error {
		var err error
		counts[i], _, err = rl.Hit(t.Context(), "client:contested", w, base)
		return err
	})
	for i, err := range errs {
		wantErr(t, err, nil, "concurrent Hit %d", i)
	}
	// Atomic increments hand out every count exactly once.
	slices.Sort(counts)
	for i, n := range counts {
		if n != int64(i+1) {
			t.Fatalf("concurrent Hits returned counts %v, want 1 to %d each once", counts, workers)
		}
	}
	rate(t, rl, "Count", "client:contested", w, base, workers)
}

// RunWatcher checks [store.Watcher]: after Watch returns, every Revoke,
// UpdateClient, DeleteClient, UpdateAccount and DeleteAccount on the same
// store reaches every watcher within [WatchTimeout] (a liveness bound, not a
// timing assertion).
func RunWatcher(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Events", testWatchEvents)
	run(t, newStore, "Fanout", testWatchFanout)
}

// watch subscribes and returns the channel its events arrive on; the
// subscription ends with the test.
func watch(t *testing.T, s store.Store) <-chan store.Event {
	t.Helper()
	w := capability[store.Watcher](t, s, "Watcher")
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ch := make(chan store.Event, 256)
	err := w.Watch(ctx, func(e store.Event) {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
	})
	wantErr(t, err, nil, "Watch")
	return ch
}

// await waits for an event matching want, skipping others (a backend may
// publish more than the suite asks for).
func await(t *testing.T, ch <-chan store.Event, want store.Event) {
	t.Helper()
	awaitAll(t, ch, want)
}

// awaitAll waits until an event matching each of wants has arrived, in any
// order: the contract orders no two changes of different records (a Redis
// Cluster publishes each from the node that holds its record). Generation
// is compared except for revocations, whose generation the contract leaves
// open.
func awaitAll(t *testing.T, ch <-chan store.Event, wants ...store.Event) {
	t.Helper()
	timeout := time.NewTimer(WatchTimeout)
	defer timeout.Stop()
	wants = slices.Clone(wants)
	var seen []store.Event
	for len(wants) > 0 {
		select {
		case e := <-ch:
			seen = append(seen, e)
			wants = slices.DeleteFunc(wants, func(want store.Event) bool {
				return e.Kind == want.Kind && e.ID == want.ID && (want.Kind == store.EventRevoked || e.Generation == want.Generation)
			})
		case <-timeout.C:
			t.Fatalf("no event %+v within %v (saw %+v)", wants, WatchTimeout, seen)
		}
	}
}

func testWatchEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newClient("client-1")
	a := newAccount("acct-1", "alice", "alice@example.com")
	wantErr(t, s.CreateClient(ctx, c), nil, "CreateClient")
	wantErr(t, s.CreateAccount(ctx, a), nil, "CreateAccount")
	ch := watch(t, s)

	revoke(t, s, "jti-1", at(time.Hour))
	await(t, ch, store.Event{Kind: store.EventRevoked, ID: "jti-1"})

	rot := newClient("client-1")
	rot.Generation = c.Generation + 1
	wantErr(t, s.UpdateClient(ctx, rot, c.Generation), nil, "UpdateClient")
	await(t, ch, store.Event{Kind: store.EventClientChanged, ID: "client-1", Generation: rot.Generation})

	wantErr(t, s.DeleteClient(ctx, "client-1"), nil, "DeleteClient")
	await(t, ch, store.Event{Kind: store.EventClientChanged, ID: "client-1", Generation: -1})

	upd := newAccount("acct-1", "alice", "alice@example.com")
	upd.Generation = a.Generation + 1
	wantErr(t, s.UpdateAccount(ctx, upd, a.Generation), nil, "UpdateAccount")
	await(t, ch, store.Event{Kind: store.EventAccountChanged, ID: "acct-1", Generation: upd.Generation})

	wantErr(t, s.DeleteAccount(ctx, "acct-1"), nil, "DeleteAccount")
	await(t, ch, store.Event{Kind: store.EventAccountChanged, ID: "acct-1", Generation: -1})
}

func testWatchFanout(t *testing.T, s store.Store) {
	chans := []<-chan store.Event{watch(t, s), watch(t, s), watch(t, s)}
	revoke(t, s, "jti-1", at(time.Hour))
	revoke(t, s, "jti-2", at(time.Hour))
	for _, ch := range chans {
		awaitAll(t, ch, store.Event{Kind: store.EventRevoked, ID: "jti-1"}, store.Event{Kind: store.EventRevoked, ID: "jti-2"})
	}
}

// runPinger checks [store.Pinger]: a healthy store answers Ping. Run calls
// it; it is not exported because one call needs no runner of its own.
func runPinger(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Ping", func(t *testing.T, s store.Store) {
		p := capability[store.Pinger](t, s, "Pinger")
		wantErr(t, p.Ping(t.Context()), nil, "Ping")
	})
}
