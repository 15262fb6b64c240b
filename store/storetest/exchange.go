package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunRefreshExchanger checks [store.RefreshExchanger]: an exchange that
// meets every condition rotates the presented token to exactly the record
// [store.RefreshExchange.Successor] builds, and any other answers
// [store.ErrNotFound] (or [store.ErrAlreadyExists] for a taken successor
// hash) and changes nothing, so that the issuer can fall back to reading
// the token. Of concurrent exchanges, rotations and consumes of one token
// exactly one succeeds.
func RunRefreshExchanger(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Exchange", testExchange)
	run(t, newStore, "ExchangeCopies", testExchangeCopies)
	run(t, newStore, "ExchangeUnmatched", testExchangeUnmatched)
	run(t, newStore, "ExchangeScopes", testExchangeScopes)
	run(t, newStore, "ExchangeNotLive", testExchangeNotLive)
	run(t, newStore, "ExchangeUsed", testExchangeUsed)
	run(t, newStore, "ExchangeDuplicateNext", testExchangeDuplicateNext)
	run(t, newStore, "ExchangeFamilyLifetime", testExchangeFamilyLifetime)
	run(t, newStore, "ExchangeLegacyFamilyStart", testExchangeLegacyFamilyStart)
	run(t, newStore, "ExchangeZero", testExchangeZero)
	run(t, newStore, "ConcurrentExchange", testExchangeConcurrent)
	run(t, newStore, "ConcurrentExchangeMixed", testExchangeConcurrentMixed)
	run(t, newStore, "ConcurrentExchangeMany", testExchangeConcurrentMany)
}

// newExchange returns an exchange of r at now to the successor labelled
// next that r matches: r's kind, client and generation, more scopes than r
// has (in another order), an audience of its own, a day's expiry and no
// family lifetime.
func newExchange(r *store.RefreshToken, next string, now time.Time) *store.RefreshExchange {
	scopes := append(slices.Clone(r.Scopes), "profile")
	slices.Reverse(scopes)
	return &store.RefreshExchange{
		Hash:       r.Hash,
		Next:       hashOf(next),
		Now:        now,
		Kind:       r.Kind,
		ClientID:   r.ClientID,
		Generation: r.Generation,
		Scopes:     scopes,
		Audience:   []string{"https://next.example.com"},
		ExpiresAt:  now.Add(24 * time.Hour),
	}
}

// exchange runs x, expects want, and on success checks that the answer is
// r as the exchange leaves it (r is the presented token as stored).
func exchange(t *testing.T, s store.Store, r *store.RefreshToken, x *store.RefreshExchange, want error) {
	t.Helper()
	rx := capability[store.RefreshExchanger](t, s, "RefreshExchanger")
	got, err := rx.ExchangeRefreshToken(t.Context(), x)
	wantErr(t, err, want, "ExchangeRefreshToken(%.12s… → %.12s…, %s)", x.Hash, x.Next, x.Now.Format(time.RFC3339))
	if want == nil {
		checkRefresh(t, "ExchangeRefreshToken's answer", got, exchanged(r, x))
	}
}

// exchanged returns a copy of r consumed by the exchange x.
func exchanged(r *store.RefreshToken, x *store.RefreshExchange) *store.RefreshToken {
	return rotated(r, x.Now, x.Next)
}

// wantExchanged checks that the exchange x of r happened: r reads as
// used by it and x.Next as r's successor, which it returns.
func wantExchanged(t *testing.T, s store.Store, r *store.RefreshToken, x *store.RefreshExchange) *store.RefreshToken {
	t.Helper()
	getRefresh(t, s, r.Hash, base, exchanged(r, x))
	next := x.Successor(r)
	getRefresh(t, s, x.Next, base, next)
	return next
}

// unchanged checks that the refused exchange x changed nothing: r reads
// as it was stored and x.Next is not stored. (Every token the cases below
// refuse while it lives is live at base.)
func unchanged(t *testing.T, s store.Store, r *store.RefreshToken, x *store.RefreshExchange) {
	t.Helper()
	getRefresh(t, s, r.Hash, base, r)
	getRefresh(t, s, x.Next, base, nil)
}

// createRefresh stores each of rs.
func createRefresh(t *testing.T, s store.Store, rs ...*store.RefreshToken) {
	t.Helper()
	for _, r := range rs {
		wantErr(t, s.CreateRefreshToken(t.Context(), r), nil, "CreateRefreshToken(%.12s…)", r.Hash)
	}
}

