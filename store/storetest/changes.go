package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunChangeLog checks [store.ChangeLog]: every change that the contract
// names is logged once, with its generation or expiry; a failed write logs
// nothing; positions only grow, pages follow the cursor, trimming is
// reported, and a reader polling beside concurrent writers misses nothing
// (the log is in commit order).
func RunChangeLog(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Kinds", testChangeKinds)
	run(t, newStore, "Pages", testChangePages)
	run(t, newStore, "Trim", testChangeTrim)
	run(t, newStore, "BadArguments", testChangeBadArguments)
	run(t, newStore, "ConcurrentReader", testChangeConcurrentReader)
}

// changesAfter reads the whole log after a position, a page of 3 at a time,
// and checks that positions strictly increase.
func changesAfter(t *testing.T, s store.Store, after int64) ([]store.Change, int64) {
	t.Helper()
	log := capability[store.ChangeLog](t, s, "ChangeLog")
	var all []store.Change
	var trimmed int64
	for {
		page, tr, err := log.Changes(t.Context(), after, 3)
		wantErr(t, err, nil, "Changes(%d, 3)", after)
		trimmed = tr
		if len(page) > 3 {
			t.Fatalf("Changes(%d, 3) returned %d changes", after, len(page))
		}
		for _, c := range page {
			if c.Seq <= after {
				t.Fatalf("Changes(%d, …) returned Seq %d, not above the cursor (%+v)", after, c.Seq, page)
			}
			after = c.Seq
		}
		all = append(all, page...)
		if len(page) < 3 {
			return all, trimmed
		}
	}
}

func testChangeKinds(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newClient("client-1")
	a := newAccount("acct-1", "alice", "alice@example.com")
	wantErr(t, s.CreateClient(ctx, c), nil, "CreateClient")
	wantErr(t, s.CreateAccount(ctx, a), nil, "CreateAccount")
	if got, trimmed := changesAfter(t, s, 0); len(got) != 0 || trimmed != 0 {
		t.Fatalf("creates logged %+v (trimmed %d), want nothing: a new record has no token to kill", got, trimmed)
	}

	until := at(time.Hour)
	revoke(t, s, "jti-1", until)
	// A revocation for a shorter time changes nothing (the later expiry
	// wins) and logs nothing.
	revoke(t, s, "jti-1", at(time.Minute))
	rot := newClient("client-1")
	rot.Generation = c.Generation + 1
	wantErr(t, s.UpdateClient(ctx, rot, c.Generation), nil, "UpdateClient")
	// Writes that change nothing log nothing.
	stale := newClient("client-1")
	stale.Generation = c.Generation + 5
	wantErr(t, s.UpdateClient(ctx, stale, c.Generation), store.ErrConflict, "UpdateClient with a stale generation")
	wantErr(t, s.UpdateClient(ctx, newClient("nobody"), 1), store.ErrNotFound, "UpdateClient of a missing client")
	acc := newAccount("acct-1", "alice", "alice@example.com")
	acc.Generation = a.Generation + 1
	wantErr(t, s.UpdateAccount(ctx, acc, a.Generation), nil, "UpdateAccount")
	wantErr(t, s.DeleteClient(ctx, "client-1"), nil, "DeleteClient")
	wantErr(t, s.DeleteClient(ctx, "client-1"), store.ErrNotFound, "DeleteClient again")
	wantErr(t, s.DeleteAccount(ctx, "acct-1"), nil, "DeleteAccount")
	// Sweep leaves the log alone, even when everything has expired: the
	// log is trimmed by age (TrimChanges), and a sweep that removed an
	// entry a reader had not read yet would go unnoticed by it.
	if sw, ok := s.(store.Sweeper); ok {
		_, err := sw.Sweep(ctx, at(100*365*24*time.Hour))
		wantErr(t, err, nil, "Sweep far in the future")
	}

	want := []store.Change{
		{Event: store.Event{Kind: store.EventRevoked, ID: "jti-1"}, ExpiresAt: until},
		{Event: store.Event{Kind: store.EventClientChanged, ID: "client-1", Generation: rot.Generation}},
		{Event: store.Event{Kind: store.EventAccountChanged, ID: "acct-1", Generation: acc.Generation}},
		{Event: store.Event{Kind: store.EventClientChanged, ID: "client-1", Generation: -1}},
		{Event: store.Event{Kind: store.EventAccountChanged, ID: "acct-1", Generation: -1}},
	}
	got, trimmed := changesAfter(t, s, 0)
	if trimmed != 0 {
		t.Errorf("trimmed = %d before any TrimChanges, want 0", trimmed)
	}
	if len(got) != len(want) {
		t.Fatalf("logged %d changes, want %d:\ngot  %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.Kind || g.ID != w.ID || (w.Kind != store.EventRevoked && g.Generation != w.Generation) {
			t.Errorf("change %d = %+v, want %+v", i, g.Event, w.Event)
		}
		if !same(g.ExpiresAt, w.ExpiresAt) {
			t.Errorf("change %d ExpiresAt = %v, want %v", i, g.ExpiresAt, w.ExpiresAt)
		}
		if g.At.IsZero() {
			t.Errorf("change %d has a zero At", i)
		}
		if g.Seq <= 0 {
			t.Errorf("change %d has Seq %d, want positive", i, g.Seq)
		}
	}
}

