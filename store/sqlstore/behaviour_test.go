package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

var (
	now       = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	farFuture = now.Add(24 * time.Hour)
)

// These tests cover what is particular to SQL and to each dialect; the
// contract itself is storetest's (TestStore).

// TestExactComparison: MySQL's default collations ignore case and trailing
// spaces; the contract compares ids and logins exactly.
func TestExactComparison(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		st := newStore(t, b)
		ids := []string{"abc", "ABC", "abc ", "äbc"}
		for _, id := range ids {
			if err := st.CreateClient(ctx, &store.Client{ID: id, Name: "name of " + id}); err != nil {
				t.Fatalf("CreateClient(%q): %v", id, err)
			}
		}
		for _, id := range ids {
			c, err := st.GetClient(ctx, id)
			if err != nil || c.Name != "name of "+id {
				t.Errorf("GetClient(%q) = %+v, %v", id, c, err)
			}
		}
		for _, a := range []*store.Account{
			{ID: "a1", Username: "alice", Email: "alice@example.com"},
			{ID: "a2", Username: "Alice", Email: "Alice@example.com"},
		} {
			if err := st.CreateAccount(ctx, a); err != nil {
				t.Fatalf("CreateAccount(%s): %v", a.ID, err)
			}
		}
		for login, want := range map[string]string{"alice": "a1", "Alice": "a2", "Alice@example.com": "a2"} {
			a, err := st.FindAccount(ctx, login)
			if err != nil || a.ID != want {
				t.Errorf("FindAccount(%q) = %+v, %v; want %s", login, a, err, want)
			}
		}
		if _, err := st.FindAccount(ctx, "alice "); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindAccount with a trailing space: err = %v, want ErrNotFound", err)
		}
	})
}

// TestRoundTrip: times as microseconds in UTC, the zero time as zero, nil and
// empty slices and maps kept apart.
func TestRoundTrip(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		st := newStore(t, b)
		paris := time.FixedZone("CEST", 2*3600)
		in := &store.Client{
			ID:         "c1",
			SecretHash: []byte{0, 1, 2, 0xff},
			Name:       "Reports – nightly",
			Scopes:     nil,
			Audiences:  []string{},
			Generation: 7,
			Disabled:   true,
			CreatedAt:  time.Date(2025, 3, 4, 5, 6, 7, 123456789, paris),
			Metadata:   map[string]string{"team": "ops", "emoji": "🔑"},
		}
		if err := st.CreateClient(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetClient(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		want := *in
		want.CreatedAt = in.CreatedAt.Truncate(time.Microsecond).UTC()
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("GetClient =\n%#v\nwant\n%#v", got, &want)
		}
		if !got.UpdatedAt.IsZero() {
			t.Errorf("zero UpdatedAt came back as %v", got.UpdatedAt)
		}

		in2 := &store.Client{ID: "c2", Scopes: []string{}, Audiences: nil, Metadata: map[string]string{}}
		if err := st.CreateClient(ctx, in2); err != nil {
			t.Fatal(err)
		}
		got2, err := st.GetClient(ctx, "c2")
		if err != nil {
			t.Fatal(err)
		}
		if got2.Scopes == nil || got2.Audiences != nil || got2.Metadata == nil || len(got2.Metadata) != 0 {
			t.Errorf("nil/empty not kept: scopes %#v audiences %#v metadata %#v", got2.Scopes, got2.Audiences, got2.Metadata)
		}
	})
}

