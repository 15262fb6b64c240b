package storetest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunClients checks the [store.Clients] role.
func RunClients(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "CreateGet", testClientCreateGet)
	run(t, newStore, "Duplicate", testClientDuplicate)
	run(t, newStore, "Copies", testClientCopies)
	run(t, newStore, "Update", testClientUpdate)
	run(t, newStore, "Delete", testClientDelete)
	run(t, newStore, "ConcurrentCreate", testClientConcurrentCreate)
	run(t, newStore, "ConcurrentUpdate", testClientConcurrentUpdate)
	run(t, newStore, "ListByOwner", testClientListByOwner)
	run(t, newStore, "ListOrder", testClientListOrder)
	run(t, newStore, "ListLimit", testClientListLimit)
	run(t, newStore, "ListMoves", testClientListMoves)
	run(t, newStore, "ListCopies", testClientListCopies)
	run(t, newStore, "ConcurrentMove", testClientConcurrentMove)
}

// newClient returns a client with every field set. Scopes are not sorted so
// that a backend which reorders them shows it; the generation does not fit
// in 32 bits.
func newClient(id string) *store.Client {
	return &store.Client{
		ID:           id,
		SecretHash:   binary(32, 0x5a),
		Name:         "Billing service 🔑 Zürich",
		OwnerAccount: "acct-" + id,
		Scopes:       []string{"write:all", "read", "admin"},
		Audiences:    []string{"https://api.example.com", "urn:portcullis:admin"},
		Generation:   1<<40 + 7,
		Disabled:     false,
		CreatedAt:    base,
		UpdatedAt:    at(90 * time.Minute),
		Metadata:     map[string]string{"team": "payments", "ünï": "cødé ✓", "empty": ""},
	}
}

func testClientCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := newClient("client-full")
	// A time in another zone is the same instant: backends must keep the
	// instant whatever the caller's location.
	full.UpdatedAt = full.UpdatedAt.In(time.FixedZone("IST", 5*3600+1800))
	sparse := &store.Client{ID: "client-sparse", Disabled: true}
	for _, c := range []*store.Client{full, sparse} {
		wantErr(t, s.CreateClient(ctx, c), nil, "CreateClient(%q)", c.ID)
	}
	for _, c := range []*store.Client{full, sparse} {
		got, err := s.GetClient(ctx, c.ID)
		wantErr(t, err, nil, "GetClient(%q)", c.ID)
		checkClient(t, fmt.Sprintf("GetClient(%q)", c.ID), got, c)
	}
	for _, id := range append([]string{"client-missing", "CLIENT-FULL", ""}, oddKeys...) {
		_, err := s.GetClient(ctx, id)
		wantErr(t, err, store.ErrNotFound, "GetClient(%q)", id)
	}
}

func testClientDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newClient("client-1")
	wantErr(t, s.CreateClient(ctx, orig), nil, "CreateClient")
	dup := newClient("client-1")
	dup.Name = "impostor"
	dup.SecretHash = binary(32, 0x11)
	wantErr(t, s.CreateClient(ctx, dup), store.ErrAlreadyExists, "CreateClient with a taken id")
	got, err := s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after a failed duplicate create", got, orig)
}

func testClientCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newClient("client-1")
	c := newClient("client-1")
	wantErr(t, s.CreateClient(ctx, c), nil, "CreateClient")
	mutateClient(c)
	got, err := s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after the caller changed the record it created", got, want)

	mutateClient(got)
	again, err := s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after the caller changed a returned record", again, want)

	upd := newClient("client-1")
	upd.Generation++
	wantErr(t, s.UpdateClient(ctx, upd, want.Generation), nil, "UpdateClient")
	want.Generation++
	mutateClient(upd)
	got, err = s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after the caller changed the record it updated with", got, want)
}

// mutateClient changes every slice, map and byte in c in place.
func mutateClient(c *store.Client) {
	c.SecretHash[0] ^= 0xff
	c.Scopes[0] = "mutated"
	c.Audiences[0] = "mutated"
	c.Metadata["team"] = "mutated"
	c.Metadata["added"] = "mutated"
	c.Name = "mutated"
}

func testClientUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newClient("client-1")
	wantErr(t, s.CreateClient(ctx, orig), nil, "CreateClient")
	other := newClient("client-2")
	wantErr(t, s.CreateClient(ctx, other), nil, "CreateClient")

	// A rotation: new secret, next generation, fields changed and cleared.
	rot := newClient("client-1")
	rot.SecretHash = binary(32, 0xa5)
	rot.Generation = orig.Generation + 1
	rot.Name = "rotated"
	rot.Scopes = []string{"read"}
	rot.Audiences = nil
	rot.Metadata = nil
	rot.Disabled = true
	rot.UpdatedAt = at(2 * time.Hour)
	wantErr(t, s.UpdateClient(ctx, rot, orig.Generation), nil, "UpdateClient expecting the stored generation")
	got, err := s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after UpdateClient", got, rot)

	stale := newClient("client-1")
	stale.Generation = orig.Generation + 1
	stale.Name = "stale writer"
	wantErr(t, s.UpdateClient(ctx, stale, orig.Generation), store.ErrConflict, "UpdateClient expecting a generation that moved on")
	got, err = s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after a conflicting UpdateClient", got, rot)

	// An update need not bump the generation (disabling without rotating);
	// the compare is on the stored generation only.
	same := *rot
	same.Name = "renamed, same generation"
	same.Disabled = false
	wantErr(t, s.UpdateClient(ctx, &same, rot.Generation), nil, "UpdateClient keeping the generation")
	got, err = s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after UpdateClient keeping the generation", got, &same)

	got, err = s.GetClient(ctx, "client-2")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient of a client nobody updated", got, other)

	missing := newClient("client-missing")
	wantErr(t, s.UpdateClient(ctx, missing, missing.Generation), store.ErrNotFound, "UpdateClient of a missing client")
	_, err = s.GetClient(ctx, "client-missing")
	wantErr(t, err, store.ErrNotFound, "GetClient after UpdateClient of a missing client")
}

func testClientDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newClient("client-a"), newClient("client-b")
	wantErr(t, s.CreateClient(ctx, a), nil, "CreateClient")
	wantErr(t, s.CreateClient(ctx, b), nil, "CreateClient")
	wantErr(t, s.DeleteClient(ctx, "client-a"), nil, "DeleteClient")
	_, err := s.GetClient(ctx, "client-a")
	wantErr(t, err, store.ErrNotFound, "GetClient after DeleteClient")
	got, err := s.GetClient(ctx, "client-b")
	wantErr(t, err, nil, "GetClient of another client")
	checkClient(t, "GetClient of another client", got, b)
	wantErr(t, s.DeleteClient(ctx, "client-a"), store.ErrNotFound, "DeleteClient twice")
	wantErr(t, s.DeleteClient(ctx, "client-never"), store.ErrNotFound, "DeleteClient of a missing client")
	wantErr(t, s.UpdateClient(ctx, a, a.Generation), store.ErrNotFound, "UpdateClient after DeleteClient")

	again := newClient("client-a")
	again.Name = "second life"
	again.Generation = 1
	wantErr(t, s.CreateClient(ctx, again), nil, "CreateClient with the id of a deleted client")
	got, err = s.GetClient(ctx, "client-a")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient of a recreated client", got, again)
}

func testClientConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(i int) *store.Client {
		c := newClient("client-1")
		c.Name = fmt.Sprintf("creator %d", i)
		return c
	}
	errs := race(workers, func(i int) error { return s.CreateClient(ctx, mk(i)) })
	w := exactlyOne(t, "concurrent CreateClient of one id", errs, store.ErrAlreadyExists)
	got, err := s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after concurrent creates", got, mk(w))
}

func testClientConcurrentUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newClient("client-1")
	wantErr(t, s.CreateClient(ctx, orig), nil, "CreateClient")
	mk := func(i int) *store.Client {
		c := newClient("client-1")
		c.Generation = orig.Generation + 1
		c.SecretHash = binary(32, byte(i))
		c.Name = fmt.Sprintf("rotator %d", i)
		return c
	}
	errs := race(workers, func(i int) error { return s.UpdateClient(ctx, mk(i), orig.Generation) })
	w := exactlyOne(t, "concurrent UpdateClient expecting one generation", errs, store.ErrConflict)
	got, err := s.GetClient(ctx, "client-1")
	wantErr(t, err, nil, "GetClient")
	checkClient(t, "GetClient after concurrent rotations", got, mk(w))
}

// ownedClient returns newClient(id) owned by owner and created at created.
func ownedClient(id, owner string, created time.Time) *store.Client {
	c := newClient(id)
	c.OwnerAccount = owner
	c.CreatedAt = created
	return c
}

// createClients creates every client in order, failing t on any error.
func createClients(t *testing.T, s store.Store, cs ...*store.Client) {
	t.Helper()
	for _, c := range cs {
		wantErr(t, s.CreateClient(t.Context(), c), nil, "CreateClient(%q)", c.ID)
	}
}

