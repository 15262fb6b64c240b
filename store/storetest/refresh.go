package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunRefreshTokens checks the [store.RefreshTokens] role.
func RunRefreshTokens(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "CreateGet", testRefreshCreateGet)
	run(t, newStore, "Duplicate", testRefreshDuplicate)
	run(t, newStore, "Copies", testRefreshCopies)
	run(t, newStore, "Consume", testRefreshConsume)
	run(t, newStore, "Expiry", testRefreshExpiry)
	run(t, newStore, "RevokeFamily", testRefreshRevokeFamily)
	run(t, newStore, "ConcurrentConsume", testRefreshConcurrentConsume)
	run(t, newStore, "ConcurrentCreate", testRefreshConcurrentCreate)
	run(t, newStore, "ZeroExpiry", testRefreshZeroExpiry)
	run(t, newStore, "ZeroNow", testRefreshZeroNow)
	run(t, newStore, "Rotate", testRefreshRotate)
	run(t, newStore, "RotateRepeated", testRefreshRotateRepeated)
	run(t, newStore, "RotateRefused", testRefreshRotateRefused)
	run(t, newStore, "ConcurrentRotate", testRefreshConcurrentRotate)
	run(t, newStore, "ConcurrentRotateMany", testRefreshConcurrentRotateMany)
}

// newGrant returns a grant with every field set, valid from base for a day.
func newGrant(subject string) store.Grant {
	return store.Grant{
		Kind:       "account",
		Subject:    subject,
		ClientID:   "client-" + subject,
		AccountID:  subject,
		Scopes:     []string{"write", "read", "offline_access"},
		Audience:   []string{"https://api.example.com", "https://billing.example.com"},
		Generation: 1<<33 + 5,
		IssuedAt:   base,
		ExpiresAt:  at(24 * time.Hour),
	}
}

func newRefresh(label, family string) *store.RefreshToken {
	return &store.RefreshToken{
		Hash:           hashOf(label),
		FamilyID:       family,
		Grant:          newGrant("acct-" + label),
		FamilyIssuedAt: at(-time.Hour),
	}
}

func getRefresh(t *testing.T, s store.Store, hash string, now time.Time, want *store.RefreshToken) {
	t.Helper()
	got, err := s.GetRefreshToken(t.Context(), hash, now)
	if want == nil {
		wantErr(t, err, store.ErrNotFound, "GetRefreshToken(%.12s…, %s)", hash, now.Format(time.RFC3339))
		return
	}
	wantErr(t, err, nil, "GetRefreshToken(%.12s…, %s)", hash, now.Format(time.RFC3339))
	checkRefresh(t, "GetRefreshToken", got, want)
}

// consume consumes hash at now, expects wantErr, and returns the record.
func consume(t *testing.T, s store.Store, hash string, now time.Time, want error) *store.RefreshToken {
	t.Helper()
	got, err := s.ConsumeRefreshToken(t.Context(), hash, now)
	wantErr(t, err, want, "ConsumeRefreshToken(%.12s…, %s)", hash, now.Format(time.RFC3339))
	if (want == nil || errors.Is(want, store.ErrTokenReused)) && got == nil {
		t.Fatalf("ConsumeRefreshToken(%.12s…): got a nil record with error %v, want the stored record", hash, err)
	}
	return got
}

// used returns a copy of r consumed at when.
func used(r *store.RefreshToken, when time.Time) *store.RefreshToken {
	c := *r
	c.UsedAt = when
	return &c
}

func testRefreshCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := newRefresh("full", "family-1")
	sparse := &store.RefreshToken{
		Hash:     hashOf("sparse"),
		FamilyID: "family-2",
		Grant:    store.Grant{Kind: "client", Subject: "client-1", ClientID: "client-1", ExpiresAt: at(time.Hour)},
	}
	for _, r := range []*store.RefreshToken{full, sparse} {
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	}
	getRefresh(t, s, full.Hash, base, full)
	getRefresh(t, s, sparse.Hash, base, sparse)
	// Get does not consume: a consume afterwards succeeds.
	getRefresh(t, s, full.Hash, base, full)
	consume(t, s, full.Hash, base, nil)

	getRefresh(t, s, hashOf("missing"), base, nil)
	for _, k := range oddKeys {
		getRefresh(t, s, k, base, nil)
		consume(t, s, k, base, store.ErrNotFound)
	}
	consume(t, s, hashOf("missing"), base, store.ErrNotFound)
}

func testRefreshDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newRefresh("token", "family-1")
	wantErr(t, s.CreateRefreshToken(ctx, orig), nil, "CreateRefreshToken")
	dup := newRefresh("token", "family-2")
	dup.Subject = "impostor"
	wantErr(t, s.CreateRefreshToken(ctx, dup), store.ErrAlreadyExists, "CreateRefreshToken with a taken hash")
	getRefresh(t, s, orig.Hash, base, orig)
}

func testRefreshCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newRefresh("token", "family-1")
	r := newRefresh("token", "family-1")
	wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	mutateGrant(&r.Grant)
	getRefresh(t, s, want.Hash, base, want)

	got, err := s.GetRefreshToken(ctx, want.Hash, base)
	wantErr(t, err, nil, "GetRefreshToken")
	mutateGrant(&got.Grant)
	getRefresh(t, s, want.Hash, base, want)

	got = consume(t, s, want.Hash, at(time.Minute), nil)
	mutateGrant(&got.Grant)
	getRefresh(t, s, want.Hash, base, used(want, at(time.Minute)))

	got = consume(t, s, want.Hash, at(2*time.Minute), store.ErrTokenReused)
	mutateGrant(&got.Grant)
	getRefresh(t, s, want.Hash, base, used(want, at(time.Minute)))
}

// mutateGrant changes every slice in g in place.
func mutateGrant(g *store.Grant) {
	g.Scopes[0] = "mutated"
	g.Audience[0] = "mutated"
	g.Subject = "mutated"
}

func testRefreshConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	b := newRefresh("b", "family-1")
	for _, r := range []*store.RefreshToken{a, b} {
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	}
	first := at(time.Minute)
	got := consume(t, s, a.Hash, first, nil)
	checkRefresh(t, "first ConsumeRefreshToken", got, used(a, first))

	// The second use reports reuse and returns the record as first used,
	// so that the caller can revoke its family.
	got = consume(t, s, a.Hash, at(2*time.Minute), store.ErrTokenReused)
	checkRefresh(t, "second ConsumeRefreshToken", got, used(a, first))
	got = consume(t, s, a.Hash, at(3*time.Minute), store.ErrTokenReused)
	checkRefresh(t, "third ConsumeRefreshToken", got, used(a, first))
	getRefresh(t, s, a.Hash, at(4*time.Minute), used(a, first))

	// Its sibling is untouched.
	getRefresh(t, s, b.Hash, at(4*time.Minute), b)
	got = consume(t, s, b.Hash, at(5*time.Minute), nil)
	checkRefresh(t, "ConsumeRefreshToken of a sibling", got, used(b, at(5*time.Minute)))
}

func testRefreshExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRefresh("token", "family-1")
	r.ExpiresAt = at(time.Hour)
	wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	before, after := r.ExpiresAt.Add(-time.Second), r.ExpiresAt.Add(time.Second)
	getRefresh(t, s, r.Hash, before, r)
	getRefresh(t, s, r.Hash, after, nil)
	getRefresh(t, s, r.Hash, at(48*time.Hour), nil)
	consume(t, s, r.Hash, after, store.ErrNotFound)
	// Expiry is judged by the now argument alone, and a refused consume
	// consumed nothing.
	got := consume(t, s, r.Hash, before, nil)
	checkRefresh(t, "ConsumeRefreshToken before expiry, after a refused one", got, used(r, before))
}

func testRefreshRevokeFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	b := newRefresh("b", "family-1")
	c := newRefresh("c", "family-2")
	for _, r := range []*store.RefreshToken{a, b, c} {
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	}
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-1"), nil, "RevokeRefreshFamily")
	for _, r := range []*store.RefreshToken{a, b} {
		getRefresh(t, s, r.Hash, base, nil)
		consume(t, s, r.Hash, base, store.ErrNotFound)
	}
	getRefresh(t, s, c.Hash, base, c)

	// A token created later in the revoked family is born dead: a refresh
	// that raced the revocation must not escape it.
	d := newRefresh("d", "family-1")
	wantErr(t, s.CreateRefreshToken(ctx, d), nil, "CreateRefreshToken in a revoked family")
	getRefresh(t, s, d.Hash, base, nil)
	consume(t, s, d.Hash, base, store.ErrNotFound)

	wantErr(t, s.RevokeRefreshFamily(ctx, "family-1"), nil, "RevokeRefreshFamily twice")
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-unknown"), nil, "RevokeRefreshFamily of an unknown family")
	e := newRefresh("e", "family-unknown")
	wantErr(t, s.CreateRefreshToken(ctx, e), nil, "CreateRefreshToken in a family revoked before it existed")
	getRefresh(t, s, e.Hash, base, nil)
	consume(t, s, e.Hash, base, store.ErrNotFound)

	// Other families live on.
	got := consume(t, s, c.Hash, base, nil)
	checkRefresh(t, "ConsumeRefreshToken in another family", got, used(c, base))
}

func testRefreshConcurrentConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Several rounds, each a fresh token, to give a racy backend more than
	// one chance to show it.
	for round := range 4 {
		r := newRefresh(fmt.Sprintf("round-%d", round), fmt.Sprintf("family-%d", round))
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
		// Each goroutine presents the token at its own second, so the
		// stored UsedAt names the winner.
		nows := make([]time.Time, workers)
		recs := make([]*store.RefreshToken, workers)
		for i := range nows {
			nows[i] = at(time.Duration(i+1) * time.Second)
		}
		errs := race(workers, func(i int) error {
			var err error
			recs[i], err = s.ConsumeRefreshToken(ctx, r.Hash, nows[i])
			return err
		})
		w := exactlyOne(t, fmt.Sprintf("round %d: concurrent ConsumeRefreshToken of one token", round), errs, store.ErrTokenReused)
		want := used(r, nows[w])
		checkRefresh(t, "the winner's record", recs[w], want)
		for i, rec := range recs {
			if i == w {
				continue
			}
			if rec == nil {
				t.Fatalf("round %d: goroutine %d got ErrTokenReused without the record", round, i)
			}
			// A loser learns of the reuse from the winner's write, so the
			// record it gets back already carries the winner's UsedAt.
			checkRefresh(t, fmt.Sprintf("round %d: goroutine %d's reused record", round, i), rec, want)
		}
		getRefresh(t, s, r.Hash, base, want)
	}
}

// testRefreshConcurrentCreate: creates of distinct tokens at once all
// succeed and are all stored, and of two creates of one hash at once
// exactly one does (a store may commit concurrent writes together, as
// sqlstore does on SQLite; each must still answer as it would alone).
func testRefreshConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 4 {
		toks := make([]*store.RefreshToken, workers)
		for i := range toks {
			// Goroutines 2k and 2k+1 create the same hash, with grants
			// that tell which of them was stored.
			toks[i] = newRefresh(fmt.Sprintf("round-%d-token-%d", round, i/2), fmt.Sprintf("family-%d-%d", round, i))
		}
		errs := race(workers, func(i int) error { return s.CreateRefreshToken(ctx, toks[i]) })
		for k := 0; k < workers; k += 2 { // workers is even
			w := exactlyOne(t, fmt.Sprintf("round %d: concurrent CreateRefreshToken of hash %d", round, k/2), errs[k:k+2], store.ErrAlreadyExists)
			getRefresh(t, s, toks[k+w].Hash, base, toks[k+w])
		}
	}
}

