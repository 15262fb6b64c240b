package memory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

var t0 = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// eventually polls cond until it holds or a generous liveness bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	s := New()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan store.Event, 16)
	if err := s.Watch(ctx, func(e store.Event) { got <- e }); err != nil {
		t.Fatal(err)
	}
	if n := s.watching(); n != 1 {
		t.Fatalf("watching() = %d after Watch, want 1", n)
	}
	if err := s.Revoke(ctx, "jti-a", t0); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.ID != "jti-a" {
			t.Fatalf("got %+v, want the revocation of jti-a", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	cancel()
	eventually(t, "watcher unsubscribed after cancel", func() bool { return s.watching() == 0 })
	// The delivering goroutine has returned, so nothing more can arrive.
	if err := s.Revoke(context.Background(), "jti-b", t0); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		t.Fatalf("event %+v delivered after the watcher's context ended", e)
	default:
	}
}

func TestWatchOrder(t *testing.T) {
	s := New()
	got := make(chan store.Event, 1000)
	if err := s.Watch(t.Context(), func(e store.Event) { got <- e }); err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		if err := s.Revoke(t.Context(), fmt.Sprint(i), t0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case e := <-got:
			if e.ID != fmt.Sprint(i) {
				t.Fatalf("event %d is %+v: out of order", i, e)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not delivered within 5s", i)
		}
	}
}

func TestWatchBadInput(t *testing.T) {
	s := New()
	if err := s.Watch(t.Context(), nil); err == nil {
		t.Error("Watch with a nil func succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Watch(ctx, func(store.Event) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch with a done context: %v, want context.Canceled", err)
	}
	if n := s.watching(); n != 0 {
		t.Errorf("watching() = %d after failed Watch calls, want 0", n)
	}
}

func TestNoEventWithoutChange(t *testing.T) {
	s := New()
	ctx := t.Context()
	got := make(chan store.Event, 16)
	if err := s.Watch(ctx, func(e store.Event) { got <- e }); err != nil {
		t.Fatal(err)
	}
	// Failed writes and a revocation that shortens nothing publish nothing;
	// the final revocation is a marker that arrives after anything earlier.
	_ = s.Revoke(ctx, "jti-1", t0.Add(2*time.Hour))
	_ = s.Revoke(ctx, "jti-1", t0.Add(time.Hour))
	_ = s.UpdateClient(ctx, &store.Client{ID: "missing"}, 0)
	_ = s.DeleteClient(ctx, "missing")
	_ = s.UpdateAccount(ctx, &store.Account{ID: "missing"}, 0)
	_ = s.DeleteAccount(ctx, "missing")
	_ = s.Revoke(ctx, "marker", t0)
	var ids []string
	for {
		select {
		case e := <-got:
			ids = append(ids, e.ID)
			if e.ID != "marker" {
				continue
			}
			if fmt.Sprint(ids) != "[jti-1 marker]" {
				t.Fatalf("events %v, want [jti-1 marker]", ids)
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatalf("marker not delivered within 5s (saw %v)", ids)
		}
	}
}

// TestZeroTimesRefused: the zero times the contract refuses leave nothing
// behind in the maps, not even a family for a refused refresh token.
func TestZeroTimesRefused(t *testing.T) {
	s := New()
	ctx := t.Context()
	if err := s.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "r", FamilyID: "f"}); !errors.Is(err, errZeroExpiry) {
		t.Errorf("CreateRefreshToken without expiry: %v, want errZeroExpiry", err)
	}
	if err := s.CreateAccessToken(ctx, &store.AccessToken{Hash: "a"}); !errors.Is(err, errZeroExpiry) {
		t.Errorf("CreateAccessToken without expiry: %v, want errZeroExpiry", err)
	}
	if err := s.Revoke(ctx, "jti", time.Time{}); !errors.Is(err, errZeroExpiry) {
		t.Errorf("Revoke without expiry: %v, want errZeroExpiry", err)
	}
	if _, err := s.ConsumeRefreshToken(ctx, "r", time.Time{}); !errors.Is(err, errZeroNow) {
		t.Errorf("ConsumeRefreshToken at the zero time: %v, want errZeroNow", err)
	}
	if n := len(s.refresh) + len(s.families) + len(s.access) + len(s.revoked); n != 0 {
		t.Errorf("%d records left by refused writes, want 0", n)
	}
}

