package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	// The verifier lives in middleware; these key manager tests check that
	// a verifier over the manager follows rotation. A test-only import, so
	// the arrows of the code itself still point down.
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// countingStore counts ListKeys, to see when a KeyManager goes to the store.
type countingStore struct {
	store.Keys
	lists atomic.Int64
}

func (c *countingStore) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	c.lists.Add(1)
	return c.Keys.ListKeys(ctx)
}

func ids(ks *token.KeySet) []string {
	var out []string
	for _, k := range ks.Keys() {
		out = append(out, k.ID)
	}
	return out
}

func jwksIDs(t *testing.T, ks *token.KeySet) []string {
	t.Helper()
	var doc struct{ Keys []token.JWK }
	if err := json.Unmarshal(ks.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range doc.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestKeyManagerFirstStart(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})
	stored, err := st.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Fatalf("first start stored %d keys, want 1", len(stored))
	}
	k := stored[0]
	if k.Algorithm != token.ES256 || k.Seq != 1 || !k.ActiveAt.Equal(clk.Now()) || !k.ExpiresAt.IsZero() || len(k.Private) == 0 {
		t.Errorf("first key = %+v", k)
	}
	ks := tokentest.KeySet(t, m)
	if ks.SigningKey() == nil || ks.SigningKey().ID != k.ID || tokentest.KidOf(t, ks) != k.ID {
		t.Error("the first key does not sign")
	}
	// A restart (or a second replica) reuses it.
	m2 := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})
	if got := tokentest.KeySet(t, m2).SigningKey().ID; got != k.ID {
		t.Errorf("second manager signs with %s, want %s", got, k.ID)
	}
	if stored, _ := st.ListKeys(ctx); len(stored) != 1 {
		t.Errorf("second start made %d keys", len(stored))
	}
}

// startAtOnce starts n key managers with cfg at the same moment, as n
// replicas starting together would, and returns them with their errors.
func startAtOnce(ctx context.Context, n int, cfg token.KeyManagerConfig) ([]*token.KeyManager, []error) {
	managers := make([]*token.KeyManager, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			managers[i], errs[i] = token.NewKeyManager(ctx, cfg)
		})
	}
	close(start)
	wg.Wait()
	return managers, errs
}

func TestKeyManagerConcurrentFirstStart(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		st, clk := memory.New(), tokentest.NewClock()
		const n = 8
		managers, errs := startAtOnce(ctx, n, token.KeyManagerConfig{Keys: st, Now: clk.Now, Algorithm: token.EdDSA})
		stored, err := st.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 {
			t.Fatalf("round %d: %d replicas starting at once stored %d keys, want 1", round, n, len(stored))
		}
		for i, m := range managers {
			if errs[i] != nil {
				t.Fatalf("round %d manager %d: %v", round, i, errs[i])
			}
			if got := tokentest.KeySet(t, m).SigningKey().ID; got != stored[0].ID {
				t.Errorf("round %d manager %d signs with %s, want %s", round, i, got, stored[0].ID)
			}
		}
	}
}

