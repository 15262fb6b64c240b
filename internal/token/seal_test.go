package token_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

func kek(id string, b byte) token.KEK { return token.KEK{ID: id, Key: bytes.Repeat([]byte{b}, 32)} }

// secretBytes is the key material that must never be in the store in the
// clear: the HMAC secret, or the private scalar or seed.
func secretBytes(t *testing.T, k *token.Key) []byte {
	t.Helper()
	if k.Symmetric() {
		return k.Public().([]byte)
	}
	s, _ := k.Signer()
	switch p := s.(type) {
	case *ecdsa.PrivateKey:
		return p.D.Bytes()
	case ed25519.PrivateKey:
		return p.Seed()
	case *rsa.PrivateKey:
		return p.D.Bytes()
	}
	t.Fatalf("unexpected key type %T", s)
	return nil
}

func pkcs8(t *testing.T, k *token.Key) []byte {
	t.Helper()
	s, _ := k.Signer()
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// verify checks that raw verifies with the set.
func verify(t *testing.T, ks *token.KeySet, raw string) {
	t.Helper()
	if _, err := jwt.Parse(raw, ks.Keyfunc, jwt.WithValidMethods(ks.Methods())); err != nil {
		t.Errorf("token does not verify: %v", err)
	}
}

func storedKeys(t *testing.T, st store.Keys) []*store.SigningKey {
	t.Helper()
	sks, err := st.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sks
}

func TestKeysSealedAtRest(t *testing.T) {
	enc := token.KeyEncryption{Current: kek("k1", 1)}
	for _, alg := range tokentest.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			st, clk := memory.New(), tokentest.NewClock()
			m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{Algorithm: alg, KeyEncryption: enc})
			ks := tokentest.KeySet(t, m)
			secret := secretBytes(t, ks.SigningKey())
			sks := storedKeys(t, st)
			if len(sks) != 1 {
				t.Fatalf("%d keys stored, want 1", len(sks))
			}
			if bytes.Contains(sks[0].Private, secret[:16]) || bytes.Contains(sks[0].Private, secret[len(secret)-16:]) {
				t.Fatal("the stored key holds the private key in the clear")
			}
			raw := mint(t, ks, clk.Now(), time.Hour)

			// Another manager with the same KEK (a replica, a restart)
			// reads the same key, and so does a reader with the KEK.
			verify(t, tokentest.KeySet(t, tokentest.NewManager(t, st, clk, token.KeyManagerConfig{Algorithm: alg, KeyEncryption: enc})), raw)
			verify(t, tokentest.KeySet(t, tokentest.NewReader(t, st, clk, token.KeyReaderConfig{KeyEncryption: enc})), raw)

			// A reader without the KEK verifies asymmetric keys from their
			// public part; an HS256 secret it cannot have.
			_, err := token.NewKeyReader(context.Background(), token.KeyReaderConfig{Keys: st, Now: clk.Now})
			if alg == token.HS256 {
				if !errors.Is(err, token.ErrKeyEncryption) {
					t.Errorf("reader without the KEK over a sealed HS256 key: %v, want ErrKeyEncryption", err)
				}
			} else {
				verify(t, tokentest.KeySet(t, tokentest.NewReader(t, st, clk, token.KeyReaderConfig{})), raw)
			}
		})
	}
}

