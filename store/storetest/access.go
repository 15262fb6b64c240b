package storetest

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunAccessTokens checks the [store.AccessTokens] role.
func RunAccessTokens(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "CreateGet", testAccessCreateGet)
	run(t, newStore, "Duplicate", testAccessDuplicate)
	run(t, newStore, "Copies", testAccessCopies)
	run(t, newStore, "Expiry", testAccessExpiry)
	run(t, newStore, "Delete", testAccessDelete)
	run(t, newStore, "ZeroExpiry", testAccessZeroExpiry)
}

func newAccess(label string) *store.AccessToken {
	g := newGrant("client-" + label)
	g.Kind = "client"
	g.AccountID = ""
	g.ExpiresAt = at(30 * time.Minute)
	return &store.AccessToken{Hash: hashOf(label), ID: "jti-" + label, FamilyID: "family-" + label, Grant: g}
}

func getAccess(t *testing.T, s store.Store, hash string, now time.Time, want *store.AccessToken) {
	t.Helper()
	got, err := s.GetAccessToken(t.Context(), hash, now)
	if want == nil {
		wantErr(t, err, store.ErrNotFound, "GetAccessToken(%.12s…, %s)", hash, now.Format(time.RFC3339))
		return
	}
	wantErr(t, err, nil, "GetAccessToken(%.12s…, %s)", hash, now.Format(time.RFC3339))
	checkAccess(t, "GetAccessToken", got, want)
}

func testAccessCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := newAccess("full")
	sparse := &store.AccessToken{Hash: hashOf("sparse"), Grant: store.Grant{Subject: "client-1", ExpiresAt: at(time.Hour)}}
	for _, a := range []*store.AccessToken{full, sparse} {
		wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken")
	}
	getAccess(t, s, full.Hash, base, full)
	getAccess(t, s, sparse.Hash, base, sparse)
	getAccess(t, s, hashOf("missing"), base, nil)
	for _, k := range oddKeys {
		getAccess(t, s, k, base, nil)
	}
}

func testAccessDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newAccess("token")
	wantErr(t, s.CreateAccessToken(ctx, orig), nil, "CreateAccessToken")
	dup := newAccess("token")
	dup.ID = "jti-impostor"
	dup.Subject = "impostor"
	wantErr(t, s.CreateAccessToken(ctx, dup), store.ErrAlreadyExists, "CreateAccessToken with a taken hash")
	getAccess(t, s, orig.Hash, base, orig)
}

func testAccessCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newAccess("token")
	a := newAccess("token")
	wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken")
	mutateGrant(&a.Grant)
	a.ID = "mutated"
	getAccess(t, s, want.Hash, base, want)

	got, err := s.GetAccessToken(ctx, want.Hash, base)
	wantErr(t, err, nil, "GetAccessToken")
	mutateGrant(&got.Grant)
	getAccess(t, s, want.Hash, base, want)
}

func testAccessExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccess("token")
	wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken")
	getAccess(t, s, a.Hash, a.ExpiresAt.Add(-time.Second), a)
	getAccess(t, s, a.Hash, a.ExpiresAt.Add(time.Second), nil)
	getAccess(t, s, a.Hash, a.ExpiresAt.Add(24*time.Hour), nil)
	// Expiry is judged by the now argument: an earlier now still finds it.
	getAccess(t, s, a.Hash, base, a)
}

func testAccessDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newAccess("a"), newAccess("b")
	wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken")
	wantErr(t, s.CreateAccessToken(ctx, b), nil, "CreateAccessToken")
	wantErr(t, s.DeleteAccessToken(ctx, a.Hash), nil, "DeleteAccessToken")
	getAccess(t, s, a.Hash, base, nil)
	getAccess(t, s, b.Hash, base, b)
	wantErr(t, s.DeleteAccessToken(ctx, a.Hash), nil, "DeleteAccessToken twice")
	wantErr(t, s.DeleteAccessToken(ctx, hashOf("never")), nil, "DeleteAccessToken of a missing token")
	// The hash is free again.
	wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken with a deleted token's hash")
	getAccess(t, s, a.Hash, base, a)
}

// testAccessZeroExpiry: a token without an expiry is refused at create, and
// the refused create claims nothing.
func testAccessZeroExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccess("token")
	a.ExpiresAt = time.Time{}
	wantInvalid(t, s.CreateAccessToken(ctx, a), "CreateAccessToken with a zero ExpiresAt")
	getAccess(t, s, a.Hash, base, nil)
	a.ExpiresAt = at(time.Hour)
	wantErr(t, s.CreateAccessToken(ctx, a), nil, "CreateAccessToken with the hash of a refused one")
	getAccess(t, s, a.Hash, base, a)
}