func testExchange(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	createRefresh(t, s, a)
	x := newExchange(a, "b", at(time.Minute))
	exchange(t, s, a, x, nil)
	b := wantExchanged(t, s, a, x)

	// a is used: a rotation or consume of it is a reuse, which reads its
	// record as the exchange left it.
	rotate(t, s, a.Hash, newRefresh("other", "family-1"), at(2*time.Minute), store.ErrTokenReused)
	got := consume(t, s, a.Hash, at(3*time.Minute), store.ErrTokenReused)
	checkRefresh(t, "ConsumeRefreshToken of an exchanged token", got, exchanged(a, x))
	getRefresh(t, s, hashOf("other"), base, nil)

	// The successor is a token like any other, of a's family: it is
	// exchanged in turn, and revoked with the family.
	y := newExchange(b, "c", at(time.Hour))
	exchange(t, s, b, y, nil)
	wantExchanged(t, s, b, y)
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-1"), nil, "RevokeRefreshFamily")
	getRefresh(t, s, y.Next, base, nil)
	c := y.Successor(b)
	exchange(t, s, c, newExchange(c, "d", at(2*time.Hour)), store.ErrNotFound)
}

// testExchangeCopies: the store keeps neither the exchange's slices nor
// the answer's.
func testExchangeCopies(t *testing.T, s store.Store) {
	a := newRefresh("a", "family-1")
	createRefresh(t, s, a)
	x := newExchange(a, "b", at(time.Minute))
	wantOld, wantNext := exchanged(a, x), x.Successor(a)
	rx := capability[store.RefreshExchanger](t, s, "RefreshExchanger")
	got, err := rx.ExchangeRefreshToken(t.Context(), x)
	wantErr(t, err, nil, "ExchangeRefreshToken")
	mutateGrant(&got.Grant)
	x.Audience[0] = "mutated"
	x.Scopes[0] = "mutated"
	getRefresh(t, s, a.Hash, base, wantOld)
	getRefresh(t, s, wantNext.Hash, base, wantNext)
}

// testExchangeUnmatched: a token that is live and unused but not the one
// x describes is not exchanged: not found, and nothing changes, so that
// the same exchange made right succeeds afterwards, with the same Next.
// Strings compare exactly (a case-insensitive collation would match).
func testExchangeUnmatched(t *testing.T, s store.Store) {
	for i, c := range []struct {
		name string
		edit func(x *store.RefreshExchange)
	}{
		{"another kind", func(x *store.RefreshExchange) { x.Kind = "client" }},
		{"the kind in another case", func(x *store.RefreshExchange) { x.Kind = "Account" }},
		{"another client", func(x *store.RefreshExchange) { x.ClientID = "client-other" }},
		{"the client in another case", func(x *store.RefreshExchange) { x.ClientID = strings.ToUpper(x.ClientID) }},
		{"no client", func(x *store.RefreshExchange) { x.ClientID = "" }},
		{"an older generation", func(x *store.RefreshExchange) { x.Generation-- }},
		{"a newer generation", func(x *store.RefreshExchange) { x.Generation++ }},
		{"a scope lost", func(x *store.RefreshExchange) { x.Scopes = []string{"offline_access", "read", "profile"} }},
		{"every scope lost", func(x *store.RefreshExchange) { x.Scopes = nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRefresh(fmt.Sprintf("token-%d", i), fmt.Sprintf("family-%d", i))
			createRefresh(t, s, r)
			next := fmt.Sprintf("next-%d", i)
			x := newExchange(r, next, at(time.Minute))
			c.edit(x)
			exchange(t, s, r, x, store.ErrNotFound)
			unchanged(t, s, r, x)
			x = newExchange(r, next, at(2*time.Minute))
			exchange(t, s, r, x, nil)
			wantExchanged(t, s, r, x)
		})
	}
}