func TestWrongKEKRefused(t *testing.T) {
	ctx := context.Background()
	st, clk := memory.New(), tokentest.NewClock()
	tokentest.NewManager(t, st, clk, token.KeyManagerConfig{KeyEncryption: token.KeyEncryption{Current: kek("k1", 1)}})
	for name, enc := range map[string]token.KeyEncryption{
		"none":         {},
		"same id":      {Current: kek("k1", 2)},
		"other id":     {Current: kek("k2", 1)},
		"older wrong":  {Current: kek("k2", 2), Older: []token.KEK{kek("k1", 3)}},
		"unknown only": {Current: kek("k3", 3), Older: []token.KEK{kek("k2", 2)}},
	} {
		_, err := token.NewKeyManager(ctx, token.KeyManagerConfig{Keys: st, Now: clk.Now, KeyEncryption: enc})
		if !errors.Is(err, token.ErrKeyEncryption) {
			t.Errorf("manager with KEK %s: %v, want ErrKeyEncryption", name, err)
		}
		if !enc.Enabled() {
			continue // a reader without a KEK reads the public part: TestKeysSealedAtRest
		}
		_, err = token.NewKeyReader(ctx, token.KeyReaderConfig{Keys: st, Now: clk.Now, KeyEncryption: enc})
		if !errors.Is(err, token.ErrKeyEncryption) {
			t.Errorf("reader with KEK %s: %v, want ErrKeyEncryption", name, err)
		}
	}
	if n := len(storedKeys(t, st)); n != 1 {
		t.Errorf("refused managers left %d keys, want 1", n)
	}
}

func TestKEKRotation(t *testing.T) {
	st, clk := memory.New(), tokentest.NewClock()
	const ahead = 10 * time.Minute
	old := token.KeyEncryption{Current: kek("k1", 1)}
	a := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{KeyEncryption: old, PublishAhead: ahead})
	first := tokentest.KeySet(t, a)
	raw := mint(t, first, clk.Now(), time.Hour)

	// Step 1 of a KEK rotation: every process learns k2 as an older KEK. Nothing changes.
	step1 := token.KeyEncryption{Current: kek("k1", 1), Older: []token.KEK{kek("k2", 2)}}
	tokentest.NewManager(t, st, clk, token.KeyManagerConfig{KeyEncryption: step1, PublishAhead: ahead})
	if n := len(storedKeys(t, st)); n != 1 {
		t.Fatalf("learning an older KEK rotated: %d keys", n)
	}
	// Step 2: k2 seals. The manager rotates to a key sealed with it.
	step2 := token.KeyEncryption{Current: kek("k2", 2), Older: []token.KEK{kek("k1", 1)}}
	b := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{KeyEncryption: step2, PublishAhead: ahead})
	sks := storedKeys(t, st)
	if len(sks) != 2 {
		t.Fatalf("%d keys after making k2 current, want 2 (the old one and one published ahead)", len(sks))
	}
	if !bytes.HasPrefix(sks[1].Private, []byte("pcsk\x01\x02k2")) {
		t.Errorf("new key is not sealed with k2: % x", sks[1].Private[:8])
	}
	if sks[0].ExpiresAt.IsZero() {
		t.Error("the key sealed with k1 has no expiry")
	}
	verify(t, tokentest.KeySet(t, b), raw) // old keys are still readable
	clk.Advance(ahead)
	ks := tokentest.KeySet(t, b)
	if ks.SigningKey().ID != sks[1].ID {
		t.Errorf("signing with %s after the rotation, want %s", ks.SigningKey().ID, sks[1].ID)
	}
	verify(t, ks, raw)
	verify(t, ks, mint(t, ks, clk.Now(), time.Hour))
	// A process that only knows k1 is refused, not served half the keys.
	if _, err := token.NewKeyManager(context.Background(), token.KeyManagerConfig{Keys: st, Now: clk.Now, KeyEncryption: old}); !errors.Is(err, token.ErrKeyEncryption) {
		t.Errorf("manager with k1 only, after k2 sealed a key: %v", err)
	}
}

// tamperStore alters the key material ListKeys returns.
type tamperStore struct {
	store.Keys
	f func(sk *store.SigningKey)
}

func (s tamperStore) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	sks, err := s.Keys.ListKeys(ctx)
	for _, sk := range sks {
		cp := *sk
		cp.Private = bytes.Clone(sk.Private)
		s.f(&cp)
		*sk = cp
	}
	return sks, err
}