// testRefreshZeroExpiry: a token without an expiry is refused at create, and
// the refused create claims nothing: backends used to disagree on whether it
// lived for ever or died at once.
func testRefreshZeroExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRefresh("token", "family-1")
	r.ExpiresAt = time.Time{}
	wantInvalid(t, s.CreateRefreshToken(ctx, r), "CreateRefreshToken with a zero ExpiresAt")
	getRefresh(t, s, r.Hash, base, nil)
	consume(t, s, r.Hash, base, store.ErrNotFound)
	r.ExpiresAt = at(time.Hour)
	wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken with the hash of a refused one")
	getRefresh(t, s, r.Hash, base, r)
}

// testRefreshZeroNow: a consume at the zero time is the caller's bug. It
// must neither consume (a zero UsedAt reads as unused, so the token could be
// consumed twice) nor answer about the token.
func testRefreshZeroNow(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRefresh("token", "family-1")
	wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	_, err := s.ConsumeRefreshToken(ctx, r.Hash, time.Time{})
	wantInvalid(t, err, "ConsumeRefreshToken at the zero time")
	getRefresh(t, s, r.Hash, base, r)
	got := consume(t, s, r.Hash, base, nil)
	checkRefresh(t, "ConsumeRefreshToken after one at the zero time", got, used(r, base))
	_, err = s.ConsumeRefreshToken(ctx, r.Hash, time.Time{})
	wantInvalid(t, err, "ConsumeRefreshToken of a used token at the zero time")
	_, err = s.ConsumeRefreshToken(ctx, hashOf("missing"), time.Time{})
	wantInvalid(t, err, "ConsumeRefreshToken of a missing token at the zero time")
	consume(t, s, r.Hash, at(time.Minute), store.ErrTokenReused)
}

// rotate rotates oldHash to next at now and expects want.
func rotate(t *testing.T, s store.Store, oldHash string, next *store.RefreshToken, now time.Time, want error) {
	t.Helper()
	err := s.RotateRefreshToken(t.Context(), oldHash, next, now)
	wantErr(t, err, want, "RotateRefreshToken(%.12s… → %.12s…, %s)", oldHash, next.Hash, now.Format(time.RFC3339))
}

// rotated returns a copy of r consumed at when by a rotation to next.
func rotated(r *store.RefreshToken, when time.Time, next string) *store.RefreshToken {
	c := used(r, when)
	c.ReplacedBy = next
	return c
}

func testRefreshRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	wantErr(t, s.CreateRefreshToken(ctx, a), nil, "CreateRefreshToken")
	b := newRefresh("b", "family-1")
	b.IssuedAt, b.ExpiresAt = at(time.Minute), at(25*time.Hour)
	rotate(t, s, a.Hash, b, at(time.Minute), nil)
	getRefresh(t, s, a.Hash, at(2*time.Minute), rotated(a, at(time.Minute), b.Hash))
	getRefresh(t, s, b.Hash, at(2*time.Minute), b)
	// The successor is a token like any other: it expires by its own
	// ExpiresAt (past its predecessor's), rotates and is consumed.
	getRefresh(t, s, b.Hash, at(24*time.Hour+time.Minute), b)
	c := newRefresh("c", "family-1")
	rotate(t, s, b.Hash, c, at(3*time.Minute), nil)
	getRefresh(t, s, b.Hash, at(4*time.Minute), rotated(b, at(3*time.Minute), c.Hash))
	consume(t, s, c.Hash, at(5*time.Minute), nil)
	// A token consumed without a successor is reused for a rotation.
	rotate(t, s, c.Hash, newRefresh("d", "family-1"), at(6*time.Minute), store.ErrTokenReused)
	getRefresh(t, s, hashOf("d"), at(6*time.Minute), nil)

	// A successor stored by a rotation is revoked with its family.
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-1"), nil, "RevokeRefreshFamily")
	getRefresh(t, s, b.Hash, at(4*time.Minute), nil)
}

