package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

func refreshToken(label, family string) *store.RefreshToken {
	return &store.RefreshToken{
		Hash: fmt.Sprintf("%064x", label), FamilyID: family,
		Grant: store.Grant{Kind: "client", Subject: "c1", ClientID: "c1", Scopes: []string{"read"},
			IssuedAt: now, ExpiresAt: farFuture},
	}
}

// TestGroupCommitOneConnection: on SQLite over a pool of one connection,
// as the package doc recommends, concurrent creates and rotations that
// share a group commit all finish, on a fresh Store whose statements are
// not prepared yet (a preparation inside the group's transaction would
// wait for the connection the transaction holds, for ever).
func TestGroupCommitOneConnection(t *testing.T) {
	db := dbtest.SQLite(t)
	db.SetMaxOpenConns(1)
	st, err := sqlstore.Open(db, sqlstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const n = 32
	// Creates first, then rotations, so that each kind of write meets
	// its own statements unprepared.
	for _, phase := range []string{"CreateRefreshToken", "RotateRefreshToken"} {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				old := refreshToken(fmt.Sprintf("old-%d", i), fmt.Sprintf("family-%d", i))
				if phase == "CreateRefreshToken" {
					errs[i] = st.CreateRefreshToken(ctx, old)
					return
				}
				next := refreshToken(fmt.Sprintf("next-%d", i), old.FamilyID)
				errs[i] = st.RotateRefreshToken(ctx, old.Hash, next, now)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s, goroutine %d: %v", phase, i, err)
			}
		}
	}
	for i := range n {
		got, err := st.GetRefreshToken(ctx, refreshToken(fmt.Sprintf("old-%d", i), "").Hash, now)
		if err != nil || got.ReplacedBy != refreshToken(fmt.Sprintf("next-%d", i), "").Hash {
			t.Errorf("token %d after its rotation: %+v, %v", i, got, err)
		}
	}
}

// TestWriteGivenUp: a create whose context has ended answers the
// context's error and stores nothing, on every dialect (on SQLite, before
// it joins a group).
func TestWriteGivenUp(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		st := newStore(t, b)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		tok := refreshToken("given-up", "family")
		if err := st.CreateRefreshToken(ctx, tok); !errors.Is(err, context.Canceled) {
			t.Fatalf("CreateRefreshToken with an ended context: %v, want context.Canceled", err)
		}
		if _, err := st.GetRefreshToken(t.Context(), tok.Hash, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRefreshToken after a given-up create: %v, want ErrNotFound", err)
		}
	})
}