// testExchangeScopes: each of the token's scopes must be among x.Scopes,
// in any order and compared exactly (no collation's case or trailing
// space rules); a token without scopes (nil or empty) matches any, none
// included. A match keeps the token's scopes, not x's.
func testExchangeScopes(t *testing.T, s store.Store) {
	for i, c := range []struct {
		name           string // the token's scopes "in" x's
		token, allowed []string
		match          bool
	}{
		{"nil in nil", nil, nil, true},
		{"nil in empty", nil, []string{}, true},
		{"nil in a", nil, []string{"a"}, true},
		{"empty in nil", []string{}, nil, true},
		{"empty in a", []string{}, []string{"a"}, true},
		{"ab in bca", []string{"a", "b"}, []string{"b", "c", "a"}, true},
		{"ab in ab", []string{"a", "b"}, []string{"a", "b"}, true},
		{"ab in a", []string{"a", "b"}, []string{"a"}, false},
		{"ab in bc", []string{"a", "b"}, []string{"b", "c"}, false},
		{"a in nil", []string{"a"}, nil, false},
		{"a in empty", []string{"a"}, []string{}, false},
		{"a in A", []string{"a"}, []string{"A"}, false},
		{"a in a-space", []string{"a"}, []string{"a "}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRefresh(fmt.Sprintf("token-%d", i), fmt.Sprintf("family-%d", i))
			r.Scopes = c.token
			createRefresh(t, s, r)
			x := newExchange(r, fmt.Sprintf("next-%d", i), at(time.Minute))
			x.Scopes = c.allowed
			if !c.match {
				exchange(t, s, r, x, store.ErrNotFound)
				unchanged(t, s, r, x)
				return
			}
			exchange(t, s, r, x, nil)
			wantExchanged(t, s, r, x)
		})
	}
}

// testExchangeNotLive: a missing, expired or revoked token is not found,
// and the refusal stores nothing.
func testExchangeNotLive(t *testing.T, s store.Store) {
	ctx := t.Context()
	missing := newRefresh("missing", "family-1")
	exchange(t, s, missing, newExchange(missing, "next", base), store.ErrNotFound)
	for _, k := range oddKeys {
		x := newExchange(missing, "next", base)
		x.Hash = k
		exchange(t, s, missing, x, store.ErrNotFound)
	}
	getRefresh(t, s, hashOf("next"), base, nil)

	// Expiry is judged at x.Now alone; a second either side (see the
	// package doc).
	r := newRefresh("expiring", "family-2")
	r.ExpiresAt = at(time.Hour)
	createRefresh(t, s, r)
	x := newExchange(r, "next", r.ExpiresAt.Add(time.Second))
	exchange(t, s, r, x, store.ErrNotFound)
	unchanged(t, s, r, x)
	x = newExchange(r, "next", r.ExpiresAt.Add(-time.Second))
	exchange(t, s, r, x, nil)
	wantExchanged(t, s, r, x)

	revoked := newRefresh("revoked", "family-3")
	createRefresh(t, s, revoked)
	wantErr(t, s.RevokeRefreshFamily(ctx, "family-3"), nil, "RevokeRefreshFamily")
	x = newExchange(revoked, "revoked-next", at(time.Minute))
	exchange(t, s, revoked, x, store.ErrNotFound)
	getRefresh(t, s, x.Next, base, nil)
	// The refused successor's hash was not kept either.
	createRefresh(t, s, newRefresh("revoked-next", "family-4"))
}

// testExchangeUsed: a used token is not found, however it was used (the
// issuer then reads it to tell reuse from the grace period), and keeps
// the record of its use. That holds for the very exchange that used it,
// sent again: unlike a rotation, an exchange has no request id, and its
// successor's hash being taken does not make it ErrAlreadyExists.
func testExchangeUsed(t *testing.T, s store.Store) {
	consumed := newRefresh("consumed", "family-1")
	rotatedTok := newRefresh("rotated", "family-2")
	exchangedTok := newRefresh("exchanged", "family-3")
	createRefresh(t, s, consumed, rotatedTok, exchangedTok)
	first := at(time.Minute)
	later := at(2 * time.Minute)

	consume(t, s, consumed.Hash, first, nil)
	x := newExchange(consumed, "consumed-next", later)
	exchange(t, s, consumed, x, store.ErrNotFound)
	getRefresh(t, s, consumed.Hash, base, used(consumed, first))
	getRefresh(t, s, x.Next, base, nil)

	successor := newRefresh("rotated-next", "family-2")
	rotate(t, s, rotatedTok.Hash, successor, first, nil)
	x = newExchange(rotatedTok, "rotated-other", later)
	exchange(t, s, rotatedTok, x, store.ErrNotFound)
	getRefresh(t, s, rotatedTok.Hash, base, rotated(rotatedTok, first, successor.Hash))
	getRefresh(t, s, successor.Hash, base, successor)
	getRefresh(t, s, x.Next, base, nil)

	done := newExchange(exchangedTok, "exchanged-next", first)
	exchange(t, s, exchangedTok, done, nil)
	again := newExchange(exchangedTok, "exchanged-next", later)
	exchange(t, s, exchangedTok, again, store.ErrNotFound)
	other := newExchange(exchangedTok, "exchanged-other", later)
	exchange(t, s, exchangedTok, other, store.ErrNotFound)
	wantExchanged(t, s, exchangedTok, done)
	getRefresh(t, s, other.Next, base, nil)
}