// testRefreshRotateRepeated: the same rotation sent again (a client library
// re-sending a command whose reply it lost) succeeds again, changes
// nothing, and is never taken for reuse; another successor then is.
func testRefreshRotateRepeated(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	wantErr(t, s.CreateRefreshToken(ctx, a), nil, "CreateRefreshToken")
	b := newRefresh("b", "family-1")
	rotate(t, s, a.Hash, b, at(time.Minute), nil)
	rotate(t, s, a.Hash, b, at(time.Minute), nil)
	rotate(t, s, a.Hash, b, at(2*time.Minute), nil)
	getRefresh(t, s, a.Hash, at(3*time.Minute), rotated(a, at(time.Minute), b.Hash))
	getRefresh(t, s, b.Hash, at(3*time.Minute), b)

	other := newRefresh("other", "family-1")
	rotate(t, s, a.Hash, other, at(4*time.Minute), store.ErrTokenReused)
	getRefresh(t, s, other.Hash, at(4*time.Minute), nil)
	got := consume(t, s, a.Hash, at(5*time.Minute), store.ErrTokenReused)
	checkRefresh(t, "ConsumeRefreshToken of a rotated token", got, rotated(a, at(time.Minute), b.Hash))
	// The successor is untouched by all that.
	getRefresh(t, s, b.Hash, at(6*time.Minute), b)
	// Once the successor is used, the same rotation still answers as it
	// did: the request id is the old token's record, not the successor's.
	consume(t, s, b.Hash, at(7*time.Minute), nil)
	rotate(t, s, a.Hash, b, at(8*time.Minute), nil)
}

// testRefreshRotateRefused: a rotation that cannot happen stores nothing
// and leaves the old token as it was.
func testRefreshRotateRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	a.ExpiresAt = at(time.Hour)
	taken := newRefresh("taken", "family-2")
	for _, r := range []*store.RefreshToken{a, taken} {
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
	}
	next := newRefresh("next", "family-1")

	rotate(t, s, hashOf("missing"), next, base, store.ErrNotFound)
	for _, k := range oddKeys {
		rotate(t, s, k, next, base, store.ErrNotFound)
	}
	rotate(t, s, a.Hash, next, at(2*time.Hour), store.ErrNotFound) // expired
	wrongFamily := newRefresh("next", "family-2")
	rotate(t, s, a.Hash, wrongFamily, base, store.ErrNotFound)
	dup := newRefresh("taken", "family-1")
	rotate(t, s, a.Hash, dup, base, store.ErrAlreadyExists)
	getRefresh(t, s, taken.Hash, base, taken)

	zero := newRefresh("next", "family-1")
	zero.ExpiresAt = time.Time{}
	wantInvalid(t, s.RotateRefreshToken(ctx, a.Hash, zero, base), "RotateRefreshToken to a successor without expiry")
	wantInvalid(t, s.RotateRefreshToken(ctx, a.Hash, next, time.Time{}), "RotateRefreshToken at the zero time")
	getRefresh(t, s, next.Hash, base, nil)
	getRefresh(t, s, a.Hash, base, a)

	// None of that consumed a: it rotates now.
	rotate(t, s, a.Hash, next, base, nil)
	getRefresh(t, s, next.Hash, base, next)

	// A revoked family rotates nothing.
	c := newRefresh("c", "family-3")
	wantErr(t, s.CreateRefreshToken(ctx, c), nil, "CreateRefreshToken")
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-3"), nil, "RevokeRefreshFamily")
	d := newRefresh("d", "family-3")
	rotate(t, s, c.Hash, d, base, store.ErrNotFound)
	getRefresh(t, s, d.Hash, base, nil)
	// Its hash was not kept either: a create with it works.
	wantErr(t, s.CreateRefreshToken(ctx, newRefresh("d", "family-4")), nil, "CreateRefreshToken with the hash of a refused successor")
}

