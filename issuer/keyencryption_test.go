package issuer_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

// TestKeyEncryption: with a KEK the issuer's keys are sealed in the store;
// an issuer without it, or with another, refuses to start; a resource
// server sharing the store verifies ES256 tokens without the KEK.
func TestKeyEncryption(t *testing.T) {
	enc, err := issuer.ParseKeyEncryption("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, false, func(c *issuer.Config) { c.KeyEncryption = enc })
	id, secret := e.client(issuer.ClientSpec{})
	raw := e.getToken(id, secret).AccessToken

	sks, err := e.st.ListKeys(t.Context())
	if err != nil || len(sks) != 1 || !bytes.HasPrefix(sks[0].Private, []byte("pcsk\x01")) {
		t.Fatalf("stored keys %v, %v: want one sealed key", sks, err)
	}
	for name, kek := range map[string]issuer.KeyEncryption{
		"none":  {},
		"wrong": {Current: issuer.KEK{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}},
	} {
		cfg := e.cfg
		cfg.KeyEncryption = kek
		if _, err := issuer.New(cfg); !errors.Is(err, issuer.ErrKeyEncryption) {
			t.Errorf("New with KEK %s over sealed keys: %v, want ErrKeyEncryption", name, err)
		}
	}
	cfg := e.cfg
	cfg.KeyEncryption.Current.Key = []byte("short")
	if _, err := issuer.New(cfg); err == nil {
		t.Error("New accepted a KEK of 5 bytes")
	}

	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Store: e.st, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Errorf("a resource server without the KEK: %v", err)
	}
}

// TestKeyEncryptionHS256: an HS256 secret sealed in the store verifies only
// with the KEK.
func TestKeyEncryptionHS256(t *testing.T) {
	enc := issuer.KeyEncryption{Current: issuer.KEK{ID: "k1", Key: bytes.Repeat([]byte{7}, 32)}}
	e := newEnv(t, false, func(c *issuer.Config) { c.KeyEncryption, c.Algorithm = enc, issuer.HS256 })
	id, secret := e.client(issuer.ClientSpec{})
	raw := e.getToken(id, secret).AccessToken
	if _, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Store: e.st, Now: e.clock.Now}); !errors.Is(err, middleware.ErrKeyEncryption) {
		t.Errorf("verifier without the KEK over a sealed HS256 key: %v", err)
	}
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Store: e.st, Now: e.clock.Now, KeyEncryption: enc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Errorf("verifier with the KEK: %v", err)
	}
}