// TestUnchangedUpdate: MySQL reports rows changed, not rows matched, so an
// update that rewrites identical values must still succeed.
func TestUnchangedUpdate(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		st := newStore(t, b)
		c := &store.Client{ID: "c1", Name: "n", Generation: 3}
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateClient(ctx, c, 3); err != nil {
			t.Errorf("UpdateClient with identical values: %v", err)
		}
		if err := st.UpdateClient(ctx, c, 2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("UpdateClient with a stale generation: err = %v, want ErrConflict", err)
		}
		if err := st.UpdateClient(ctx, &store.Client{ID: "nope"}, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateClient of a missing client: err = %v, want ErrNotFound", err)
		}
		a := &store.Account{ID: "a1", Username: "u", Generation: 1}
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateAccount(ctx, a, 1); err != nil {
			t.Errorf("UpdateAccount with identical values: %v", err)
		}
		k := &store.SigningKey{ID: "k1", Seq: 1, Algorithm: "ES256", ExpiresAt: farFuture}
		if err := st.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateKeyExpiry(ctx, "k1", farFuture); err != nil {
			t.Errorf("UpdateKeyExpiry to the same time: %v", err)
		}
		if err := st.UpdateKeyExpiry(ctx, "k2", farFuture); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateKeyExpiry of a missing key: err = %v, want ErrNotFound", err)
		}
	})
}

// TestSweep covers what storetest's Sweep does not: revoked families (kept
// while they have tokens, so the family stays dead), rate-limit windows and
// the count of all of them.
func TestSweep(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		st := newStore(t, b)
		past := now.Add(-time.Second)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// Going: 2 expired refresh tokens, the revoked family left without
		// tokens, 1 access token, 1 revocation, 1 key, 1 rate-limit window.
		must(st.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "r-old", FamilyID: "f-old", Grant: store.Grant{ExpiresAt: past}}))
		must(st.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "r-old2", FamilyID: "f-live", Grant: store.Grant{ExpiresAt: past}}))
		must(st.RevokeRefreshFamily(ctx, "f-old"))
		must(st.CreateAccessToken(ctx, &store.AccessToken{Hash: "a-old", ID: "j1", Grant: store.Grant{ExpiresAt: past}}))
		must(st.Revoke(ctx, "j-old", past))
		must(st.CreateKey(ctx, &store.SigningKey{ID: "k-old", Seq: 1, Algorithm: "ES256", ExpiresAt: past}))
		_, _, err := st.Hit(ctx, "ip:1", time.Minute, now.Add(-2*time.Minute))
		must(err)
		// Live.
		must(st.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "r-live", FamilyID: "f-live", Grant: store.Grant{ExpiresAt: farFuture}}))
		must(st.RevokeRefreshFamily(ctx, "f-live"))
		must(st.CreateAccessToken(ctx, &store.AccessToken{Hash: "a-live", ID: "j2", Grant: store.Grant{ExpiresAt: farFuture}}))
		must(st.Revoke(ctx, "j-live", farFuture))
		must(st.CreateKey(ctx, &store.SigningKey{ID: "k-live", Seq: 2, Algorithm: "ES256", ExpiresAt: farFuture}))
		must(st.CreateKey(ctx, &store.SigningKey{ID: "k-forever", Seq: 3, Algorithm: "ES256"}))
		_, _, err = st.Hit(ctx, "ip:1", time.Minute, now)
		must(err)

		n, err := st.Sweep(ctx, now)
		must(err)
		if n != 7 {
			t.Errorf("Sweep removed %d rows, want 7", n)
		}
		if n, err := st.Sweep(ctx, now); n != 0 || err != nil {
			t.Errorf("second Sweep = %d, %v; want 0", n, err)
		}
		// The live family stays revoked.
		if _, err := st.GetRefreshToken(ctx, "r-live", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token of a revoked family after Sweep: err = %v, want ErrNotFound", err)
		}
		if _, err := st.GetAccessToken(ctx, "a-live", now); err != nil {
			t.Errorf("live access token swept: %v", err)
		}
		if r, err := st.IsRevoked(ctx, "j-live", now); !r || err != nil {
			t.Errorf("live revocation swept: %v, %v", r, err)
		}
		keys, err := st.ListKeys(ctx)
		must(err)
		if len(keys) != 2 || keys[0].ID != "k-live" || keys[1].ID != "k-forever" {
			t.Errorf("keys after Sweep: %v", keys)
		}
		if c, _, err := st.Count(ctx, "ip:1", time.Minute, now); c != 1 || err != nil {
			t.Errorf("live rate-limit window swept: %d, %v", c, err)
		}
		if err := st.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