func testChangePages(t *testing.T, s store.Store) {
	ctx := t.Context()
	log := capability[store.ChangeLog](t, s, "ChangeLog")
	for i := range 7 {
		revoke(t, s, fmt.Sprintf("jti-%d", i), at(time.Hour))
	}
	all, _ := changesAfter(t, s, 0)
	if len(all) != 7 {
		t.Fatalf("logged %d revocations, want 7: %+v", len(all), all)
	}
	for i, c := range all {
		if c.ID != fmt.Sprintf("jti-%d", i) {
			t.Errorf("change %d is %q, want jti-%d (the log is in commit order)", i, c.ID, i)
		}
	}
	// Reading on from the middle gives the rest.
	rest, _, err := log.Changes(ctx, all[2].Seq, 100)
	wantErr(t, err, nil, "Changes(after the third, 100)")
	if len(rest) != 4 || rest[0].Seq != all[3].Seq {
		t.Errorf("Changes after the third = %+v, want the last four", rest)
	}
	// Past the end: nothing, and no error.
	none, _, err := log.Changes(ctx, all[6].Seq+1000, 100)
	wantErr(t, err, nil, "Changes past the end")
	if len(none) != 0 {
		t.Errorf("Changes past the end = %+v, want none", none)
	}
	// The page is a copy.
	page, _, err := log.Changes(ctx, 0, 1)
	wantErr(t, err, nil, "Changes(0, 1)")
	if len(page) != 1 {
		t.Fatalf("Changes(0, 1) = %+v, want one change", page)
	}
	page[0].ID = "mutated"
	again, _, _ := log.Changes(ctx, 0, 1)
	if len(again) != 1 || again[0].ID != "jti-0" {
		t.Errorf("changing a returned page changed the log: %+v", again)
	}
}

func testChangeTrim(t *testing.T, s store.Store) {
	ctx := t.Context()
	log := capability[store.ChangeLog](t, s, "ChangeLog")
	revoke(t, s, "jti-old-1", at(time.Hour))
	revoke(t, s, "jti-old-2", at(time.Hour))
	before, _ := changesAfter(t, s, 0)
	if len(before) != 2 {
		t.Fatalf("logged %+v, want two revocations", before)
	}
	n, err := log.TrimChanges(ctx, time.Hour)
	wantErr(t, err, nil, "TrimChanges(1h)")
	if n != 0 {
		t.Errorf("TrimChanges(1h) removed %d fresh changes, want 0", n)
	}
	// The one wait of this runner: TrimChanges works on the backend's
	// clock, which the suite cannot set. The changes must be older than
	// the age below by that clock; retrying covers a coarse clock.
	deadline := time.Now().Add(WatchTimeout)
	var removed int64
	for removed < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, err := log.TrimChanges(ctx, 10*time.Millisecond)
		wantErr(t, err, nil, "TrimChanges(10ms)")
		removed += n
	}
	if removed != 2 {
		t.Fatalf("TrimChanges removed %d of 2 old changes within %v", removed, WatchTimeout)
	}
	after, trimmed := changesAfter(t, s, 0)
	if len(after) != 0 {
		t.Errorf("after trimming everything the log still holds %+v", after)
	}
	if trimmed != before[1].Seq {
		t.Errorf("trimmed = %d, want %d (the last Seq removed)", trimmed, before[1].Seq)
	}
	// Positions are never reused: the next change comes after the trimmed.
	revoke(t, s, "jti-new", at(time.Hour))
	next, trimmed := changesAfter(t, s, trimmed)
	if len(next) != 1 || next[0].ID != "jti-new" || next[0].Seq <= before[1].Seq {
		t.Errorf("after a trim, the log holds %+v, want jti-new above Seq %d", next, before[1].Seq)
	}
	if trimmed != before[1].Seq {
		t.Errorf("a new change moved trimmed to %d, want %d", trimmed, before[1].Seq)
	}
}

func testChangeBadArguments(t *testing.T, s store.Store) {
	ctx := t.Context()
	log := capability[store.ChangeLog](t, s, "ChangeLog")
	for _, limit := range []int{0, -1} {
		if _, _, err := log.Changes(ctx, 0, limit); err == nil {
			t.Errorf("Changes with limit %d: no error", limit)
		}
	}
	for _, age := range []time.Duration{0, -time.Second} {
		if _, err := log.TrimChanges(ctx, age); err == nil {
			t.Errorf("TrimChanges(%v): no error", age)
		}
	}
}

// A reader that polls while writers commit must end up with every change:
// a log ordered by something other than commit (an auto-increment id that
// a slower transaction commits late) lets the cursor pass a position that
// is filled in afterwards, and the change at it is never read.
func testChangeConcurrentReader(t *testing.T, s store.Store) {
	ctx := t.Context()
	log := capability[store.ChangeLog](t, s, "ChangeLog")
	const perWorker = 12
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if err := s.Revoke(ctx, fmt.Sprintf("jti-%d-%d", w, i), at(time.Hour)); err != nil {
					t.Errorf("Revoke: %v", err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	seen := make(map[string]int)
	var cursor int64
	read := func() {
		page, _, err := log.Changes(ctx, cursor, 5)
		if err != nil {
			t.Fatalf("Changes(%d, 5): %v", cursor, err)
		}
		for _, c := range page {
			if c.Seq <= cursor {
				t.Fatalf("Changes(%d, 5) returned Seq %d", cursor, c.Seq)
			}
			cursor = c.Seq
			seen[c.ID]++
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		read()
	}
	for before := -1; before != len(seen); {
		before = len(seen)
		read()
	}
	for w := range workers {
		for i := range perWorker {
			id := fmt.Sprintf("jti-%d-%d", w, i)
			if seen[id] != 1 {
				t.Errorf("the polling reader saw %s %d times, want once", id, seen[id])
			}
		}
	}
}
