package tokentest

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// NewManager returns a key manager over keys at clk, with the rest of cfg.
func NewManager(tb testing.TB, keys store.Keys, clk *Clock, cfg token.KeyManagerConfig) *token.KeyManager {
	tb.Helper()
	cfg.Keys, cfg.Now = keys, clk.Now
	m, err := token.NewKeyManager(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// NewReader returns a key reader over keys at clk, with the rest of cfg.
func NewReader(tb testing.TB, keys store.Keys, clk *Clock, cfg token.KeyReaderConfig) *token.KeyReader {
	tb.Helper()
	cfg.Keys, cfg.Now = keys, clk.Now
	r, err := token.NewKeyReader(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// KeySet returns src's current set.
func KeySet(tb testing.TB, src token.KeySource) *token.KeySet {
	tb.Helper()
	ks, err := src.KeySet(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

// KidOf signs a token with the set and returns the kid it was signed with;
// it fails the test unless the token's typ is at+jwt.
func KidOf(tb testing.TB, ks *token.KeySet) string {
	tb.Helper()
	raw, err := ks.Sign(&token.Claims{Kind: token.KindClient})
	if err != nil {
		tb.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &token.Claims{})
	if err != nil {
		tb.Fatal(err)
	}
	if typ := tok.Header["typ"]; typ != token.JWTType {
		tb.Errorf("typ = %v", typ)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}