func TestSweepDropsFamilies(t *testing.T) {
	s := New()
	ctx := t.Context()
	for i, fam := range []string{"f1", "f1", "f2"} {
		tok := &store.RefreshToken{Hash: fmt.Sprint(i), FamilyID: fam, Grant: store.Grant{ExpiresAt: t0.Add(time.Duration(i+1) * time.Hour)}}
		if err := s.CreateRefreshToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.RevokeRefreshFamily(ctx, "f1")
	_ = s.RevokeRefreshFamily(ctx, "unknown")
	if n := len(s.families); n != 3 {
		t.Fatalf("%d families, want 3", n)
	}
	// At t0+1h30 one f1 token is gone, one remains: f1 must stay revoked.
	if n, _ := s.Sweep(ctx, t0.Add(90*time.Minute)); n != 1 {
		t.Fatalf("Sweep removed %d, want 1", n)
	}
	if _, ok := s.families["f1"]; !ok {
		t.Fatal("Sweep dropped a revoked family that still has a token")
	}
	if _, err := s.GetRefreshToken(ctx, "1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of a revoked family after Sweep: %v, want ErrNotFound", err)
	}
	if _, ok := s.families["unknown"]; ok {
		t.Error("Sweep kept a family without tokens")
	}
	if n, _ := s.Sweep(ctx, t0.Add(10*time.Hour)); n != 2 || len(s.families) != 0 {
		t.Errorf("final Sweep removed %d tokens and left %d families, want 2 and 0", n, len(s.families))
	}
}

func TestRateWindowsBounded(t *testing.T) {
	s := New()
	ctx := t.Context()
	// Distinct keys, each in a window that ends before the next starts:
	// ended windows must not pile up between sweeps.
	for i := range 20 * minWindowsCheck {
		now := t0.Add(time.Duration(i) * time.Second)
		if _, _, err := s.Hit(ctx, fmt.Sprint("addr-", i), time.Second, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.windows); n > 2*minWindowsCheck {
		t.Errorf("%d rate-limit windows kept, want at most %d", n, 2*minWindowsCheck)
	}
	if _, _, err := s.Hit(ctx, "k", 0, t0); err == nil {
		t.Error("Hit with a zero window succeeded")
	}
	if _, _, err := s.Count(ctx, "k", -time.Second, t0); err == nil {
		t.Error("Count with a negative window succeeded")
	}
}

func TestNilRecords(t *testing.T) {
	s := New()
	ctx := t.Context()
	for name, err := range map[string]error{
		"CreateClient":       s.CreateClient(ctx, nil),
		"UpdateClient":       s.UpdateClient(ctx, nil, 0),
		"CreateAccount":      s.CreateAccount(ctx, nil),
		"UpdateAccount":      s.UpdateAccount(ctx, nil, 0),
		"CreateRefreshToken": s.CreateRefreshToken(ctx, nil),
		"CreateAccessToken":  s.CreateAccessToken(ctx, nil),
		"CreateKey":          s.CreateKey(ctx, nil),
	} {
		if err == nil {
			t.Errorf("%s(nil) succeeded", name)
		}
	}
}

func TestClone2(t *testing.T) {
	a, b := clone2([]string{"x", "y"}, []string{"z"})
	a = append(a, "appended")
	if b[0] != "z" {
		t.Fatalf("append to the first clone overwrote the second: %q", b)
	}
	_ = a
	for _, c := range []struct{ a, b []string }{{nil, nil}, {[]string{}, nil}, {nil, []string{}}, {nil, []string{"z"}}} {
		ca, cb := clone2(c.a, c.b)
		if (ca == nil) != (c.a == nil) || (cb == nil) != (c.b == nil) {
			t.Errorf("clone2(%#v, %#v) = %#v, %#v: nil-ness changed", c.a, c.b, ca, cb)
		}
	}
}