// testExchangeDuplicateNext: a successor hash that another token holds is
// ErrAlreadyExists; the presented token stays unused and the other token
// as it was.
func testExchangeDuplicateNext(t *testing.T, s store.Store) {
	a := newRefresh("a", "family-1")
	taken := newRefresh("taken", "family-2")
	sibling := newRefresh("sibling", "family-1")
	createRefresh(t, s, a, taken, sibling)
	for _, holder := range []*store.RefreshToken{taken, sibling} {
		x := newExchange(a, "", at(time.Minute))
		x.Next = holder.Hash
		exchange(t, s, a, x, store.ErrAlreadyExists)
		getRefresh(t, s, a.Hash, base, a)
		getRefresh(t, s, holder.Hash, base, holder)
	}
	x := newExchange(a, "next", at(2*time.Minute))
	exchange(t, s, a, x, nil)
	wantExchanged(t, s, a, x)
	getRefresh(t, s, taken.Hash, base, taken)
	getRefresh(t, s, sibling.Hash, base, sibling)
}

// testExchangeFamilyLifetime: with MaxFamilyLifetime, the family ends at
// its start (FamilyIssuedAt) plus the lifetime: an exchange at or after
// the end is not found, and the successor expires at the end if that
// comes before x.ExpiresAt. The end itself is pinned (ended at exactly
// start+lifetime), as [store.RefreshExchange.Matches] defines it.
func testExchangeFamilyLifetime(t *testing.T, s store.Store) {
	start := at(-time.Hour) // newRefresh's FamilyIssuedAt
	for i, c := range []struct {
		name     string
		lifetime time.Duration
		now      time.Time
		expires  time.Time
		want     time.Time // the successor's ExpiresAt; zero: refused
	}{
		{"no lifetime", 0, at(time.Minute), at(1000 * time.Hour), at(1000 * time.Hour)},
		{"a negative lifetime: none", -time.Hour, at(time.Minute), at(1000 * time.Hour), at(1000 * time.Hour)},
		{"a family that ends after the successor", 48 * time.Hour, at(time.Minute), at(24 * time.Hour), at(24 * time.Hour)},
		{"a family that ends with the successor", 25 * time.Hour, at(time.Minute), at(24 * time.Hour), at(24 * time.Hour)},
		{"a family that ends before the successor", 10 * time.Hour, at(time.Minute), at(24 * time.Hour), at(9 * time.Hour)},
		{"a second before the family ends", 10 * time.Hour, at(9*time.Hour - time.Second), at(24 * time.Hour), at(9 * time.Hour)},
		{"as the family ends", 10 * time.Hour, at(9 * time.Hour), at(24 * time.Hour), time.Time{}},
		{"after the family ended", 10 * time.Hour, at(10 * time.Hour), at(24 * time.Hour), time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRefresh(fmt.Sprintf("token-%d", i), fmt.Sprintf("family-%d", i))
			createRefresh(t, s, r)
			x := newExchange(r, fmt.Sprintf("next-%d", i), c.now)
			x.MaxFamilyLifetime, x.ExpiresAt = c.lifetime, c.expires
			exchangeTimed(t, s, r, x, c.want, start)
		})
	}
}

// exchangeTimed exchanges r with x and checks the successor's expiry and
// family start, or, when expires is zero, that the exchange is refused and
// changes nothing.
func exchangeTimed(t *testing.T, s store.Store, r *store.RefreshToken, x *store.RefreshExchange, expires, familyStart time.Time) {
	t.Helper()
	if expires.IsZero() {
		exchange(t, s, r, x, store.ErrNotFound)
		unchanged(t, s, r, x)
		return
	}
	exchange(t, s, r, x, nil)
	// The store matched Successor; Successor must match the table.
	next := wantExchanged(t, s, r, x)
	if !same(next.ExpiresAt, expires) || !same(next.FamilyIssuedAt, familyStart) {
		t.Errorf("the successor expires at %s in a family from %s, want %s and %s",
			next.ExpiresAt.Format(time.RFC3339), next.FamilyIssuedAt.Format(time.RFC3339),
			expires.Format(time.RFC3339), familyStart.Format(time.RFC3339))
	}
}