func TestKeyManagerRotate(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	const ahead, retain = 10 * time.Minute, 25 * time.Hour
	m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{PublishAhead: ahead, RetainFor: retain})
	oldID := tokentest.KeySet(t, m).SigningKey().ID

	// A verifier over the manager, the way a replica checks tokens.
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: m, Store: st, Now: clk.Now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, &store.Client{ID: "c1", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	oldToken := mint(t, tokentest.KeySet(t, m), clk.Now(), retain)

	rotatedAt := clk.Now()
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	ks := tokentest.KeySet(t, m)
	if len(ks.Keys()) != 2 {
		t.Fatalf("after Rotate the set has %v, want the old and the new key", ids(ks))
	}
	newID := ks.Keys()[1].ID
	if newID == oldID {
		t.Fatal("Rotate reused the old key id")
	}
	// Published before it signs.
	if !slices.Contains(jwksIDs(t, ks), newID) {
		t.Error("the new key is not in the JWKS before it signs")
	}
	if got := tokentest.KidOf(t, ks); got != oldID {
		t.Errorf("right after Rotate the set signs with %s, want the old key %s", got, oldID)
	}
	stored, _ := st.ListKeys(ctx)
	if len(stored) != 2 || !stored[1].ActiveAt.Equal(rotatedAt.Add(ahead)) || !stored[0].ExpiresAt.Equal(rotatedAt.Add(ahead+retain)) {
		t.Fatalf("stored after Rotate: %+v %+v", stored[0], stored[1])
	}

	clk.Advance(ahead - time.Second)
	if got := tokentest.KidOf(t, tokentest.KeySet(t, m)); got != oldID {
		t.Errorf("just before ActiveAt the set signs with %s, want the old key", got)
	}
	clk.Advance(time.Second)
	ks = tokentest.KeySet(t, m)
	if got := tokentest.KidOf(t, ks); got != newID {
		t.Errorf("at ActiveAt the set signs with %s, want the new key %s", got, newID)
	}
	if !slices.Contains(ids(ks), oldID) || !slices.Contains(jwksIDs(t, ks), oldID) {
		t.Error("the old key stopped being published when it stopped signing")
	}
	newToken := mint(t, ks, clk.Now(), time.Hour)
	for name, raw := range map[string]string{"old": oldToken, "new": newToken} {
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Errorf("%s key's token after the switch: %v", name, err)
		}
	}

	// The old key stays until its ExpiresAt, then goes.
	clk.Advance(retain - time.Second)
	if ks := tokentest.KeySet(t, m); !slices.Contains(ids(ks), oldID) {
		t.Error("the old key went before its ExpiresAt")
	}
	clk.Advance(time.Second)
	ks = tokentest.KeySet(t, m)
	if slices.Contains(ids(ks), oldID) || slices.Contains(jwksIDs(t, ks), oldID) {
		t.Errorf("the old key is still published at its ExpiresAt: %v", ids(ks))
	}
	if got := tokentest.KidOf(t, ks); got != newID {
		t.Errorf("after the old key expired the set signs with %s", got)
	}
	if _, err := v.Verify(ctx, oldToken); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token of an expired key: %v", err)
	}
}

func TestKeyManagerRotateTwoReplicas(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	a := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})
	b := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if stored, _ := st.ListKeys(ctx); len(stored) != 2 {
		t.Fatalf("two replicas rotating at once made %d keys, want 2 (one pending)", len(stored))
	}
	clk.Advance(10 * time.Minute)
	if ka, kb := tokentest.KeySet(t, a).SigningKey().ID, tokentest.KeySet(t, b).SigningKey().ID; ka != kb {
		t.Errorf("replicas sign with %s and %s", ka, kb)
	}
}

func TestKeyManagerRotateEvery(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{RotateEvery: 24 * time.Hour, PublishAhead: time.Hour})
	first := tokentest.KeySet(t, m).SigningKey().ID
	clk.Advance(23*time.Hour - time.Second)
	if stored, _ := st.ListKeys(ctx); len(stored) != 1 {
		t.Fatalf("rotated early: %d keys", len(stored))
	}
	tokentest.KeySet(t, m)
	clk.Advance(time.Second)
	if got := tokentest.KidOf(t, tokentest.KeySet(t, m)); got != first {
		t.Errorf("the key published ahead signs already")
	}
	stored, _ := st.ListKeys(ctx)
	if len(stored) != 2 {
		t.Fatalf("RotateEvery-PublishAhead passed and %d keys are stored, want 2", len(stored))
	}
	// The old key is expired as by Rotate: RetainFor (25h by default)
	// after it stops signing.
	if want := stored[1].ActiveAt.Add(25 * time.Hour); !stored[0].ExpiresAt.Equal(want) || !stored[1].ActiveAt.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("scheduled rotation: old key expires %v (want %v), new key active %v", stored[0].ExpiresAt, want, stored[1].ActiveAt)
	}
	clk.Advance(time.Hour)
	if got := tokentest.KidOf(t, tokentest.KeySet(t, m)); got == first {
		t.Error("the new key does not sign after RotateEvery")
	}
}