func TestTamperedSealedKeyRefused(t *testing.T) {
	enc := token.KeyEncryption{Current: kek("k1", 1)}
	st, clk := memory.New(), tokentest.NewClock()
	tokentest.NewManager(t, st, clk, token.KeyManagerConfig{KeyEncryption: enc})
	n := len(storedKeys(t, st)[0].Private)
	for name, f := range map[string]func(*store.SigningKey){
		"ciphertext":  func(sk *store.SigningKey) { sk.Private[n-20] ^= 1 },
		"tag":         func(sk *store.SigningKey) { sk.Private[n-1] ^= 1 },
		"public part": func(sk *store.SigningKey) { sk.Private[12] ^= 1 },
		"kek id":      func(sk *store.SigningKey) { sk.Private[7] = '2' },
		"key id":      func(sk *store.SigningKey) { sk.ID += "x" },
		"algorithm":   func(sk *store.SigningKey) { sk.Algorithm = token.EdDSA },
		"truncated":   func(sk *store.SigningKey) { sk.Private = sk.Private[:20] },
		"version":     func(sk *store.SigningKey) { sk.Private[4] = 2 },
	} {
		ts := tamperStore{Keys: st, f: f}
		if _, err := token.NewKeyManager(context.Background(), token.KeyManagerConfig{Keys: ts, Now: clk.Now, KeyEncryption: enc}); err == nil {
			t.Errorf("manager accepted a key with its %s altered", name)
		}
		if _, err := token.NewKeyReader(context.Background(), token.KeyReaderConfig{Keys: ts, Now: clk.Now, KeyEncryption: enc}); err == nil {
			t.Errorf("reader with the KEK accepted a key with its %s altered", name)
		}
	}
}

func TestClearKeysBeforeSealing(t *testing.T) {
	st, clk := memory.New(), tokentest.NewClock()
	const ahead = 10 * time.Minute
	plain := tokentest.KeySet(t, tokentest.NewManager(t, st, clk, token.KeyManagerConfig{PublishAhead: ahead}))
	raw := mint(t, plain, clk.Now(), time.Hour)
	if !bytes.Equal(storedKeys(t, st)[0].Private, pkcs8(t, plain.SigningKey())) {
		t.Fatal("without a KEK the key is not stored as before (PKCS #8 in the clear)")
	}
	// Configuring a KEK reads the clear key and rotates it out.
	enc := token.KeyEncryption{Current: kek("k1", 1)}
	m := tokentest.NewManager(t, st, clk, token.KeyManagerConfig{KeyEncryption: enc, PublishAhead: ahead})
	verify(t, tokentest.KeySet(t, m), raw)
	sks := storedKeys(t, st)
	if len(sks) != 2 || !bytes.HasPrefix(sks[1].Private, []byte("pcsk\x01")) || sks[0].ExpiresAt.IsZero() {
		t.Fatalf("a KEK did not rotate the clear key out: %d keys", len(sks))
	}
	// And a manager without the KEK now refuses to start.
	if _, err := token.NewKeyManager(context.Background(), token.KeyManagerConfig{Keys: st, Now: clk.Now}); !errors.Is(err, token.ErrKeyEncryption) {
		t.Errorf("manager without a KEK over sealed keys: %v", err)
	}
}

func TestParseKeyEncryption(t *testing.T) {
	k1 := "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	e, err := token.ParseKeyEncryption("k1:" + k1 + ", k0:__________________________________________w")
	if err != nil {
		t.Fatal(err)
	}
	if e.Current.ID != "k1" || !bytes.Equal(e.Current.Key, kek("k1", 1).Key) || len(e.Older) != 1 || e.Older[0].ID != "k0" {
		t.Errorf("parsed %+v", e)
	}
	if e, err := token.ParseKeyEncryption(""); err != nil || e.Enabled() {
		t.Errorf("empty: %+v, %v", e, err)
	}
	for _, bad := range []string{"k1", ":" + k1, "k1:c2hvcnQ", "k1:" + k1 + ",k1:" + k1, "k1:!!"} {
		if _, err := token.ParseKeyEncryption(bad); err == nil {
			t.Errorf("ParseKeyEncryption(%q) accepted", bad)
		}
	}
	if err := (token.KeyEncryption{Older: []token.KEK{kek("k", 1)}}).Check(); err == nil {
		t.Error("Older without Current accepted")
	}
}
