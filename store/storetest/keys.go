package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunKeys checks the [store.Keys] role.
func RunKeys(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "CreateList", testKeysCreateList)
	run(t, newStore, "Duplicate", testKeysDuplicate)
	run(t, newStore, "Copies", testKeysCopies)
	run(t, newStore, "UpdateExpiry", testKeysUpdateExpiry)
	run(t, newStore, "Delete", testKeysDelete)
	run(t, newStore, "ConcurrentCreate", testKeysConcurrentCreate)
}

// newKey returns a key with every field set; Private is about the size of a
// PKCS #8 RSA-2048 key and holds every byte value.
func newKey(id string, seq int64) *store.SigningKey {
	made := at(time.Duration(seq%1000) * time.Minute)
	return &store.SigningKey{
		ID:        id,
		Seq:       seq,
		Algorithm: "ES256",
		Private:   binary(1218, byte(seq)),
		CreatedAt: made,
		ActiveAt:  made.Add(time.Hour),
		ExpiresAt: made.Add(48 * time.Hour),
	}
}

func listKeys(t *testing.T, s store.Store, want ...*store.SigningKey) {
	t.Helper()
	got, err := s.ListKeys(t.Context())
	wantErr(t, err, nil, "ListKeys")
	checkKeys(t, "ListKeys", got, want)
}

func testKeysCreateList(t *testing.T, s store.Store) {
	ctx := t.Context()
	listKeys(t, s)
	// Created out of order, with numbers that sort differently as text.
	k10, k2, k9 := newKey("kid-10", 10), newKey("kid-2", 2), newKey("kid-9", 9)
	k100 := newKey("kid-100", 1<<40)
	k1 := &store.SigningKey{ID: "kid-1", Seq: 1, Algorithm: "EdDSA", Private: binary(48, 1), CreatedAt: base}
	k10.Algorithm, k9.Algorithm = "RS256", "HS256"
	for _, k := range []*store.SigningKey{k10, k2, k9, k100, k1} {
		wantErr(t, s.CreateKey(ctx, k), nil, "CreateKey(%q)", k.ID)
	}
	listKeys(t, s, k1, k2, k9, k10, k100)
}

func testKeysDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	k1, k2 := newKey("kid-1", 1), newKey("kid-2", 2)
	wantErr(t, s.CreateKey(ctx, k1), nil, "CreateKey")
	wantErr(t, s.CreateKey(ctx, k2), nil, "CreateKey")
	wantErr(t, s.CreateKey(ctx, newKey("kid-1", 3)), store.ErrAlreadyExists, "CreateKey with a taken id")
	wantErr(t, s.CreateKey(ctx, newKey("kid-3", 2)), store.ErrAlreadyExists, "CreateKey with a taken seq")
	listKeys(t, s, k1, k2)
	k3 := newKey("kid-3", 3)
	wantErr(t, s.CreateKey(ctx, k3), nil, "CreateKey with the id and seq of failed creates")
	listKeys(t, s, k1, k2, k3)
}

func testKeysCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newKey("kid-1", 1)
	k := newKey("kid-1", 1)
	wantErr(t, s.CreateKey(ctx, k), nil, "CreateKey")
	k.Private[0] ^= 0xff
	k.ID = "mutated"
	listKeys(t, s, want)

	got, err := s.ListKeys(ctx)
	wantErr(t, err, nil, "ListKeys")
	if len(got) == 1 {
		got[0].Private[0] ^= 0xff
		got[0].ExpiresAt = time.Time{}
	}
	listKeys(t, s, want)
}

func testKeysUpdateExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	k1, k2 := newKey("kid-1", 1), newKey("kid-2", 2)
	k1.ExpiresAt = time.Time{}
	wantErr(t, s.CreateKey(ctx, k1), nil, "CreateKey")
	wantErr(t, s.CreateKey(ctx, k2), nil, "CreateKey")

	k1.ExpiresAt = at(72 * time.Hour)
	wantErr(t, s.UpdateKeyExpiry(ctx, "kid-1", k1.ExpiresAt), nil, "UpdateKeyExpiry")
	listKeys(t, s, k1, k2)
	k1.ExpiresAt = at(96 * time.Hour)
	wantErr(t, s.UpdateKeyExpiry(ctx, "kid-1", k1.ExpiresAt), nil, "UpdateKeyExpiry again")
	listKeys(t, s, k1, k2)
	// Zero unschedules the expiry.
	k2.ExpiresAt = time.Time{}
	wantErr(t, s.UpdateKeyExpiry(ctx, "kid-2", time.Time{}), nil, "UpdateKeyExpiry to zero")
	listKeys(t, s, k1, k2)

	wantErr(t, s.UpdateKeyExpiry(ctx, "kid-missing", at(time.Hour)), store.ErrNotFound, "UpdateKeyExpiry of a missing key")
	listKeys(t, s, k1, k2)
}

func testKeysDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k1, k2, k3 := newKey("kid-1", 1), newKey("kid-2", 2), newKey("kid-3", 3)
	for _, k := range []*store.SigningKey{k1, k2, k3} {
		wantErr(t, s.CreateKey(ctx, k), nil, "CreateKey")
	}
	wantErr(t, s.DeleteKey(ctx, "kid-2"), nil, "DeleteKey")
	listKeys(t, s, k1, k3)
	wantErr(t, s.DeleteKey(ctx, "kid-2"), store.ErrNotFound, "DeleteKey twice")
	wantErr(t, s.DeleteKey(ctx, "kid-missing"), store.ErrNotFound, "DeleteKey of a missing key")
	wantErr(t, s.UpdateKeyExpiry(ctx, "kid-2", at(time.Hour)), store.ErrNotFound, "UpdateKeyExpiry of a deleted key")
	wantErr(t, s.DeleteKey(ctx, "kid-1"), nil, "DeleteKey")
	wantErr(t, s.DeleteKey(ctx, "kid-3"), nil, "DeleteKey")
	listKeys(t, s)
}

func testKeysConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Replicas starting at once each try to create key number one: exactly
	// one must win, or they would sign with different keys.
	mk := func(i int) *store.SigningKey { return newKey(fmt.Sprintf("kid-replica-%d", i), 1) }
	errs := race(workers, func(i int) error { return s.CreateKey(ctx, mk(i)) })
	w := exactlyOne(t, "concurrent CreateKey of one seq", errs, store.ErrAlreadyExists)
	listKeys(t, s, mk(w))
}
