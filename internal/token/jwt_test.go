package token_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/token"
)

// verifySet is a set with a key of each algorithm, and a token of each.
func verifySet(tb testing.TB) (*token.KeySet, map[string]string) {
	tb.Helper()
	var keys []*token.Key
	for _, alg := range []string{token.HS256, token.ES256, token.EdDSA, token.RS256} {
		sk, err := token.GenerateKey(alg, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		k, err := token.ParseKey(sk)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	tokens := map[string]string{}
	var set *token.KeySet
	for _, k := range keys {
		s, err := token.NewKeySet(keys, k.ID)
		if err != nil {
			tb.Fatal(err)
		}
		now := time.Unix(1900000000, 0)
		tokens[k.Algorithm], err = s.Sign(&token.Claims{RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "https://i.test", Subject: "c1", Audience: jwt.ClaimStrings{"https://i.test"}, ID: "j1",
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)},
			ClientID: "c1", Scope: "read", Kind: token.KindClient, Generation: 1})
		if err != nil {
			tb.Fatal(err)
		}
		set = s
	}
	return set, tokens
}

func TestVerifyJWT(t *testing.T) {
	set, tokens := verifySet(t)
	for alg, raw := range tokens {
		var c token.AccessClaims
		h, err := set.VerifyJWT(raw, &c)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if h.Alg != alg || h.Typ != token.JWTType || h.Kid == "" || c.Subject != "c1" || c.Scope != "read" || c.ExpiresAt != 1900003600 {
			t.Errorf("%s: header %+v, claims %+v", alg, h, c)
		}
	}

	raw := tokens[token.ES256]
	hseg, rest, _ := strings.Cut(raw, ".")
	bad := map[string]string{
		"line feed":            raw[:10] + "\n" + raw[10:],
		"carriage return":      raw[:len(hseg)+5] + "\r" + raw[len(hseg)+5:],
		"two segments":         hseg + "." + rest[:strings.IndexByte(rest, '.')],
		"four segments":        raw + ".",
		"padding":              hseg + "==." + rest,
		"standard base64":      strings.ReplaceAll(strings.ReplaceAll(raw, "-", "+"), "_", "/") + "+",
		"empty":                "",
		"dots":                 "..",
		"signature stripped":   raw[:strings.LastIndexByte(raw, '.')+1],
		"header not an object": base64.RawURLEncoding.EncodeToString([]byte(`[]`)) + "." + rest,
	}
	for name, raw := range bad {
		var c token.AccessClaims
		if _, err := set.VerifyJWT(raw, &c); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, jwt.ErrTokenMalformed) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}

	// A kid the set does not hold is ErrUnknownKey, so that a verifier
	// can reload its keys; so is no kid.
	other, _ := verifySet(t)
	var c token.AccessClaims
	if _, err := other.VerifyJWT(raw, &c); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("unknown kid: err = %v", err)
	}
	noKid := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"at+jwt"}`)) + "." + rest
	if _, err := set.VerifyJWT(noKid, &c); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("no kid: err = %v", err)
	}
}

// FuzzVerifyJWT: no input panics, and whatever VerifyJWT accepts,
// golang-jwt's own parser accepts with the same key.
func FuzzVerifyJWT(f *testing.F) {
	set, tokens := verifySet(f)
	for _, raw := range tokens {
		f.Add(raw)
		h, p, _ := strings.Cut(raw, ".")
		f.Add(h + "." + p + ".")
		f.Add(h + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"1"}`)) + "." + raw[strings.LastIndexByte(raw, '.')+1:])
	}
	parser := jwt.NewParser(jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	f.Fuzz(func(t *testing.T, raw string) {
		var c token.AccessClaims
		if _, err := set.VerifyJWT(raw, &c); err != nil {
			return
		}
		if _, err := parser.Parse(raw, set.Keyfunc); err != nil {
			t.Fatalf("VerifyJWT accepted %q, golang-jwt refuses it: %v", raw, err)
		}
	})
}