// testExchangeLegacyFamilyStart: a token stored before families recorded
// their start (a zero FamilyIssuedAt) counts its family from its own
// IssuedAt, and hands that start on to its successor.
func testExchangeLegacyFamilyStart(t *testing.T, s store.Store) {
	issued := at(-2 * time.Hour)
	for i, c := range []struct {
		name     string
		lifetime time.Duration
		now      time.Time
		want     time.Time // the successor's ExpiresAt; zero: refused
	}{
		{"no lifetime", 0, at(time.Minute), at(24*time.Hour + time.Minute)},
		{"a family that ends before the successor", 10 * time.Hour, at(time.Minute), at(8 * time.Hour)},
		{"a second before the family ends", 10 * time.Hour, at(8*time.Hour - time.Second), at(8 * time.Hour)},
		{"as the family ends", 10 * time.Hour, at(8 * time.Hour), time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRefresh(fmt.Sprintf("token-%d", i), fmt.Sprintf("family-%d", i))
			r.IssuedAt, r.FamilyIssuedAt = issued, time.Time{}
			createRefresh(t, s, r)
			x := newExchange(r, fmt.Sprintf("next-%d", i), c.now)
			x.MaxFamilyLifetime = c.lifetime
			exchangeTimed(t, s, r, x, c.want, issued)
		})
	}
}

// testExchangeZero: a zero Now (UsedAt zero reads as unused) or a zero
// ExpiresAt is the caller's bug: an error that is none of the sentinels,
// whatever the token, and nothing changes.
func testExchangeZero(t *testing.T, s store.Store) {
	rx := capability[store.RefreshExchanger](t, s, "RefreshExchanger")
	ctx := t.Context()
	a := newRefresh("a", "family-1")
	b := newRefresh("b", "family-2")
	createRefresh(t, s, a, b)
	consume(t, s, b.Hash, base, nil)
	missing := newRefresh("missing", "family-3")
	for _, r := range []*store.RefreshToken{a, b, missing} {
		zeroNow := newExchange(r, "next", base)
		zeroNow.Now = time.Time{}
		_, err := rx.ExchangeRefreshToken(ctx, zeroNow)
		wantInvalid(t, err, "ExchangeRefreshToken(%.12s…) at the zero time", r.Hash)
		zeroExpiry := newExchange(r, "next", base)
		zeroExpiry.ExpiresAt = time.Time{}
		_, err = rx.ExchangeRefreshToken(ctx, zeroExpiry)
		wantInvalid(t, err, "ExchangeRefreshToken(%.12s…) to a successor without expiry", r.Hash)
	}
	x := newExchange(a, "next", at(time.Minute))
	unchanged(t, s, a, x)
	getRefresh(t, s, b.Hash, base, used(b, base))
	exchange(t, s, a, x, nil)
	wantExchanged(t, s, a, x)
}

// testExchangeConcurrent: of concurrent exchanges of one token, each to
// its own successor, exactly one succeeds; the others are not found, and
// only the winner's successor is stored.
func testExchangeConcurrent(t *testing.T, s store.Store) {
	rx := capability[store.RefreshExchanger](t, s, "RefreshExchanger")
	ctx := t.Context()
	for round := range 4 {
		r := newRefresh(fmt.Sprintf("round-%d", round), fmt.Sprintf("family-%d", round))
		createRefresh(t, s, r)
		xs := make([]*store.RefreshExchange, workers)
		recs := make([]*store.RefreshToken, workers)
		for i := range xs {
			// Each at its own second, so that the stored UsedAt names
			// the winner too.
			xs[i] = newExchange(r, fmt.Sprintf("round-%d-next-%d", round, i), at(time.Duration(i+1)*time.Second))
		}
		errs := race(workers, func(i int) error {
			var err error
			recs[i], err = rx.ExchangeRefreshToken(ctx, xs[i])
			return err
		})
		w := exactlyOne(t, fmt.Sprintf("round %d: concurrent ExchangeRefreshToken of one token", round), errs, store.ErrNotFound)
		checkRefresh(t, "the winner's answer", recs[w], exchanged(r, xs[w]))
		wantExchanged(t, s, r, xs[w])
		for i, x := range xs {
			if i != w {
				getRefresh(t, s, x.Next, base, nil)
			}
		}
	}
}

