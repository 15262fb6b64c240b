package token_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
)

// mintedCases are claims SignAccess must encode as golang-jwt encodes the
// equivalent Claims: plain ones, left-out optional ones, and strings that
// encoding/json escapes.
var mintedCases = []token.Minted{
	{
		Issuer: testIssuer, Subject: "c1", Audience: []string{testIssuer}, ExpiresAt: 1893553445,
		NotBefore: 1893549845, IssuedAt: 1893549845, ID: "jti-1", ClientID: "c1", Scope: "read write",
		Kind: token.KindClient, AccountID: "acc_1", Generation: 7,
	},
	{
		Issuer: testIssuer, Subject: "c2", ExpiresAt: 1893553445, ID: "jti-2", Kind: token.KindClient,
		Generation: 8, Family: "fam<1>", Confirmation: &token.Confirmation{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
	},
	{Kind: token.KindAccount}, // everything optional left out, gen 0 still written
	{
		Issuer: "https://a.test/<x>&y", Subject: "quote\" back\\slash", Audience: []string{"a", "b\u2028c", "é"},
		ExpiresAt: -1, ID: "bad\xffutf8", Scope: "tab\there\nnewline\x01", Kind: "k\u2029", Generation: -3,
	},
	{
		// Longer than SignAccess's stack buffers, claims and token both.
		Issuer: testIssuer, Subject: "c3", Audience: []string{strings.Repeat("https://api.example/", 40), testIssuer},
		ExpiresAt: 1893553445, ID: "jti-3", Scope: strings.Repeat("scope ", 100), Kind: token.KindClient,
	},
}

// equivalent is c as the Claims golang-jwt marshals.
func equivalent(c token.Minted) *token.Claims {
	date := func(s int64) *jwt.NumericDate {
		if s == 0 {
			return nil
		}
		return jwt.NewNumericDate(time.Unix(s, 0))
	}
	return &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, ExpiresAt: date(c.ExpiresAt),
			NotBefore: date(c.NotBefore), IssuedAt: date(c.IssuedAt), ID: c.ID,
		},
		ClientID: c.ClientID, Scope: c.Scope, Kind: c.Kind, AccountID: c.AccountID, Generation: c.Generation,
		Family: c.Family, Confirmation: c.Confirmation,
	}
}

func TestMintedAppendJSON(t *testing.T) {
	for i, c := range mintedCases {
		want, err := json.Marshal(equivalent(c))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "a b~c", "<>&", `"\`, "\x00\x1f\x7f", "é€😀", "\u2028\u2029", "\xff\xfe", "a\xc3"} {
		want, _ := json.Marshal(s)
		if got := token.AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: got %s, want x%s", s, got, want)
		}
	}
}

// TestSignAccess checks that SignAccess makes the token Sign makes for the
// same claims, byte for byte where the algorithm is deterministic (HS256,
// EdDSA, RS256), and for ES256 the same header and payload with a
// signature that golang-jwt and VerifyJWT both accept.
func TestSignAccess(t *testing.T) {
	ours, _ := tokentest.FixedKeys(t)
	for _, alg := range tokentest.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k := ours[alg]
			ks, err := token.NewKeySet([]*token.Key{k.Key}, k.Key.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range mintedCases {
				got, err := ks.SignAccess(&c)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ks.Sign(equivalent(c))
				if err != nil {
					t.Fatal(err)
				}
				if alg != token.ES256 {
					if got != want {
						t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
					}
				} else if signed := got[:strings.LastIndexByte(got, '.')]; signed != want[:strings.LastIndexByte(want, '.')] {
					t.Errorf("case %d: signed part\n got %s\nwant %s", i, signed, want)
				}
				var claims token.Claims
				parsed, err := jwt.ParseWithClaims(got, &claims, func(*jwt.Token) (any, error) { return k.Key.Public(), nil },
					jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation())
				if err != nil || !parsed.Valid {
					t.Fatalf("case %d: golang-jwt refuses the token: %v", i, err)
				}
				if claims.Kind != c.Kind || claims.Generation != c.Generation || claims.Subject != c.Subject {
					t.Errorf("case %d: claims %+v", i, claims)
				}
				if i == 0 {
					var ac token.AccessClaims
					h, err := ks.VerifyJWT(got, &ac)
					if err != nil || h.Typ != token.JWTType || h.Kid != k.Key.ID || ac.ID != c.ID || ac.ExpiresAt != c.ExpiresAt {
						t.Fatalf("VerifyJWT: %v, header %+v, claims %+v", err, h, ac)
					}
				}
			}
		})
	}
}

// TestSignAccessVerifyOnly checks that a set without a private key
// refuses to sign.
func TestSignAccessVerifyOnly(t *testing.T) {
	ours, _ := tokentest.FixedKeys(t)
	k := ours[token.ES256]
	pub, err := token.NewPublicKey(k.Key.ID, token.ES256, k.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet([]*token.Key{pub}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.SignAccess(&token.Minted{Kind: token.KindClient}); err == nil {
		t.Fatal("a verify-only set signed")
	}
}

func BenchmarkSignAccess(b *testing.B) {
	ours, _ := tokentest.FixedKeys(b)
	for _, alg := range tokentest.Algorithms() {
		k := ours[alg]
		ks, err := token.NewKeySet([]*token.Key{k.Key}, k.Key.ID)
		if err != nil {
			b.Fatal(err)
		}
		c := mintedCases[0]
		b.Run(alg+"/SignAccess", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ks.SignAccess(&c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/Sign", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ks.Sign(equivalent(c)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
