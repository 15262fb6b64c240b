package storetest

import (
	"fmt"
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