// testExchangeConcurrentMixed: exchanges, rotations and consumes of one
// token at once: exactly one of them all succeeds, each loser answers as
// its method does for a used token, and only the winner's successor (if it
// made one) is stored.
func testExchangeConcurrentMixed(t *testing.T, s store.Store) {
	rx := capability[store.RefreshExchanger](t, s, "RefreshExchanger")
	ctx := t.Context()
	const (
		exchanging = iota
		rotating
		consuming
	)
	kind := func(i int) int { return i % 3 }
	for round := range 4 {
		fam := fmt.Sprintf("family-%d", round)
		r := newRefresh(fmt.Sprintf("round-%d", round), fam)
		createRefresh(t, s, r)
		nows := make([]time.Time, workers)
		xs := make([]*store.RefreshExchange, workers)
		nexts := make([]*store.RefreshToken, workers)
		losers := make([]error, workers)
		for i := range workers {
			nows[i] = at(time.Duration(i+1) * time.Second)
			label := fmt.Sprintf("round-%d-next-%d", round, i)
			xs[i] = newExchange(r, label, nows[i])
			nexts[i] = newRefresh(label, fam)
			losers[i] = store.ErrTokenReused
			if kind(i) == exchanging {
				losers[i] = store.ErrNotFound
			}
		}
		errs := race(workers, func(i int) error {
			switch kind(i) {
			case exchanging:
				_, err := rx.ExchangeRefreshToken(ctx, xs[i])
				return err
			case rotating:
				return s.RotateRefreshToken(ctx, r.Hash, nexts[i], nows[i])
			default:
				_, err := s.ConsumeRefreshToken(ctx, r.Hash, nows[i])
				return err
			}
		})
		what := fmt.Sprintf("round %d: concurrent exchanges, rotations and consumes of one token", round)
		w := exactlyOneEach(t, what, errs, losers)
		switch kind(w) {
		case exchanging:
			wantExchanged(t, s, r, xs[w])
		case rotating:
			getRefresh(t, s, r.Hash, base, rotated(r, nows[w], nexts[w].Hash))
			getRefresh(t, s, nexts[w].Hash, base, nexts[w])
		case consuming:
			getRefresh(t, s, r.Hash, base, used(r, nows[w]))
		}
		for i, x := range xs { // xs[i].Next is nexts[i].Hash
			if i != w {
				getRefresh(t, s, x.Next, base, nil)
			}
		}
	}
}

// testExchangeConcurrentMany: exchanges of distinct tokens at once each
// answer as they would alone, though a store may commit them together:
// one whose successor's hash is taken gets ErrAlreadyExists and leaves its
// token unused, and the others are not held back by it.
func testExchangeConcurrentMany(t *testing.T, s store.Store) {
	rx := capability[store.RefreshExchanger](t, s, "RefreshExchanger")
	ctx := t.Context()
	for round := range 4 {
		taken := newRefresh(fmt.Sprintf("round-%d-taken", round), "family-taken")
		createRefresh(t, s, taken)
		olds := make([]*store.RefreshToken, workers)
		xs := make([]*store.RefreshExchange, workers)
		for i := range olds {
			olds[i] = newRefresh(fmt.Sprintf("round-%d-old-%d", round, i), fmt.Sprintf("family-%d-%d", round, i))
			createRefresh(t, s, olds[i])
			xs[i] = newExchange(olds[i], fmt.Sprintf("round-%d-next-%d", round, i), at(time.Second))
		}
		clash := round % workers
		xs[clash].Next = taken.Hash
		errs := race(workers, func(i int) error {
			_, err := rx.ExchangeRefreshToken(ctx, xs[i])
			return err
		})
		for i, err := range errs {
			if i == clash {
				wantErr(t, err, store.ErrAlreadyExists, "round %d: goroutine %d exchanging to a taken hash", round, i)
				getRefresh(t, s, olds[i].Hash, base, olds[i])
				continue
			}
			wantErr(t, err, nil, "round %d: goroutine %d exchanging its own token", round, i)
			wantExchanged(t, s, olds[i], xs[i])
		}
		getRefresh(t, s, taken.Hash, base, taken)
	}
}

// exactlyOneEach is [exactlyOne] with each goroutine's own loser's error.
func exactlyOneEach(t *testing.T, what string, errs, losers []error) int {
	t.Helper()
	var winners []int
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, i)
		case !errors.Is(err, losers[i]):
			t.Errorf("%s: goroutine %d: got error %v, want %v", what, i, err, losers[i])
		}
	}
	switch {
	case len(winners) == 0:
		t.Fatalf("%s: no goroutine succeeded", what)
	case len(winners) > 1:
		t.Fatalf("%s: %d of %d goroutines succeeded (%v), want exactly one", what, len(winners), len(errs), winners)
	case t.Failed():
		t.FailNow()
	}
	return winners[0]
}
