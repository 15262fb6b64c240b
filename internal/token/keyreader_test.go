package token_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// readOnlyKeys fails the test on any write, counts ListKeys and can be
// made to fail them.
type readOnlyKeys struct {
	t *testing.T
	store.Keys
	lists atomic.Int64
	fail  atomic.Bool
}

var errStoreDown = errors.New("store down")

func (r *readOnlyKeys) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	r.lists.Add(1)
	if r.fail.Load() {
		return nil, errStoreDown
	}
	return r.Keys.ListKeys(ctx)
}

func (r *readOnlyKeys) CreateKey(_ context.Context, k *store.SigningKey) error {
	r.t.Errorf("a reader created key %s (%s)", k.ID, k.Algorithm)
	return errors.New("read only")
}

func (r *readOnlyKeys) UpdateKeyExpiry(_ context.Context, id string, _ time.Time) error {
	r.t.Errorf("a reader expired key %s", id)
	return errors.New("read only")
}

func (r *readOnlyKeys) DeleteKey(_ context.Context, id string) error {
	r.t.Errorf("a reader deleted key %s", id)
	return errors.New("read only")
}

// TestKeyReaderEmptyStore: a resource server that starts before any issuer
// fails closed, writes nothing, and recovers on its own (rate limited) once
// the issuer has created a key of its algorithm.
func TestKeyReaderEmptyStore(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	ro := &readOnlyKeys{t: t, Keys: st}
	r := tokentest.NewReader(t, ro, clk, token.KeyReaderConfig{})
	if ks, err := r.KeySet(ctx); !errors.Is(err, token.ErrNoKeys) || ks != nil {
		t.Fatalf("KeySet on an empty store = %v, %v; want ErrNoKeys", ks, err)
	}
	if _, err := r.Refresh(ctx); !errors.Is(err, token.ErrNoKeys) {
		t.Errorf("Refresh on an empty store: %v, want ErrNoKeys", err)
	}
	if err := st.CreateClient(ctx, &store.Client{ID: "c1", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: r, Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	forged := tokentest.Sign(t, tokentest.NewKey(t, token.ES256, 1), nil, jwt.MapClaims{"iss": testIssuer})
	if _, err := v.Verify(ctx, forged); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("Verify with no key published: %v, want ErrUnavailable", err)
	}

	// The issuer starts, with EdDSA.
	iss := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{Algorithm: token.EdDSA})
	issued := mint(t, tokentest.KeySet(t, iss), clk.Now(), time.Hour)
	lists := ro.lists.Load()
	for range 50 {
		if _, err := v.Verify(ctx, issued); !errors.Is(err, middleware.ErrUnavailable) {
			t.Fatalf("within MinRefreshInterval of the last try: %v, want ErrUnavailable", err)
		}
	}
	if n := ro.lists.Load() - lists; n != 0 {
		t.Errorf("50 tokens within MinRefreshInterval made %d reloads of an empty store, want 0", n)
	}
	clk.Advance(5 * time.Second)
	p, err := v.Verify(ctx, issued)
	if err != nil {
		t.Fatalf("after MinRefreshInterval the reader has not recovered: %v", err)
	}
	if p.ClientID != "c1" {
		t.Errorf("principal %+v", p)
	}
	ks, err := r.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ks.SigningKey() != nil {
		t.Error("a reader's set has a signing key")
	}
	if !slices.Equal(ks.Methods(), []string{token.EdDSA}) {
		t.Errorf("methods %v, want the issuer's EdDSA only", ks.Methods())
	}
	if stored, _ := st.ListKeys(ctx); len(stored) != 1 || stored[0].Algorithm != token.EdDSA {
		t.Errorf("stored %d keys, want the issuer's one EdDSA key", len(stored))
	}
}