// testRefreshConcurrentRotate: of concurrent rotations of one token to
// different successors exactly one wins, and only its successor is stored;
// the same rotation sent concurrently all succeeds.
func testRefreshConcurrentRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 4 {
		fam := fmt.Sprintf("family-%d", round)
		r := newRefresh(fmt.Sprintf("round-%d", round), fam)
		wantErr(t, s.CreateRefreshToken(ctx, r), nil, "CreateRefreshToken")
		nexts := make([]*store.RefreshToken, workers)
		for i := range nexts {
			nexts[i] = newRefresh(fmt.Sprintf("round-%d-next-%d", round, i), fam)
		}
		errs := race(workers, func(i int) error {
			return s.RotateRefreshToken(ctx, r.Hash, nexts[i], at(time.Duration(i+1)*time.Second))
		})
		w := exactlyOne(t, fmt.Sprintf("round %d: concurrent RotateRefreshToken of one token", round), errs, store.ErrTokenReused)
		getRefresh(t, s, r.Hash, base, rotated(r, at(time.Duration(w+1)*time.Second), nexts[w].Hash))
		for i, n := range nexts {
			if i == w {
				getRefresh(t, s, n.Hash, base, n)
			} else {
				getRefresh(t, s, n.Hash, base, nil)
			}
		}

		// The winner's rotation, sent again by many at once: all succeed.
		errs = race(workers, func(int) error {
			return s.RotateRefreshToken(ctx, r.Hash, nexts[w], at(time.Minute))
		})
		for i, err := range errs {
			wantErr(t, err, nil, "round %d: goroutine %d repeating the winning rotation", round, i)
		}
	}
}

// testRefreshConcurrentRotateMany: rotations of distinct tokens at once
// each answer as they would alone, though a store may commit them
// together: one whose successor's hash is taken gets ErrAlreadyExists and
// leaves its token unused, and the others are not held back by it.
func testRefreshConcurrentRotateMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 4 {
		taken := newRefresh(fmt.Sprintf("round-%d-taken", round), "family-taken")
		wantErr(t, s.CreateRefreshToken(ctx, taken), nil, "CreateRefreshToken")
		olds := make([]*store.RefreshToken, workers)
		nexts := make([]*store.RefreshToken, workers)
		for i := range olds {
			fam := fmt.Sprintf("family-%d-%d", round, i)
			olds[i] = newRefresh(fmt.Sprintf("round-%d-old-%d", round, i), fam)
			wantErr(t, s.CreateRefreshToken(ctx, olds[i]), nil, "CreateRefreshToken")
			nexts[i] = newRefresh(fmt.Sprintf("round-%d-next-%d", round, i), fam)
		}
		clash := round % workers
		nexts[clash].Hash = taken.Hash
		now := at(time.Second)
		errs := race(workers, func(i int) error { return s.RotateRefreshToken(ctx, olds[i].Hash, nexts[i], now) })
		for i, err := range errs {
			if i == clash {
				wantErr(t, err, store.ErrAlreadyExists, "round %d: goroutine %d rotating to a taken hash", round, i)
				getRefresh(t, s, olds[i].Hash, base, olds[i])
				continue
			}
			wantErr(t, err, nil, "round %d: goroutine %d rotating its own token", round, i)
			getRefresh(t, s, olds[i].Hash, base, rotated(olds[i], now, nexts[i].Hash))
			getRefresh(t, s, nexts[i].Hash, base, nexts[i])
		}
		getRefresh(t, s, taken.Hash, base, taken)
	}
}