// TestMySQLRotateProcedure: on MySQL a rotation is one CALL of migration
// 7's procedure. Without the procedure (dropped, as a dump made without
// --routines would restore the database) rotations still answer as the
// contract says, in a transaction of their own, while exchanges still
// call theirs; and a hash longer than the procedure's parameter is a
// missing token, not an error.
func TestMySQLRotateProcedure(t *testing.T) {
	ctx := context.Background()
	db, st, calls := mysqlOneSession(t)
	token := func(hash string) *store.RefreshToken {
		return &store.RefreshToken{Hash: hash, FamilyID: "fam", Grant: store.Grant{Kind: "k", ClientID: "c",
			IssuedAt: now, ExpiresAt: farFuture}}
	}
	rotate := func(old, next string, want error) {
		t.Helper()
		if err := st.RotateRefreshToken(ctx, old, token(next), now); !errors.Is(err, want) {
			t.Fatalf("RotateRefreshToken(%s → %s) = %v, want %v", old, next, err, want)
		}
	}
	for _, h := range []string{"a", "taken"} {
		if err := st.CreateRefreshToken(ctx, token(h)); err != nil {
			t.Fatal(err)
		}
	}

	before := calls()
	rotate("a", "b", nil)
	if n := calls() - before; n != 1 {
		t.Errorf("a rotation made %d CALLs, want 1", n)
	}
	rotate("a", "b", nil)
	rotate("a", "x", store.ErrTokenReused)
	rotate("b", "taken", store.ErrAlreadyExists)
	rotate(strings.Repeat("b", 300), "y", store.ErrNotFound)

	if _, err := db.ExecContext(ctx, "DROP PROCEDURE portcullis_rotate_refresh"); err != nil {
		t.Fatal(err)
	}
	rotate("b", "taken", store.ErrAlreadyExists) // and b stays unused
	rotate("b", "c", nil)
	before = calls()
	rotate("b", "c", nil)
	rotate("b", "x", store.ErrTokenReused)
	rotate("c", "d", nil)
	if n := calls() - before; n != 0 {
		t.Errorf("%d CALLs within a minute of a missing procedure, want 0", n)
	}
	// The exchange's procedure has a retry clock of its own: still called.
	before = calls()
	if _, err := st.ExchangeRefreshToken(ctx, &store.RefreshExchange{Hash: "d", Next: "e", Now: now,
		Kind: "k", ClientID: "c", ExpiresAt: farFuture}); err != nil {
		t.Fatal(err)
	}
	if n := calls() - before; n != 1 {
		t.Errorf("an exchange without the rotation's procedure made %d CALLs, want 1", n)
	}
	for hash, want := range map[string]string{"a": "b", "b": "c", "c": "d", "d": "e", "e": ""} {
		got, err := st.GetRefreshToken(ctx, hash, now)
		if err != nil || got.ReplacedBy != want || (want == "") != got.UsedAt.IsZero() {
			t.Errorf("GetRefreshToken(%s) = %+v, %v; want replaced by %q", hash, got, err, want)
		}
	}
}

