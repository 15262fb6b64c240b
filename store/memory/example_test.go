package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// Rotating a client is a compare-and-swap on its generation: of two
// concurrent rotations, the second finds the generation moved on and gets
// ErrConflict instead of silently overwriting the first one's secret.
func Example() {
	ctx := context.Background()
	st := memory.New()
	now := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

	// Store only a hash of the secret, never the secret itself.
	c := &store.Client{ID: "c1", SecretHash: []byte("sha256-of-secret"), Generation: 1, CreatedAt: now}
	if err := st.CreateClient(ctx, c); err != nil {
		fmt.Println(err)
		return
	}

	rotate := func(expect int64) error {
		cur, err := st.GetClient(ctx, "c1")
		if err != nil {
			return err
		}
		cur.SecretHash = []byte("sha256-of-new-secret")
		cur.Generation = expect + 1
		cur.UpdatedAt = now
		return st.UpdateClient(ctx, cur, expect)
	}
	fmt.Println("first rotation:", rotate(1))
	err := rotate(1) // a second writer that read generation 1 too
	fmt.Println("stale rotation conflicts:", errors.Is(err, store.ErrConflict))

	got, _ := st.GetClient(ctx, "c1")
	fmt.Println("generation:", got.Generation)

	_, err = st.GetClient(ctx, "nope")
	fmt.Println("missing client:", errors.Is(err, store.ErrNotFound))
	// Output:
	// first rotation: <nil>
	// stale rotation conflicts: true
	// generation: 2
	// missing client: true
}

// A refresh token is single use: the second presentation reports reuse, and
// the caller then revokes the whole family (RFC 9700).
func ExampleStore_ConsumeRefreshToken() {
	ctx := context.Background()
	st := memory.New()
	now := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	tok := &store.RefreshToken{
		Hash:     "hex-sha256-of-the-token", // never the token itself
		FamilyID: "fam-1",
		Grant:    store.Grant{Kind: "account", Subject: "acct-1", ExpiresAt: now.AddDate(1, 0, 0)},
	}
	_ = st.CreateRefreshToken(ctx, tok)

	_, err := st.ConsumeRefreshToken(ctx, tok.Hash, now)
	fmt.Println("first use:", err)

	used, err := st.ConsumeRefreshToken(ctx, tok.Hash, now.Add(time.Minute))
	if errors.Is(err, store.ErrTokenReused) {
		fmt.Println("reuse detected; revoking family", used.FamilyID)
		_ = st.RevokeRefreshFamily(ctx, used.FamilyID)
	}
	_, err = st.GetRefreshToken(ctx, tok.Hash, now)
	fmt.Println("after revocation:", err)
	// Output:
	// first use: <nil>
	// reuse detected; revoking family fam-1
	// after revocation: store: not found
}