func TestKeyManagerLearnsOtherReplicasKey(t *testing.T) {
	ctx := context.Background()
	mem, clk := memory.New(), tokentest.NewClock()
	counted := &countingStore{Keys: mem}
	a := tokentest.NewManager(t, mem, clk, token.KeyManagerConfig{PublishAhead: time.Minute})
	// b reloads only once a day, so it learns a's new key only through
	// Refresh on an unknown kid.
	b := tokentest.NewManager(t, counted, clk, token.KeyManagerConfig{ReloadEvery: 24 * time.Hour, MinRefreshInterval: 5 * time.Second})
	if err := mem.CreateClient(ctx, &store.Client{ID: "c1", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: b, Store: mem, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	ks := tokentest.KeySet(t, a)
	now := clk.Now()
	raw, err := ks.Sign(&token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: testIssuer, Subject: "c1", ID: "t1", Audience: jwt.ClaimStrings{testIssuer},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}, ClientID: "c1", Kind: token.KindClient, Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
	lists := counted.lists.Load()
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("token signed by the other replica's new key: %v", err)
	}
	if counted.lists.Load() != lists+1 {
		t.Errorf("ListKeys called %d times, want 1", counted.lists.Load()-lists)
	}

	// Forged kids cannot make the store reload more than once per
	// MinRefreshInterval.
	forged := tokentest.Sign(t, tokentest.NewKey(t, token.ES256, 9), nil, jwt.MapClaims{"iss": testIssuer})
	lists = counted.lists.Load()
	for range 50 {
		if _, err := v.Verify(ctx, forged); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := counted.lists.Load() - lists; n > 0 {
		t.Errorf("50 forged kids within MinRefreshInterval made %d reloads, want 0 (one just happened)", n)
	}
	clk.Advance(5 * time.Second)
	for range 50 {
		v.Verify(ctx, forged)
	}
	if n := counted.lists.Load() - lists; n != 1 {
		t.Errorf("50 forged kids after MinRefreshInterval made %d reloads, want 1", n)
	}
}

func TestKeyManagerAlgorithms(t *testing.T) {
	for _, alg := range tokentest.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			st, clk := memory.New(), tokentest.NewClock()
			m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{Algorithm: alg})
			ks := tokentest.KeySet(t, m)
			if ks.SigningKey().Algorithm != alg || !slices.Equal(ks.Methods(), []string{alg}) {
				t.Errorf("signing key %s, methods %v", ks.SigningKey().Algorithm, ks.Methods())
			}
			if alg == token.HS256 {
				if string(ks.JWKS()) != `{"keys":[]}` {
					t.Errorf("an HS256 key reached the JWKS: %s", ks.JWKS())
				}
				if !ks.SigningKey().Symmetric() {
					t.Error("HS256 key is not Symmetric")
				}
			} else if got := jwksIDs(t, ks); len(got) != 1 || got[0] != ks.SigningKey().ID {
				t.Errorf("JWKS kids %v", got)
			}
		})
	}
}

func TestKeyManagerConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := token.NewKeyManager(ctx, token.KeyManagerConfig{}); err == nil {
		t.Error("no Keys accepted")
	}
	for _, alg := range []string{"none", "HS512", "es256", "PS256"} {
		if _, err := token.NewKeyManager(ctx, token.KeyManagerConfig{Keys: memory.New(), Algorithm: alg}); !errors.Is(err, token.ErrUnsupportedAlgorithm) {
			t.Errorf("Algorithm %q: %v", alg, err)
		}
	}
}

