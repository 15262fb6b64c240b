package storetest

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunRevocations checks the [store.Revocations] role.
func RunRevocations(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Revoke", testRevocationsRevoke)
	run(t, newStore, "LaterExpiryWins", testRevocationsLaterExpiryWins)
	run(t, newStore, "ZeroExpiry", testRevocationsZeroExpiry)
}

func revoked(t *testing.T, s store.Store, id string, now time.Time, want bool) {
	t.Helper()
	got, err := s.IsRevoked(t.Context(), id, now)
	wantErr(t, err, nil, "IsRevoked(%q, %s)", id, now.Format(time.RFC3339))
	if got != want {
		t.Errorf("IsRevoked(%q, %s) = %v, want %v", id, now.Format(time.RFC3339), got, want)
	}
}

func revoke(t *testing.T, s store.Store, id string, until time.Time) {
	t.Helper()
	wantErr(t, s.Revoke(t.Context(), id, until), nil, "Revoke(%q, %s)", id, until.Format(time.RFC3339))
}

func testRevocationsRevoke(t *testing.T, s store.Store) {
	revoked(t, s, "jti-1", base, false)
	revoke(t, s, "jti-1", at(time.Hour))
	revoked(t, s, "jti-1", base, true)
	revoked(t, s, "jti-1", at(time.Hour-time.Second), true)
	// Once the token would have expired anyway, the revocation may go.
	revoked(t, s, "jti-1", at(time.Hour+time.Second), false)
	revoked(t, s, "jti-1", at(48*time.Hour), false)
	revoked(t, s, "jti-2", base, false)
	revoked(t, s, "JTI-1", base, false)
	revoked(t, s, "", base, false)
	for _, k := range oddKeys {
		revoked(t, s, k, base, false)
	}
}

func testRevocationsLaterExpiryWins(t *testing.T, s store.Store) {
	mid := at(90 * time.Minute)
	// Extending.
	revoke(t, s, "jti-1", at(time.Hour))
	revoke(t, s, "jti-1", at(2*time.Hour))
	revoked(t, s, "jti-1", mid, true)
	// Revoking again with an earlier expiry does not shorten it.
	revoke(t, s, "jti-2", at(2*time.Hour))
	revoke(t, s, "jti-2", at(time.Hour))
	revoked(t, s, "jti-2", mid, true)
	for _, id := range []string{"jti-1", "jti-2"} {
		revoked(t, s, id, at(2*time.Hour+time.Second), false)
	}
	// A revocation that has lapsed can be made again.
	revoke(t, s, "jti-3", at(time.Hour))
	revoked(t, s, "jti-3", at(3*time.Hour), false)
	revoke(t, s, "jti-3", at(4*time.Hour))
	revoked(t, s, "jti-3", at(3*time.Hour), true)
}

// testRevocationsZeroExpiry: a revocation without an expiry is refused
// loudly. Backends used to read it as "for ever" or as "already lapsed",
// and the second silently revokes nothing; a refused one changes nothing,
// neither recording a new revocation nor extending or cutting an old one.
func testRevocationsZeroExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantInvalid(t, s.Revoke(ctx, "jti-1", time.Time{}), "Revoke with a zero expiresAt")
	revoked(t, s, "jti-1", base, false)
	revoke(t, s, "jti-2", at(time.Hour))
	wantInvalid(t, s.Revoke(ctx, "jti-2", time.Time{}), "Revoke of a revoked id with a zero expiresAt")
	revoked(t, s, "jti-2", base, true)
	revoked(t, s, "jti-2", at(time.Hour+time.Second), false)
}
