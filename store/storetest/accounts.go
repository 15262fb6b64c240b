package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunAccounts checks the [store.Accounts] role.
func RunAccounts(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "CreateGet", testAccountCreateGet)
	run(t, newStore, "Unique", testAccountUnique)
	run(t, newStore, "ExactMatch", testAccountExactMatch)
	run(t, newStore, "Copies", testAccountCopies)
	run(t, newStore, "Update", testAccountUpdate)
	run(t, newStore, "Delete", testAccountDelete)
	run(t, newStore, "ConcurrentCreate", testAccountConcurrentCreate)
	run(t, newStore, "ConcurrentUpdate", testAccountConcurrentUpdate)
}

func newAccount(id, username, email string) *store.Account {
	return &store.Account{
		ID:           id,
		Username:     username,
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		Roles:        []string{"owner", "admin", "billing"},
		Generation:   1<<35 + 3,
		CreatedAt:    base,
		UpdatedAt:    at(time.Hour),
	}
}

// findable checks that login finds the account want (nil: ErrNotFound).
func findable(t *testing.T, s store.Store, login string, want *store.Account) {
	t.Helper()
	got, err := s.FindAccount(t.Context(), login)
	if want == nil {
		wantErr(t, err, store.ErrNotFound, "FindAccount(%q)", login)
		return
	}
	wantErr(t, err, nil, "FindAccount(%q)", login)
	checkAccount(t, fmt.Sprintf("FindAccount(%q)", login), got, want)
}

func getAccount(t *testing.T, s store.Store, id string, want *store.Account) {
	t.Helper()
	got, err := s.GetAccount(t.Context(), id)
	if want == nil {
		wantErr(t, err, store.ErrNotFound, "GetAccount(%q)", id)
		return
	}
	wantErr(t, err, nil, "GetAccount(%q)", id)
	checkAccount(t, fmt.Sprintf("GetAccount(%q)", id), got, want)
}

func testAccountCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newAccount("acct-alice", "alice", "alice@example.com")
	alice.Username = "alice-ünï-🔑"
	bob := &store.Account{ID: "acct-bob", Username: "bob"} // no email, no roles, zero times
	for _, a := range []*store.Account{alice, bob} {
		wantErr(t, s.CreateAccount(ctx, a), nil, "CreateAccount(%q)", a.ID)
	}
	getAccount(t, s, "acct-alice", alice)
	getAccount(t, s, "acct-bob", bob)
	getAccount(t, s, "acct-missing", nil)
	findable(t, s, "alice-ünï-🔑", alice)
	findable(t, s, "alice@example.com", alice)
	findable(t, s, "bob", bob)
	findable(t, s, "acct-alice", nil) // an id is not a login
	findable(t, s, "nobody", nil)
	for _, k := range oddKeys {
		getAccount(t, s, k, nil)
		findable(t, s, k, nil)
	}
	// bob has no email: the empty login must not find him.
	findable(t, s, "", nil)
}

func testAccountUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newAccount("acct-alice", "alice", "alice@example.com")
	wantErr(t, s.CreateAccount(ctx, alice), nil, "CreateAccount")

	for _, a := range []*store.Account{
		newAccount("acct-alice", "alice2", "alice2@example.com"), // taken id
		newAccount("acct-2", "alice", "other@example.com"),       // taken username
		newAccount("acct-3", "other", "alice@example.com"),       // taken email
	} {
		wantErr(t, s.CreateAccount(ctx, a), store.ErrAlreadyExists, "CreateAccount(id %q, username %q, email %q)", a.ID, a.Username, a.Email)
		// A failed create leaves nothing behind: not the record, and not
		// the username or email that were free.
		if a.ID != alice.ID {
			getAccount(t, s, a.ID, nil)
		}
		if a.Username != alice.Username {
			findable(t, s, a.Username, nil)
		}
		if a.Email != alice.Email {
			findable(t, s, a.Email, nil)
		}
	}
	getAccount(t, s, "acct-alice", alice)
	findable(t, s, "alice", alice)
	findable(t, s, "alice@example.com", alice)

	// Uniqueness holds only for non-empty values: many accounts may lack an
	// email, or a username.
	noEmail1 := newAccount("acct-ne1", "ne1", "")
	noEmail2 := newAccount("acct-ne2", "ne2", "")
	noName1 := newAccount("acct-nn1", "", "nn1@example.com")
	noName2 := newAccount("acct-nn2", "", "nn2@example.com")
	for _, a := range []*store.Account{noEmail1, noEmail2, noName1, noName2} {
		wantErr(t, s.CreateAccount(ctx, a), nil, "CreateAccount(id %q, username %q, email %q)", a.ID, a.Username, a.Email)
	}
	findable(t, s, "ne2", noEmail2)
	findable(t, s, "nn2@example.com", noName2)
	findable(t, s, "", nil)
}

func testAccountExactMatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Usernames and emails are compared exactly as given: a backend with a
	// case-insensitive collation would merge these.
	lower := newAccount("acct-lower", "alice", "alice@example.com")
	upper := newAccount("acct-upper", "Alice", "Alice@Example.com")
	wantErr(t, s.CreateAccount(ctx, lower), nil, "CreateAccount")
	wantErr(t, s.CreateAccount(ctx, upper), nil, "CreateAccount of a username differing only in case")
	findable(t, s, "alice", lower)
	findable(t, s, "Alice", upper)
	findable(t, s, "alice@example.com", lower)
	findable(t, s, "Alice@Example.com", upper)
	findable(t, s, "ALICE", nil)
	findable(t, s, "ALICE@EXAMPLE.COM", nil)
	getAccount(t, s, "ACCT-LOWER", nil)
}

func testAccountCopies(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newAccount("acct-1", "alice", "alice@example.com")
	a := newAccount("acct-1", "alice", "alice@example.com")
	wantErr(t, s.CreateAccount(ctx, a), nil, "CreateAccount")
	a.Roles[0] = "mutated"
	a.Username = "mutated"
	getAccount(t, s, "acct-1", want)

	got, err := s.GetAccount(ctx, "acct-1")
	wantErr(t, err, nil, "GetAccount")
	got.Roles[0] = "mutated"
	getAccount(t, s, "acct-1", want)

	got, err = s.FindAccount(ctx, "alice")
	wantErr(t, err, nil, "FindAccount")
	got.Roles[0] = "mutated"
	getAccount(t, s, "acct-1", want)

	upd := newAccount("acct-1", "alice", "alice@example.com")
	upd.Generation++
	wantErr(t, s.UpdateAccount(ctx, upd, want.Generation), nil, "UpdateAccount")
	want.Generation++
	upd.Roles[0] = "mutated"
	getAccount(t, s, "acct-1", want)
}

func testAccountUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newAccount("acct-alice", "alice", "alice@example.com")
	bob := newAccount("acct-bob", "bob", "bob@example.com")
	wantErr(t, s.CreateAccount(ctx, alice), nil, "CreateAccount")
	wantErr(t, s.CreateAccount(ctx, bob), nil, "CreateAccount")

	// A password change that also renames: the old logins go, the new come.
	upd := newAccount("acct-alice", "alice2", "alice2@example.com")
	upd.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA"
	upd.Generation = alice.Generation + 1
	upd.Roles = nil
	upd.Disabled = true
	upd.UpdatedAt = at(3 * time.Hour)
	wantErr(t, s.UpdateAccount(ctx, upd, alice.Generation), nil, "UpdateAccount")
	getAccount(t, s, "acct-alice", upd)
	findable(t, s, "alice2", upd)
	findable(t, s, "alice2@example.com", upd)
	findable(t, s, "alice", nil)
	findable(t, s, "alice@example.com", nil)

	stale := newAccount("acct-alice", "alice3", "alice3@example.com")
	stale.Generation = alice.Generation + 1
	wantErr(t, s.UpdateAccount(ctx, stale, alice.Generation), store.ErrConflict, "UpdateAccount expecting a generation that moved on")
	getAccount(t, s, "acct-alice", upd)
	findable(t, s, "alice3", nil)

	// Taking another account's username or email fails and changes nothing.
	for _, steal := range []*store.Account{
		newAccount("acct-alice", "bob", "alice4@example.com"),
		newAccount("acct-alice", "alice4", "bob@example.com"),
	} {
		steal.Generation = upd.Generation + 1
		wantErr(t, s.UpdateAccount(ctx, steal, upd.Generation), store.ErrAlreadyExists,
			"UpdateAccount to username %q, email %q", steal.Username, steal.Email)
		getAccount(t, s, "acct-alice", upd)
		getAccount(t, s, "acct-bob", bob)
		findable(t, s, "alice4", nil)
		findable(t, s, "alice4@example.com", nil)
	}
	findable(t, s, "bob", bob)
	findable(t, s, "bob@example.com", bob)

	// Keeping one's own username while dropping the email frees the email.
	keep := *upd
	keep.Email = ""
	keep.Generation = upd.Generation + 1
	wantErr(t, s.UpdateAccount(ctx, &keep, upd.Generation), nil, "UpdateAccount keeping the username")
	getAccount(t, s, "acct-alice", &keep)
	findable(t, s, "alice2", &keep)
	findable(t, s, "alice2@example.com", nil)
	carol := newAccount("acct-carol", "carol", "alice2@example.com")
	wantErr(t, s.CreateAccount(ctx, carol), nil, "CreateAccount with an email another account gave up")
	findable(t, s, "alice2@example.com", carol)

	missing := newAccount("acct-missing", "missing", "missing@example.com")
	wantErr(t, s.UpdateAccount(ctx, missing, missing.Generation), store.ErrNotFound, "UpdateAccount of a missing account")
	findable(t, s, "missing", nil)
	getAccount(t, s, "acct-missing", nil)
}

func testAccountDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newAccount("acct-alice", "alice", "alice@example.com")
	bob := newAccount("acct-bob", "bob", "bob@example.com")
	wantErr(t, s.CreateAccount(ctx, alice), nil, "CreateAccount")
	wantErr(t, s.CreateAccount(ctx, bob), nil, "CreateAccount")
	wantErr(t, s.DeleteAccount(ctx, "acct-alice"), nil, "DeleteAccount")
	getAccount(t, s, "acct-alice", nil)
	findable(t, s, "alice", nil)
	findable(t, s, "alice@example.com", nil)
	getAccount(t, s, "acct-bob", bob)
	wantErr(t, s.DeleteAccount(ctx, "acct-alice"), store.ErrNotFound, "DeleteAccount twice")
	wantErr(t, s.DeleteAccount(ctx, "acct-never"), store.ErrNotFound, "DeleteAccount of a missing account")
	wantErr(t, s.UpdateAccount(ctx, alice, alice.Generation), store.ErrNotFound, "UpdateAccount after DeleteAccount")

	// The username and email are free again.
	again := newAccount("acct-alice-2", "alice", "alice@example.com")
	wantErr(t, s.CreateAccount(ctx, again), nil, "CreateAccount with a deleted account's username and email")
	findable(t, s, "alice", again)
	findable(t, s, "alice@example.com", again)
}

func testAccountConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Distinct ids racing for one username, then for one email.
	for _, field := range []string{"username", "email"} {
		mk := func(i int) *store.Account {
			id := fmt.Sprintf("acct-%s-%d", field, i)
			if field == "username" {
				return newAccount(id, "contested", fmt.Sprintf("u%d@example.com", i))
			}
			return newAccount(id, fmt.Sprintf("user-%d", i), "contested@example.com")
		}
		errs := race(workers, func(i int) error { return s.CreateAccount(ctx, mk(i)) })
		w := exactlyOne(t, "concurrent CreateAccount with one "+field, errs, store.ErrAlreadyExists)
		login := "contested"
		if field == "email" {
			login = "contested@example.com"
		}
		findable(t, s, login, mk(w))
		for i := range workers {
			if i != w {
				getAccount(t, s, mk(i).ID, nil)
			}
		}
	}
}

func testAccountConcurrentUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newAccount("acct-1", "alice", "alice@example.com")
	wantErr(t, s.CreateAccount(ctx, orig), nil, "CreateAccount")
	mk := func(i int) *store.Account {
		a := newAccount("acct-1", "alice", "alice@example.com")
		a.Generation = orig.Generation + 1
		a.PasswordHash = fmt.Sprintf("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$writer%d", i)
		return a
	}
	errs := race(workers, func(i int) error { return s.UpdateAccount(ctx, mk(i), orig.Generation) })
	w := exactlyOne(t, "concurrent UpdateAccount expecting one generation", errs, store.ErrConflict)
	getAccount(t, s, "acct-1", mk(w))
}