// TestKeyManagerAlgorithmChange restarts an issuer with another Algorithm
// on a store that has keys: the new key is published PublishAhead before it
// signs (a verifier that caches the set learns it first), the old one signs
// until then and is expired RetainFor after. HS256 never reaches the JWKS.
func TestKeyManagerAlgorithmChange(t *testing.T) {
	for _, c := range []struct{ from, to string }{{token.ES256, token.EdDSA}, {token.HS256, token.ES256}, {token.RS256, token.HS256}} {
		t.Run(c.from+" to "+c.to, func(t *testing.T) {
			ctx := context.Background()
			st, clk := memory.New(), tokentest.NewClock()
			const ahead, retain = 10 * time.Minute, 25 * time.Hour
			cfg := token.KeyManagerConfig{Algorithm: c.from, PublishAhead: ahead, RetainFor: retain}
			before := tokentest.NewManager(t, st, clk, cfg)
			oldID := tokentest.KeySet(t, before).SigningKey().ID
			if err := st.CreateClient(ctx, &store.Client{ID: "c1", Generation: 1}); err != nil {
				t.Fatal(err)
			}
			oldToken := mint(t, tokentest.KeySet(t, before), clk.Now(), 2*time.Hour)
			// A resource server sharing the store, reloading twice per
			// PublishAhead and never on an unknown kid within a day.
			reader, err := token.NewKeyReader(ctx, token.KeyReaderConfig{Keys: st, ReloadEvery: ahead / 2, MinRefreshInterval: 24 * time.Hour, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: reader, Store: st, Now: clk.Now, CacheSize: -1})
			if err != nil {
				t.Fatal(err)
			}

			clk.Advance(time.Hour)
			if _, err := reader.KeySet(ctx); err != nil { // cached from now on
				t.Fatal(err)
			}
			changedAt := clk.Now()
			cfg.Algorithm = c.to
			m := tokentest.NewManager(t, st, clk, cfg) // the issuer, restarted with the new algorithm
			stored, _ := st.ListKeys(ctx)
			if len(stored) != 2 {
				t.Fatalf("after the change %d keys are stored, want 2", len(stored))
			}
			newID := stored[1].ID
			if k := stored[1]; k.Algorithm != c.to || k.Seq != 2 || !k.ActiveAt.Equal(changedAt.Add(ahead)) || !k.ExpiresAt.IsZero() {
				t.Errorf("new key = %s %s seq %d active %v expires %v, want %s active at %v", k.ID, k.Algorithm, k.Seq, k.ActiveAt, k.ExpiresAt, c.to, changedAt.Add(ahead))
			}
			if k := stored[0]; k.ID != oldID || !k.ExpiresAt.Equal(changedAt.Add(ahead+retain)) {
				t.Errorf("old key %s expires at %v, want %v", k.ID, k.ExpiresAt, changedAt.Add(ahead+retain))
			}
			ks := tokentest.KeySet(t, m)
			if got := tokentest.KidOf(t, ks); got != oldID {
				t.Errorf("right after the change the issuer signs with %s, want the old key until the new one is active", got)
			}
			if c.to != token.HS256 && !slices.Contains(jwksIDs(t, ks), newID) {
				t.Error("the new key is not in the JWKS before it signs")
			}
			if c.from == token.HS256 || c.to == token.HS256 {
				for _, k := range ks.Keys() {
					if k.Symmetric() && slices.Contains(jwksIDs(t, ks), k.ID) {
						t.Errorf("the HS256 key %s reached the JWKS", k.ID)
					}
				}
			}

			clk.Advance(ahead / 2)
			if rs, err := reader.KeySet(ctx); err != nil {
				t.Fatal(err)
			} else if _, ok := rs.Key(newID); !ok {
				t.Error("a verifier reloading within PublishAhead does not know the new key before it signs")
			}
			clk.Advance(ahead/2 - time.Second)
			if got := tokentest.KidOf(t, tokentest.KeySet(t, m)); got != oldID {
				t.Errorf("just before ActiveAt the issuer signs with %s, want the old key", got)
			}
			clk.Advance(time.Second)
			ks = tokentest.KeySet(t, m)
			if sk := ks.SigningKey(); sk.ID != newID || sk.Algorithm != c.to {
				t.Errorf("at ActiveAt the issuer signs with %s (%s), want %s (%s)", sk.ID, sk.Algorithm, newID, c.to)
			}
			newToken := mint(t, ks, clk.Now(), time.Hour)
			for name, raw := range map[string]string{"old": oldToken, "new": newToken} {
				if _, err := v.Verify(ctx, raw); err != nil {
					t.Errorf("%s key's token at the reader after the switch: %v", name, err)
				}
			}

			clk.Advance(retain - time.Second)
			if ks := tokentest.KeySet(t, m); !slices.Contains(ids(ks), oldID) {
				t.Error("the old key went before RetainFor had passed")
			}
			clk.Advance(time.Second)
			ks = tokentest.KeySet(t, m)
			if got := ids(ks); !slices.Equal(got, []string{newID}) {
				t.Errorf("RetainFor after the switch the issuer publishes %v, want only %s", got, newID)
			}
			rs, err := reader.KeySet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(rs); !slices.Equal(got, []string{newID}) {
				t.Errorf("RetainFor after the switch the reader has %v, want only %s", got, newID)
			}
			if stored, _ := st.ListKeys(ctx); len(stored) != 2 {
				t.Errorf("%d keys stored, want 2: the change rotated more than once", len(stored))
			}
		})
	}
}

