package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunLister checks [store.Lister]: every client and account, in bytewise id
// order, a page at a time, owned or not, and none that was deleted.
func RunLister(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Empty", testListerEmpty)
	run(t, newStore, "Clients", testListerClients)
	run(t, newStore, "Accounts", testListerAccounts)
	run(t, newStore, "Limit", testListerLimit)
}

// listIDs are created out of order; sorted bytewise they are
// "B" < "Z9" < "_" < "a" < "a-1" < "a}" < "b" < "client-x" < "zz" < "ü".
var listIDs = []string{"client-x", "b", "ü", "a", "_", "Z9", "a}", "B", "zz", "a-1"}

func testListerEmpty(t *testing.T, s store.Store) {
	l := capability[store.Lister](t, s, "Lister")
	cs, err := l.ListClients(t.Context(), "", store.MaxListLimit)
	wantErr(t, err, nil, "ListClients on an empty store")
	as, err2 := l.ListAccounts(t.Context(), "", 1)
	wantErr(t, err2, nil, "ListAccounts on an empty store")
	if len(cs) != 0 || len(as) != 0 {
		t.Fatalf("an empty store listed %d clients and %d accounts", len(cs), len(as))
	}
}

// pages reads every page of size n after "" and returns the pages' ids.
func pages[T any](t *testing.T, what string, n int, list func(after string, limit int) ([]T, error), id func(T) string) [][]string {
	t.Helper()
	var out [][]string
	after := ""
	for range 100 {
		got, err := list(after, n)
		wantErr(t, err, nil, "%s(%q, %d)", what, after, n)
		var ids []string
		for _, v := range got {
			ids = append(ids, id(v))
		}
		out = append(out, ids)
		if len(got) > n {
			t.Fatalf("%s(%q, %d) returned %d", what, after, n, len(got))
		}
		if len(got) < n {
			return out
		}
		after = ids[len(ids)-1]
	}
	t.Fatalf("%s: more than 100 pages", what)
	return nil
}

func checkPages(t *testing.T, what string, got [][]string, want []string, n int) {
	t.Helper()
	var flat []string
	for _, p := range got {
		flat = append(flat, p...)
	}
	if !slices.Equal(flat, want) {
		t.Fatalf("%s in pages of %d: got %q, want %q", what, n, got, want)
	}
}

func testListerClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := capability[store.Lister](t, s, "Lister")
	byID := map[string]*store.Client{}
	for i, id := range listIDs {
		c := ownedClient(id, "", at(time.Duration(i)*time.Minute))
		if i%2 == 0 {
			c.OwnerAccount = "acct-owner" // owned or not, every client is listed
		}
		byID[id] = c
		createClients(t, s, c)
	}
	gone := newClient("deleted")
	createClients(t, s, gone)
	wantErr(t, s.DeleteClient(ctx, gone.ID), nil, "DeleteClient")

	want := slices.Clone(listIDs)
	slices.Sort(want)
	for _, n := range []int{1, 3, 5, len(want), store.MaxListLimit} {
		got := pages(t, "ListClients", n, func(after string, limit int) ([]*store.Client, error) {
			return l.ListClients(ctx, after, limit)
		}, func(c *store.Client) string { return c.ID })
		checkPages(t, "ListClients", got, want, n)
	}
	all, err := l.ListClients(ctx, "", store.MaxListLimit)
	wantErr(t, err, nil, "ListClients")
	for i, c := range all {
		checkClient(t, fmt.Sprintf("ListClients[%d]", i), c, byID[c.ID])
	}
	// The cursor need not be an id that exists.
	got, err := l.ListClients(ctx, "a!", 2)
	wantErr(t, err, nil, "ListClients after a missing id")
	if len(got) != 2 || got[0].ID != "a-1" || got[1].ID != "a}" {
		t.Errorf("ListClients(%q, 2) = %d clients, want a-1 and a}", "a!", len(got))
	}
	// A copy: changing it changes nothing stored.
	all[0].Name = "changed"
	again, err := l.ListClients(ctx, "", 1)
	wantErr(t, err, nil, "ListClients")
	checkClient(t, "ListClients after changing a listed copy", again[0], byID[again[0].ID])
}

func testListerAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := capability[store.Lister](t, s, "Lister")
	byID := map[string]*store.Account{}
	for i, id := range listIDs {
		a := newAccount(id, fmt.Sprintf("user%d", i), "")
		if i%2 == 0 {
			a.Email = fmt.Sprintf("user%d@example.com", i)
		}
		byID[id] = a
		wantErr(t, s.CreateAccount(ctx, a), nil, "CreateAccount(%q)", id)
	}
	// An account that owns clients: its owner index is no account.
	createClients(t, s, ownedClient("owned-1", "a", base), ownedClient("owned-2", "b", base))
	gone := newAccount("deleted", "gone", "")
	wantErr(t, s.CreateAccount(ctx, gone), nil, "CreateAccount")
	wantErr(t, s.DeleteAccount(ctx, gone.ID), nil, "DeleteAccount")

	want := slices.Clone(listIDs)
	slices.Sort(want)
	for _, n := range []int{1, 4, len(want) + 1} {
		got := pages(t, "ListAccounts", n, func(after string, limit int) ([]*store.Account, error) {
			return l.ListAccounts(ctx, after, limit)
		}, func(a *store.Account) string { return a.ID })
		checkPages(t, "ListAccounts", got, want, n)
	}
	all, err := l.ListAccounts(ctx, "", store.MaxListLimit)
	wantErr(t, err, nil, "ListAccounts")
	for i, a := range all {
		checkAccount(t, fmt.Sprintf("ListAccounts[%d]", i), a, byID[a.ID])
	}
}

// testListerLimit: a limit outside 1..MaxListLimit is the caller's mistake.
func testListerLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := capability[store.Lister](t, s, "Lister")
	createClients(t, s, newClient("c"))
	for _, n := range []int{0, -1, store.MaxListLimit + 1, math.MinInt, math.MaxInt} {
		_, err := l.ListClients(ctx, "", n)
		wantInvalid(t, err, "ListClients(limit %d)", n)
		_, err = l.ListAccounts(ctx, "", n)
		wantInvalid(t, err, "ListAccounts(limit %d)", n)
	}
}