// TestMySQLExchangeProcedure: on MySQL an exchange is one CALL of the
// procedure of migrations 8 and 9. Without the procedure, exchanges still
// answer as the contract says, in a transaction of their own, while
// rotations still call theirs; a hash longer than the procedure's
// parameter is a missing token, not an error.
func TestMySQLExchangeProcedure(t *testing.T) {
	ctx := context.Background()
	db, st, calls := mysqlOneSession(t)
	for _, h := range []string{"a", "taken"} {
		err := st.CreateRefreshToken(ctx, &store.RefreshToken{Hash: h, FamilyID: "fam", FamilyIssuedAt: now,
			Grant: store.Grant{Kind: "k", ClientID: "c", Scopes: []string{"read"}, IssuedAt: now, ExpiresAt: farFuture}})
		if err != nil {
			t.Fatal(err)
		}
	}
	exchange := func(old, next string, scopes []string, want error) {
		t.Helper()
		x := &store.RefreshExchange{Hash: old, Next: next, Now: now, Kind: "k", ClientID: "c", Scopes: scopes,
			ExpiresAt: farFuture, MaxFamilyLifetime: time.Hour}
		got, err := st.ExchangeRefreshToken(ctx, x)
		if !errors.Is(err, want) {
			t.Fatalf("ExchangeRefreshToken(%s → %s) = %v, want %v", old, next, err, want)
		}
		if err == nil && (got.Hash != old || got.ReplacedBy != next || !got.UsedAt.Equal(now)) {
			t.Fatalf("ExchangeRefreshToken(%s → %s) returned %+v", old, next, got)
		}
	}
	read := []string{"read", "write"}

	before := calls()
	exchange("a", "b", read, nil)
	if n := calls() - before; n != 1 {
		t.Errorf("an exchange made %d CALLs, want 1", n)
	}
	exchange("a", "x", read, store.ErrNotFound)
	exchange("b", "taken", read, store.ErrAlreadyExists)
	exchange("b", "x", []string{"write"}, store.ErrNotFound)
	exchange(strings.Repeat("b", 300), "y", read, store.ErrNotFound)

	if _, err := db.ExecContext(ctx, "DROP PROCEDURE portcullis_exchange_refresh"); err != nil {
		t.Fatal(err)
	}
	exchange("b", "taken", read, store.ErrAlreadyExists) // and b stays unused
	exchange("b", "x", nil, store.ErrNotFound)
	before = calls()
	exchange("b", "c", read, nil)
	exchange("b", "x", read, store.ErrNotFound)
	exchange("c", "d", read, nil)
	if n := calls() - before; n != 0 {
		t.Errorf("%d CALLs within a minute of a missing procedure, want 0", n)
	}
	// The rotation's procedure has a retry clock of its own: still called.
	before = calls()
	if err := st.RotateRefreshToken(ctx, "d", &store.RefreshToken{Hash: "e", FamilyID: "fam", FamilyIssuedAt: now,
		Grant: store.Grant{Kind: "k", ClientID: "c", Scopes: []string{"read"}, IssuedAt: now, ExpiresAt: farFuture}}, now); err != nil {
		t.Fatal(err)
	}
	if n := calls() - before; n != 1 {
		t.Errorf("a rotation without the exchange's procedure made %d CALLs, want 1", n)
	}
	for hash, want := range map[string]string{"a": "b", "b": "c", "c": "d", "d": "e", "e": ""} {
		got, err := st.GetRefreshToken(ctx, hash, now)
		if err != nil || got.ReplacedBy != want || (want == "") != got.UsedAt.IsZero() ||
			got.FamilyIssuedAt != now || !slices.Equal(got.Scopes, []string{"read"}) {
			t.Errorf("GetRefreshToken(%s) = %+v, %v; want replaced by %q", hash, got, err, want)
		}
	}
}

// mysqlOneSession opens a migrated MySQL store on one connection, and
// returns with it a count of the CALLs that session has made.
func mysqlOneSession(t *testing.T) (*sql.DB, *sqlstore.Store, func() int) {
	t.Helper()
	ctx := context.Background()
	db := dbtest.MySQL(t)
	db.SetMaxOpenConns(1) // one session, whose status counts the CALLs
	st, err := sqlstore.Open(db, sqlstore.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	calls := func() int {
		var name string
		var n int
		if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Com_call_procedure'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return db, st, calls
}