// TestKeyManagerAlgorithmChangeReplicas restarts replicas at once with a
// new Algorithm: they create one new key between them and agree on it.
func TestKeyManagerAlgorithmChangeReplicas(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		st, clk := memory.New(), tokentest.NewClock()
		oldID := tokentest.KeySet(t, tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})).SigningKey().ID
		const n = 8
		managers, errs := startAtOnce(ctx, n, token.KeyManagerConfig{Keys: st, Now: clk.Now, Algorithm: token.EdDSA})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d manager %d: %v", round, i, err)
			}
		}
		stored, err := st.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 2 || stored[1].Algorithm != token.EdDSA || stored[0].ExpiresAt.IsZero() {
			t.Fatalf("round %d: %d replicas changing algorithm at once stored %d keys, want the old one (expiring) and one new", round, n, len(stored))
		}
		for i, m := range managers {
			if got := tokentest.KeySet(t, m).SigningKey().ID; got != oldID {
				t.Errorf("round %d manager %d signs with %s before the new key is active, want %s", round, i, got, oldID)
			}
		}
		clk.Advance(10 * time.Minute)
		for i, m := range managers {
			if got := tokentest.KeySet(t, m).SigningKey().ID; got != stored[1].ID {
				t.Errorf("round %d manager %d signs with %s, want the new key %s", round, i, got, stored[1].ID)
			}
		}
	}
}