// checkList lists owner's clients with limit and compares the result, order
// included, with want.
func checkList(t *testing.T, s store.Store, owner string, limit int, want ...*store.Client) {
	t.Helper()
	what := fmt.Sprintf("ListClientsByOwner(%q, %d)", owner, limit)
	got, err := s.ListClientsByOwner(t.Context(), owner, limit)
	wantErr(t, err, nil, "%s", what)
	ids := func(cs []*store.Client) string {
		var b strings.Builder
		for i, c := range cs {
			if i > 0 {
				b.WriteString(", ")
			}
			if c == nil {
				b.WriteString("<nil>")
				continue
			}
			fmt.Fprintf(&b, "%q", c.ID)
		}
		return "[" + b.String() + "]"
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %s, want %s", what, ids(got), ids(want))
	}
	for i := range want {
		if got[i] == nil || got[i].ID != want[i].ID {
			t.Fatalf("%s: got %s, want %s", what, ids(got), ids(want))
		}
		checkClient(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

// testClientListByOwner: a listing holds exactly the owner's clients,
// compared exactly: not unowned ones, not those of an owner whose id
// differs by case, a trailing space or a suffix.
func testClientListByOwner(t *testing.T, s store.Store) {
	a1 := ownedClient("client-a1", "acct-a", at(time.Minute))
	a2 := ownedClient("client-a2", "acct-a", at(2*time.Minute))
	a3 := ownedClient("client-a3", "acct-a", at(3*time.Minute))
	ab := ownedClient("client-ab", "acct-ab", at(time.Minute))
	upper := ownedClient("client-upper", "ACCT-A", at(time.Minute))
	space := ownedClient("client-space", "acct-a ", at(time.Minute))
	b := ownedClient("client-b", "acct-b", at(time.Minute))
	u1 := ownedClient("client-u1", "", at(time.Minute))
	u2 := ownedClient("client-u2", "", at(4*time.Minute))
	// Created out of order, owners interleaved.
	createClients(t, s, u1, a3, ab, a1, upper, b, space, u2, a2)

	checkList(t, s, "acct-a", store.MaxListLimit, a1, a2, a3)
	checkList(t, s, "acct-ab", 10, ab)
	checkList(t, s, "ACCT-A", 10, upper)
	checkList(t, s, "acct-a ", 10, space)
	checkList(t, s, "acct-b", 10, b)
	for _, owner := range append([]string{"acct-missing", "acct", "acct-", "ACCT-a", "client-a1"}, oddKeys...) {
		checkList(t, s, owner, 10)
	}
}

// testClientListOrder: CreatedAt first (a zero one is the earliest), then
// the id, compared bytewise ("B" < "Z9" < "_" < "a"), whatever the order of
// creation.
func testClientListOrder(t *testing.T, s store.Store) {
	const owner = "acct-o"
	late := ownedClient("m", owner, at(2*time.Hour))
	tieB := ownedClient("B", owner, at(time.Hour))
	tiea := ownedClient("a", owner, at(time.Hour))
	tieU := ownedClient("_", owner, at(time.Hour))
	tieZ := ownedClient("Z9", owner, at(time.Hour))
	zero := ownedClient("z", owner, time.Time{})
	first := ownedClient("e", owner, base)
	after := ownedClient("c", owner, at(time.Hour+time.Millisecond))
	createClients(t, s, late, tiea, zero, tieU, after, tieB, tieZ, first)

	want := []*store.Client{zero, first, tieB, tieZ, tieU, tiea, after, late}
	checkList(t, s, owner, 10, want...)
	checkList(t, s, owner, 3, want[:3]...)
}

// testClientListLimit: at most limit clients, the first ones; a limit out of
// 1..MaxListLimit and an empty owner are the caller's mistakes.
func testClientListLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const owner = "acct-l"
	var all []*store.Client
	for i := range 5 {
		c := ownedClient(fmt.Sprintf("client-l%d", i), owner, at(time.Duration(i)*time.Minute))
		all = append(all, c)
	}
	// Created last first, with other owners' and unowned clients about.
	for i := len(all) - 1; i >= 0; i-- {
		createClients(t, s, all[i], ownedClient(fmt.Sprintf("client-x%d", i), "acct-x", at(0)),
			ownedClient(fmt.Sprintf("client-u%d", i), "", at(0)))
	}
	for n := 1; n <= len(all)+1; n++ {
		checkList(t, s, owner, n, all[:min(n, len(all))]...)
	}
	checkList(t, s, owner, store.MaxListLimit, all...)

	for _, n := range []int{0, -1, store.MaxListLimit + 1, math.MinInt, math.MaxInt} {
		got, err := s.ListClientsByOwner(ctx, owner, n)
		wantInvalid(t, err, "ListClientsByOwner(%q, %d)", owner, n)
		if len(got) != 0 {
			t.Fatalf("ListClientsByOwner(%q, %d): returned %d clients with its error", owner, n, len(got))
		}
	}
	for _, n := range []int{1, 10, store.MaxListLimit} {
		got, err := s.ListClientsByOwner(ctx, "", n)
		wantInvalid(t, err, "ListClientsByOwner(\"\", %d) with unowned clients stored", n)
		if len(got) != 0 {
			t.Fatalf("ListClientsByOwner(\"\", %d): returned %d clients with its error", n, len(got))
		}
	}
}

// testClientListMoves: listings follow UpdateClient (a new owner, a new
// CreatedAt, no owner) and DeleteClient, and ignore updates that failed.
func testClientListMoves(t *testing.T, s store.Store) {
	ctx := t.Context()
	a1 := ownedClient("client-1", "acct-a", at(time.Minute))
	a2 := ownedClient("client-2", "acct-a", at(2*time.Minute))
	b3 := ownedClient("client-3", "acct-b", at(3*time.Minute))
	u4 := ownedClient("client-4", "", at(4*time.Minute))
	createClients(t, s, a1, a2, b3, u4)

	// Give client-1 to acct-b, keeping its CreatedAt: it goes first there.
	moved := *a1
	moved.OwnerAccount = "acct-b"
	moved.Generation++
	wantErr(t, s.UpdateClient(ctx, &moved, a1.Generation), nil, "UpdateClient to another owner")
	checkList(t, s, "acct-a", 10, a2)
	checkList(t, s, "acct-b", 10, &moved, b3)

	// A new CreatedAt moves it within its owner's list.
	later := moved
	later.CreatedAt = at(5 * time.Minute)
	wantErr(t, s.UpdateClient(ctx, &later, moved.Generation), nil, "UpdateClient with a new CreatedAt")
	checkList(t, s, "acct-b", 10, b3, &later)

	// Failed updates move nothing.
	stale := *b3
	stale.OwnerAccount = "acct-a"
	stale.Generation++
	wantErr(t, s.UpdateClient(ctx, &stale, b3.Generation+1), store.ErrConflict, "UpdateClient expecting a wrong generation")
	missing := ownedClient("client-missing", "acct-a", at(0))
	wantErr(t, s.UpdateClient(ctx, missing, missing.Generation), store.ErrNotFound, "UpdateClient of a missing client")
	checkList(t, s, "acct-a", 10, a2)
	checkList(t, s, "acct-b", 10, b3, &later)

	// Unowned, then owned again; an unowned client gains an owner.
	free := *a2
	free.OwnerAccount = ""
	wantErr(t, s.UpdateClient(ctx, &free, a2.Generation), nil, "UpdateClient to no owner")
	checkList(t, s, "acct-a", 10)
	wantErr(t, s.UpdateClient(ctx, a2, free.Generation), nil, "UpdateClient back to its owner")
	adopted := *u4
	adopted.OwnerAccount = "acct-a"
	wantErr(t, s.UpdateClient(ctx, &adopted, u4.Generation), nil, "UpdateClient of an unowned client to an owner")
	checkList(t, s, "acct-a", 10, a2, &adopted)

	// Deleted clients leave; a recreated one comes back as created.
	wantErr(t, s.DeleteClient(ctx, "client-1"), nil, "DeleteClient")
	checkList(t, s, "acct-b", 10, b3)
	wantErr(t, s.DeleteClient(ctx, "client-3"), nil, "DeleteClient")
	checkList(t, s, "acct-b", 10)
	wantErr(t, s.DeleteClient(ctx, "client-4"), nil, "DeleteClient")
	checkList(t, s, "acct-a", 10, a2)
	again := ownedClient("client-1", "acct-a", at(0))
	again.Name = "second life"
	createClients(t, s, again)
	checkList(t, s, "acct-a", 10, again, a2)
	checkList(t, s, "acct-b", 10)
}

// testClientListCopies: listed records are copies both ways.
func testClientListCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := []*store.Client{
		ownedClient("client-1", "acct-c", at(time.Minute)),
		ownedClient("client-2", "acct-c", at(2*time.Minute)),
	}
	for _, w := range want {
		c := ownedClient(w.ID, w.OwnerAccount, w.CreatedAt)
		wantErr(t, s.CreateClient(ctx, c), nil, "CreateClient(%q)", c.ID)
		mutateClient(c)
	}
	checkList(t, s, "acct-c", 10, want...)

	got, err := s.ListClientsByOwner(ctx, "acct-c", 10)
	wantErr(t, err, nil, "ListClientsByOwner")
	for _, c := range got {
		mutateClient(c)
	}
	checkList(t, s, "acct-c", 10, want...)
	for _, w := range want {
		c, err := s.GetClient(ctx, w.ID)
		wantErr(t, err, nil, "GetClient(%q)", w.ID)
		checkClient(t, "GetClient after the caller changed a listed record", c, w)
	}
}

// testClientConcurrentMove: concurrent updates give one client to different
// owners; exactly one wins, and only the winner's owner lists it.
func testClientConcurrentMove(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := ownedClient("client-1", "acct-0", at(time.Minute))
	createClients(t, s, orig)
	mk := func(i int) *store.Client {
		c := ownedClient("client-1", fmt.Sprintf("acct-%d", i+1), at(time.Duration(i)*time.Second))
		c.Generation = orig.Generation + 1
		c.Name = fmt.Sprintf("mover %d", i)
		return c
	}
	errs := race(workers, func(i int) error { return s.UpdateClient(ctx, mk(i), orig.Generation) })
	w := exactlyOne(t, "concurrent UpdateClient to different owners", errs, store.ErrConflict)
	checkList(t, s, "acct-0", 10)
	for i := range workers {
		if i == w {
			checkList(t, s, mk(i).OwnerAccount, 10, mk(i))
		} else {
			checkList(t, s, mk(i).OwnerAccount, 10)
		}
	}
}
