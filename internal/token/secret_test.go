package token_test

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/token"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func TestNewSecretShape(t *testing.T) {
	seen := map[string]bool{}
	for _, prefix := range []string{token.PrefixClientSecret, token.PrefixRefreshToken, token.PrefixAccessToken, ""} {
		for range 200 {
			s := token.NewSecret(prefix)
			if !strings.HasPrefix(s, prefix) {
				t.Fatalf("%q lacks prefix %q", s, prefix)
			}
			if len(s) != len(prefix)+49 { // 43 characters of 256 random bits, 6 of checksum
				t.Fatalf("%q is %d characters after the prefix, want 49", s, len(s)-len(prefix))
			}
			for _, c := range s[len(prefix):] {
				if !strings.ContainsRune(base62, c) {
					t.Fatalf("%q has %q outside base62", s, c)
				}
			}
			if !token.WellFormed(s, prefix) {
				t.Fatalf("a fresh secret %q is not WellFormed", s)
			}
			if seen[s] {
				t.Fatalf("secret %q minted twice", s)
			}
			seen[s] = true
		}
	}
	if s := token.NewClientSecret(); !strings.HasPrefix(s, "pcs_") || !token.WellFormed(s, token.PrefixClientSecret) {
		t.Errorf("NewClientSecret = %q", s)
	}
}

func TestNewSecretUsesTheWholeAlphabet(t *testing.T) {
	// 256 bits in 43 base62 digits: the first digit is small, every other
	// position should see most letters over a few hundred secrets.
	counts := map[rune]int{}
	for range 500 {
		s := token.NewSecret("")
		for _, c := range s[1:43] {
			counts[c]++
		}
	}
	if len(counts) != 62 {
		t.Errorf("%d distinct characters in 500 secrets, want 62", len(counts))
	}
}

func TestWellFormedDetectsEveryOneCharacterChange(t *testing.T) {
	s := token.NewClientSecret()
	p := token.PrefixClientSecret
	for i := len(p); i < len(s); i++ {
		for _, c := range base62 {
			if byte(c) == s[i] {
				continue
			}
			flipped := s[:i] + string(c) + s[i+1:]
			if token.WellFormed(flipped, p) {
				t.Fatalf("changing position %d to %q went unnoticed: %q", i, c, flipped)
			}
		}
	}
	// Two neighbours swapped.
	for i := len(p); i < len(s)-1; i++ {
		if s[i] == s[i+1] {
			continue
		}
		swapped := s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
		if token.WellFormed(swapped, p) {
			t.Errorf("swapping %d and %d went unnoticed", i, i+1)
		}
	}
}

func TestWellFormedRejects(t *testing.T) {
	s := token.NewClientSecret()
	body := s[len(token.PrefixClientSecret):]
	for name, bad := range map[string]string{
		"empty":            "",
		"prefix only":      token.PrefixClientSecret,
		"other prefix":     token.PrefixRefreshToken + body,
		"no prefix":        body,
		"truncated":        s[:len(s)-1],
		"extra character":  s + "0",
		"dash":             s[:10] + "-" + s[11:],
		"space":            s[:10] + " " + s[11:],
		"non-ASCII":        s[:10] + "é" + s[12:],
		"upper-case copy":  strings.ToUpper(s),
		"checksum removed": s[:len(s)-6],
	} {
		if token.WellFormed(bad, token.PrefixClientSecret) {
			t.Errorf("%s: %q is WellFormed", name, bad)
		}
	}
	if !token.WellFormed(s, token.PrefixClientSecret) {
		t.Error("the original is not WellFormed")
	}
}

func TestNewClientID(t *testing.T) {
	a, b := token.NewClientID(), token.NewClientID()
	if len(a) != 32 || a == b {
		t.Errorf("client ids %q %q", a, b)
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Errorf("client id %q is not hex", a)
	}
}

func TestNewHexSecret(t *testing.T) {
	a, b := token.NewHexSecret(), token.NewHexSecret()
	if len(a) != 64 || a == b || strings.ToLower(a) != a {
		t.Errorf("hex secrets %q %q", a, b)
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Errorf("hex secret %q is not hex", a)
	}
}

func TestHasher(t *testing.T) {
	// FIPS 180-2 "abc" and RFC 4231 test case 2.
	const sha256abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	const hmacJefe = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	var zero token.Hasher
	var nilHasher *token.Hasher
	for name, h := range map[string]*token.Hasher{"zero": &zero, "nil": nilHasher, "NewHasher(nil)": token.NewHasher(nil), "empty pepper": token.NewHasher([]byte{})} {
		if got := h.Hex("abc"); got != sha256abc {
			t.Errorf("%s: Hex(abc) = %s, want SHA-256", name, got)
		}
	}
	pepper := []byte("Jefe")
	h := token.NewHasher(pepper)
	if got := h.Hex("what do ya want for nothing?"); got != hmacJefe {
		t.Errorf("HMAC = %s, want RFC 4231 test case 2", got)
	}
	pepper[0] = 'X'
	if got := h.Hex("what do ya want for nothing?"); got != hmacJefe {
		t.Error("NewHasher kept the caller's slice instead of a copy")
	}
	if token.NewHasher([]byte("a")).Hex("s") == token.NewHasher([]byte("b")).Hex("s") {
		t.Error("different peppers gave the same hash")
	}
	if len(h.Sum("x")) != 32 || len(h.Hex("x")) != 64 {
		t.Error("hash sizes")
	}

	secret := token.NewClientSecret()
	sum := h.Sum(secret)
	if !h.Equal(secret, sum) {
		t.Error("Equal rejects the secret")
	}
	for name, other := range map[string]string{"other secret": token.NewClientSecret(), "empty": "", "prefix": secret[:10]} {
		if h.Equal(other, sum) {
			t.Errorf("Equal accepts %s", name)
		}
	}
	if h.Equal(secret, sum[:31]) || h.Equal(secret, nil) || h.Equal(secret, append(slices.Clone(sum), 0)) {
		t.Error("Equal accepts a sum of the wrong length")
	}
	if token.NewHasher(nil).Equal(secret, sum) {
		t.Error("a hash made with a pepper matches without it")
	}
}

func TestScope(t *testing.T) {
	for in, want := range map[string][]string{
		"":                 nil,
		"   ":              {},
		"read":             {"read"},
		"read write":       {"read", "write"},
		" write  read\t ":  {"write", "read"},
		"read write read ": {"read", "write"},
	} {
		got := token.ParseScope(in)
		if !slices.Equal(got, want) {
			t.Errorf("ParseScope(%q) = %q, want %q", in, got, want)
		}
	}
	if got := token.JoinScope(token.ParseScope("b a b")); got != "b a" {
		t.Errorf("JoinScope = %q", got)
	}
}
