package tokentest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/store/memory"
)

func TestClock(t *testing.T) {
	clk := tokentest.NewClock()
	start := clk.Now()
	if want := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC); !start.Equal(want) || start.Location() != time.UTC {
		t.Fatalf("NewClock at %v, want %v", start, want)
	}
	clk.Advance(time.Hour)
	if got := clk.Now().Sub(start); got != time.Hour {
		t.Errorf("Advance(1h) moved the clock by %v", got)
	}
	now := time.Now()
	at := tokentest.NewClockAt(now)
	if got := at.Now(); !got.Equal(now) || got != now.Round(0) {
		t.Errorf("NewClockAt(%v).Now() = %v, want the same wall time without a monotonic reading", now, got)
	}
}

// TestFixedKeys: every algorithm has a key of ours and a different one of
// the attacker's, each call returns the same keys, and Sign's tokens verify
// with our key and name its kid.
func TestFixedKeys(t *testing.T) {
	ours, attacker := tokentest.FixedKeys(t)
	again, _ := tokentest.FixedKeys(t)
	for i, alg := range tokentest.Algorithms() {
		o, a := ours[alg], attacker[alg]
		if o == nil || a == nil || o.Key.ID == a.Key.ID || again[alg] != o {
			t.Fatalf("%s: ours %v, attacker's %v, again %v", alg, o, a, again[alg])
		}
		if o.Key.Algorithm != alg || o.Stored.Seq != int64(i+1) || a.Stored.Seq != int64(i+100) {
			t.Errorf("%s: ours %s seq %d, attacker's seq %d", alg, o.Key.Algorithm, o.Stored.Seq, a.Stored.Seq)
		}
		ks, err := token.NewKeySet([]*token.Key{o.Key}, o.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		raw := tokentest.Sign(t, o, map[string]any{"x": "y"}, jwt.MapClaims{"sub": "c1"})
		tok, err := jwt.Parse(raw, ks.Keyfunc, jwt.WithValidMethods(ks.Methods()))
		if err != nil {
			t.Fatalf("%s: our token does not verify: %v", alg, err)
		}
		if tok.Header["kid"] != o.Key.ID || tok.Header["typ"] != token.JWTType || tok.Header["x"] != "y" {
			t.Errorf("%s: header %v", alg, tok.Header)
		}
		if _, err := jwt.Parse(tokentest.Sign(t, a, nil, jwt.MapClaims{}), ks.Keyfunc); err == nil {
			t.Errorf("%s: the attacker's token verifies with our key", alg)
		}
		noTyp := tokentest.Sign(t, o, map[string]any{"typ": nil}, jwt.MapClaims{})
		if tok, _, _ := jwt.NewParser().ParseUnverified(noTyp, jwt.MapClaims{}); tok.Header["typ"] != nil {
			t.Errorf("%s: a nil typ left typ %v", alg, tok.Header["typ"])
		}
		if !o.Key.Symmetric() && len(o.PublicDER(t)) == 0 {
			t.Errorf("%s: no public DER", alg)
		}
	}
}

func TestManagerAndReader(t *testing.T) {
	st, clk := memory.New(), tokentest.NewClock()
	m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{Algorithm: token.EdDSA})
	ks := tokentest.KeySet(t, m)
	if ks.SigningKey().Algorithm != token.EdDSA || !ks.SigningKey().ActiveAt.Equal(clk.Now()) {
		t.Errorf("manager's key %+v, want EdDSA active at the clock's time", ks.SigningKey())
	}
	if kid := tokentest.KidOf(t, ks); kid != ks.SigningKey().ID {
		t.Errorf("KidOf = %s, want %s", kid, ks.SigningKey().ID)
	}
	r := tokentest.NewReader(t, st, clk, token.KeyReaderConfig{})
	rs := tokentest.KeySet(t, r)
	if _, ok := rs.Key(ks.SigningKey().ID); !ok || rs.SigningKey() != nil {
		t.Errorf("the reader does not see the manager's key, or can sign")
	}
	if _, err := tokentest.NewReader(t, memory.New(), clk, token.KeyReaderConfig{}).KeySet(context.Background()); !errors.Is(err, token.ErrNoKeys) {
		t.Errorf("a reader over an empty store: %v, want ErrNoKeys", err)
	}
}

func TestRandomID(t *testing.T) {
	a, b := tokentest.RandomID(), tokentest.RandomID()
	if len(a) != 32 || a == b {
		t.Errorf("RandomID gave %q and %q", a, b)
	}
}