// TestKeyReaderFollowsIssuer: the reader learns what the issuer does to its
// keys (rotation, a kid it has not seen, expiry) and writes nothing.
func TestKeyReaderFollowsIssuer(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	const ahead, retain = time.Minute, time.Hour
	iss := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{PublishAhead: ahead, RetainFor: retain})
	oldID := tokentest.KeySet(t, iss).SigningKey().ID
	ro := &readOnlyKeys{t: t, Keys: st}
	// Reloads once a day, so only Refresh on an unknown kid and the
	// expiries it read teach it anything within the test.
	r := tokentest.NewReader(t, ro, clk, token.KeyReaderConfig{ReloadEvery: 24 * time.Hour})
	if err := st.CreateClient(ctx, &store.Client{ID: "c1", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: r, Store: st, Now: clk.Now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	oldToken := mint(t, tokentest.KeySet(t, iss), clk.Now(), time.Hour)
	if _, err := v.Verify(ctx, oldToken); err != nil {
		t.Fatal(err)
	}

	if err := iss.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	switchedAt := clk.Now().Add(ahead)
	clk.Advance(ahead)
	ks := tokentest.KeySet(t, iss)
	newID := ks.SigningKey().ID
	if newID == oldID {
		t.Fatal("the issuer did not switch keys")
	}
	newToken := mint(t, ks, clk.Now(), time.Hour)
	lists := ro.lists.Load()
	if _, err := v.Verify(ctx, newToken); err != nil {
		t.Fatalf("token of the issuer's new key: %v", err)
	}
	if n := ro.lists.Load() - lists; n != 1 {
		t.Errorf("an unknown kid made %d reloads, want 1", n)
	}
	forged := tokentest.Sign(t, tokentest.NewKey(t, token.ES256, 9), nil, jwt.MapClaims{"iss": testIssuer})
	lists = ro.lists.Load()
	for range 50 {
		if _, err := v.Verify(ctx, forged); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := ro.lists.Load() - lists; n != 0 {
		t.Errorf("50 forged kids within MinRefreshInterval made %d reloads", n)
	}

	// The old key goes at its ExpiresAt, without waiting for ReloadEvery.
	clk.Advance(switchedAt.Add(retain - time.Second).Sub(clk.Now()))
	if rs, _ := r.KeySet(ctx); !slices.Equal(ids(rs), []string{oldID, newID}) {
		t.Errorf("before the old key's expiry the reader has %v", ids(rs))
	}
	clk.Advance(time.Second)
	rs, err := r.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(rs), []string{newID}) {
		t.Errorf("at the old key's expiry the reader has %v, want only %s", ids(rs), newID)
	}
	if _, err := v.Verify(ctx, mint(t, tokentest.KeySet(t, iss), clk.Now(), time.Hour)); err != nil {
		t.Errorf("the issuer's token after the old key expired: %v", err)
	}
}

// TestKeyReaderStoreFailure: a reader keeps the keys it has while the store
// is down and retries at most once per MinRefreshInterval; it cannot start
// on a store it cannot read.
func TestKeyReaderStoreFailure(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	iss := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})
	ro := &readOnlyKeys{t: t, Keys: st}
	r := tokentest.NewReader(t, ro, clk, token.KeyReaderConfig{})
	want := ids(tokentest.KeySet(t, iss))

	ro.fail.Store(true)
	clk.Advance(time.Minute)
	lists := ro.lists.Load()
	for range 50 {
		ks, err := r.KeySet(ctx)
		if err != nil || !slices.Equal(ids(ks), want) {
			t.Fatalf("while the store is down: %v, %v; want the keys it had", ids(ks), err)
		}
	}
	if n := ro.lists.Load() - lists; n != 1 {
		t.Errorf("50 calls while the store is down made %d reloads, want 1", n)
	}
	clk.Advance(5 * time.Second)
	r.KeySet(ctx)
	if n := ro.lists.Load() - lists; n != 2 {
		t.Errorf("after MinRefreshInterval: %d reloads in all, want 2", n)
	}
	if _, err := token.NewKeyReader(ctx, token.KeyReaderConfig{Keys: ro, Now: clk.Now}); !errors.Is(err, errStoreDown) {
		t.Errorf("NewKeyReader on a store that is down: %v", err)
	}
	if _, err := token.NewKeyReader(ctx, token.KeyReaderConfig{}); err == nil {
		t.Error("no Keys accepted")
	}
}

// TestKeyLoadSkipsExpiredKeys: expired keys are not parsed, so one whose
// material no longer parses does not stop the reader or the manager.
func TestKeyLoadSkipsExpiredKeys(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	bad := &store.SigningKey{ID: "broken", Seq: 1, Algorithm: token.ES256, Private: []byte("not a key"),
		ActiveAt: clk.Now().Add(-48 * time.Hour), ExpiresAt: clk.Now().Add(-time.Hour)}
	if err := st.CreateKey(ctx, bad); err != nil {
		t.Fatal(err)
	}
	r := tokentest.NewReader(t, &readOnlyKeys{t: t, Keys: st}, clk, token.KeyReaderConfig{})
	if _, err := r.KeySet(ctx); !errors.Is(err, token.ErrNoKeys) {
		t.Errorf("only an expired key: %v, want ErrNoKeys", err)
	}
	m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{})
	if got := ids(tokentest.KeySet(t, m)); len(got) != 1 || got[0] == "broken" {
		t.Errorf("manager set %v", got)
	}
}