// TestKeyManagerExpiresReplacedKeys: a store where a key was replaced but
// never given an expiry (an algorithm change before the manager expired old
// keys, or a rotation cut short between its two writes) is healed: the old
// key expires RetainFor after its successor started signing.
func TestKeyManagerExpiresReplacedKeys(t *testing.T) {
	ctx := context.Background()
	const retain = 25 * time.Hour
	put := func(t *testing.T, st store.Keys, alg string, seq int64, activeAt time.Time) string {
		t.Helper()
		sk, err := token.GenerateKey(alg, activeAt)
		if err != nil {
			t.Fatal(err)
		}
		sk.Seq, sk.ActiveAt = seq, activeAt
		if err := st.CreateKey(ctx, sk); err != nil {
			t.Fatal(err)
		}
		return sk.ID
	}
	t.Run("left over by an old algorithm change", func(t *testing.T) {
		st, clk := memory.New(), tokentest.NewClock()
		now := clk.Now()
		put(t, st, token.ES256, 1, now.Add(-48*time.Hour))
		edID := put(t, st, token.EdDSA, 2, now.Add(-47*time.Hour))
		m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{Algorithm: token.EdDSA, RetainFor: retain})
		stored, _ := st.ListKeys(ctx)
		if want := now.Add(-47*time.Hour + retain); !stored[0].ExpiresAt.Equal(want) {
			t.Errorf("replaced key expires at %v, want %v", stored[0].ExpiresAt, want)
		}
		if got := ids(tokentest.KeySet(t, m)); !slices.Equal(got, []string{edID}) {
			t.Errorf("published %v, want only %s: the replaced key's tokens have all expired", got, edID)
		}
	})
	t.Run("rotation cut short", func(t *testing.T) {
		st, clk := memory.New(), tokentest.NewClock()
		now := clk.Now()
		oldID := put(t, st, token.ES256, 1, now.Add(-time.Hour))
		put(t, st, token.ES256, 2, now.Add(5*time.Minute))
		m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{RetainFor: retain})
		stored, _ := st.ListKeys(ctx)
		if want := now.Add(5*time.Minute + retain); !stored[0].ExpiresAt.Equal(want) || !stored[1].ExpiresAt.IsZero() {
			t.Errorf("expiries %v and %v, want %v and none", stored[0].ExpiresAt, stored[1].ExpiresAt, want)
		}
		if got := tokentest.KidOf(t, tokentest.KeySet(t, m)); got != oldID {
			t.Errorf("signs with %s, want the old key until the pending one is active", got)
		}
		if len(stored) != 2 {
			t.Errorf("%d keys stored: the pending key was not taken as the rotation", len(stored))
		}
	})
}

func TestJWKS(t *testing.T) {
	ourKeys, _ := tokentest.FixedKeys(t)
	b64 := base64.RawURLEncoding
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256} {
		t.Run(alg, func(t *testing.T) {
			k := ourKeys[alg]
			ks, err := token.NewKeySet([]*token.Key{k.Key}, k.Key.ID)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string][]map[string]string
			if err := json.Unmarshal(ks.JWKS(), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc) != 1 || len(doc["keys"]) != 1 {
				t.Fatalf("JWKS = %s", ks.JWKS())
			}
			jwk := doc["keys"][0]
			wantFields := map[string][]string{
				token.ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"},
				token.EdDSA: {"alg", "crv", "kid", "kty", "use", "x"},
				token.RS256: {"alg", "e", "kid", "kty", "n", "use"},
			}[alg]
			var fields []string
			for f := range jwk {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			if !slices.Equal(fields, wantFields) {
				t.Errorf("JWK fields %v, want %v (never d, p, q or k)", fields, wantFields)
			}
			if jwk["alg"] != alg || jwk["kid"] != k.Key.ID || jwk["use"] != "sig" {
				t.Errorf("JWK = %v", jwk)
			}
			size := func(f string) int {
				b, err := b64.DecodeString(jwk[f])
				if err != nil {
					t.Errorf("%s is not unpadded base64url: %v", f, err)
				}
				return len(b)
			}
			switch alg {
			case token.ES256:
				if jwk["kty"] != "EC" || jwk["crv"] != "P-256" || size("x") != 32 || size("y") != 32 {
					t.Errorf("EC JWK = %v", jwk)
				}
			case token.EdDSA:
				if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" || size("x") != 32 {
					t.Errorf("OKP JWK = %v", jwk)
				}
			case token.RS256:
				if jwk["kty"] != "RSA" || jwk["e"] != "AQAB" || size("n") != 256 {
					t.Errorf("RSA JWK = %v", jwk)
				}
			}

			// A JWKS consumer (keyfunc, as remote resource servers use)
			// verifies our tokens with it, and only with the pinned alg.
			kf, err := keyfunc.NewJWKSetJSON(ks.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			raw, err := ks.Sign(jwt.MapClaims{"sub": "x"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jwt.Parse(raw, kf.Keyfunc); err != nil {
				t.Errorf("keyfunc cannot verify our token with our JWKS: %v", err)
			}
		})
	}
	t.Run("HS256 never published", func(t *testing.T) {
		hs, es := ourKeys[token.HS256], ourKeys[token.ES256]
		ks, err := token.NewKeySet([]*token.Key{hs.Key, es.Key}, hs.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := jwksIDs(t, ks); !slices.Equal(got, []string{es.Key.ID}) {
			t.Errorf("JWKS of HS256+ES256 = %s", ks.JWKS())
		}
		if _, ok := hs.Key.JWK(); ok {
			t.Error("an HS256 key has a JWK")
		}
		empty, _ := token.NewKeySet(nil, "")
		if string(empty.JWKS()) != `{"keys":[]}` {
			t.Errorf("empty JWKS = %s", empty.JWKS())
		}
	})
}

func TestKeySet(t *testing.T) {
	ourKeys, _ := tokentest.FixedKeys(t)
	es, ed := ourKeys[token.ES256], ourKeys[token.EdDSA]
	if _, err := token.NewKeySet([]*token.Key{es.Key, es.Key}, ""); err == nil {
		t.Error("duplicate key ids accepted")
	}
	if _, err := token.NewKeySet([]*token.Key{es.Key}, "missing"); err == nil {
		t.Error("a signing key outside the set accepted")
	}
	jwk, _ := ed.Key.JWK()
	pubOnly, err := token.NewPublicKey(ed.Key.ID, token.EdDSA, ed.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.NewKeySet([]*token.Key{pubOnly}, pubOnly.ID); err == nil {
		t.Error("a public-only key accepted as signing key")
	}
	verifyOnly, err := token.NewKeySet([]*token.Key{pubOnly}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyOnly.Sign(jwt.MapClaims{}); err == nil {
		t.Error("a verify-only set signed")
	}
	if j, _ := pubOnly.JWK(); j != jwk {
		t.Errorf("public-only JWK %v, want %v", j, jwk)
	}
	// A token signed by the full key verifies with the public-only set.
	full, _ := token.NewKeySet([]*token.Key{ed.Key}, ed.Key.ID)
	raw, _ := full.Sign(jwt.MapClaims{"sub": "x"})
	if _, err := jwt.Parse(raw, verifyOnly.Keyfunc); err != nil {
		t.Errorf("public-only set: %v", err)
	}
	if _, ok := ed.Key.Signer(); !ok {
		t.Error("no crypto.Signer")
	}
}

func TestParseKeyPinsAlgorithm(t *testing.T) {
	ourKeys, _ := tokentest.FixedKeys(t)
	for _, from := range tokentest.Algorithms() {
		for _, to := range []string{token.ES256, token.EdDSA, token.RS256} {
			if from == to {
				continue
			}
			sk := *ourKeys[from].Stored
			sk.Algorithm = to
			if _, err := token.ParseKey(&sk); err == nil {
				t.Errorf("a %s key parsed as %s", from, to)
			}
		}
	}
	short := *ourKeys[token.HS256].Stored
	short.Private = short.Private[:31]
	if _, err := token.ParseKey(&short); err == nil {
		t.Error("a 248-bit HS256 key parsed")
	}
	if _, err := token.ParseKey(&store.SigningKey{ID: "x", Algorithm: "none"}); !errors.Is(err, token.ErrUnsupportedAlgorithm) {
		t.Errorf("alg none: %v", err)
	}
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256} {
		if _, err := token.NewPublicKey("x", alg, []byte("0123456789abcdef0123456789abcdef")); err == nil {
			t.Errorf("an HMAC secret accepted as %s public key", alg)
		}
	}
	if _, err := token.NewPublicKey("x", token.HS256, ourKeys[token.ES256].Key.Public()); err == nil {
		t.Error("an EC public key accepted as HS256 secret")
	}
}
