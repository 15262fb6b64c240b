package tokentest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// Algorithms returns every signing algorithm, in the order FixedKeys numbers
// their keys.
func Algorithms() []string { return []string{token.HS256, token.ES256, token.EdDSA, token.RS256} }

// Key is a stored signing key with its private half parsed, so that a test
// can sign whatever header and claims it likes with it.
type Key struct {
	Stored  *store.SigningKey
	Key     *token.Key
	Private any // what golang-jwt signs with
}

// fixed holds the keys of FixedKeys: RSA generation is slow, so they are
// made once per test binary and never changed after.
var fixed struct {
	once           sync.Once
	ours, attacker map[string]*Key
}

// FixedKeys returns one key per algorithm for us and one for an attacker,
// by algorithm; ours have Seq 1 to 4 and the attacker's 100 to 103, in the
// order of Algorithms. They are made once per test binary and shared by all
// its tests: the maps are the caller's, the keys must not be changed.
func FixedKeys(tb testing.TB) (ours, attacker map[string]*Key) {
	tb.Helper()
	fixed.once.Do(func() {
		fixed.ours, fixed.attacker = map[string]*Key{}, map[string]*Key{}
		for i, alg := range Algorithms() {
			fixed.ours[alg] = mustKey(alg, int64(i+1))
			fixed.attacker[alg] = mustKey(alg, int64(i+100))
		}
	})
	return maps.Clone(fixed.ours), maps.Clone(fixed.attacker)
}

// NewKey generates a key of alg with sequence number seq.
func NewKey(tb testing.TB, alg string, seq int64) *Key {
	tb.Helper()
	k, err := newKey(alg, seq)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// ParseKey parses a stored key.
func ParseKey(tb testing.TB, sk *store.SigningKey) *Key {
	tb.Helper()
	k, err := parseKey(sk)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// mustKey is NewKey where there is no test to fail: FixedKeys' keys are made
// once for all of them.
func mustKey(alg string, seq int64) *Key {
	k, err := newKey(alg, seq)
	if err != nil {
		panic(err)
	}
	return k
}

func newKey(alg string, seq int64) (*Key, error) {
	sk, err := token.GenerateKey(alg, time.Time{})
	if err != nil {
		return nil, err
	}
	sk.Seq = seq
	return parseKey(sk)
}

func parseKey(sk *store.SigningKey) (*Key, error) {
	k, err := token.ParseKey(sk)
	if err != nil {
		return nil, err
	}
	tk := &Key{Stored: sk, Key: k}
	if sk.Algorithm == token.HS256 {
		tk.Private = sk.Private
	} else if tk.Private, err = x509.ParsePKCS8PrivateKey(sk.Private); err != nil {
		return nil, err
	}
	return tk, nil
}

// PublicDER is the key's public half in PKIX DER, the bytes an algorithm
// confusion attack would use as an HMAC secret. An HMAC key has none: asking
// for it fails the test.
func (k *Key) PublicDER(tb testing.TB) []byte {
	tb.Helper()
	var pub any
	switch p := k.Private.(type) {
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case ed25519.PrivateKey:
		pub = p.Public()
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	default:
		tb.Fatalf("a %s key has no public half", k.Key.Algorithm)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// Sign signs claims with k, with typ at+jwt and k's kid unless header says
// otherwise (a nil value deletes the header).
func Sign(tb testing.TB, k *Key, header map[string]any, claims jwt.Claims) string {
	tb.Helper()
	m, ok := method(k.Key.Algorithm)
	if !ok {
		tb.Fatalf("no signing method for %s", k.Key.Algorithm)
	}
	return SignWith(tb, m, k.Private, k.Key.ID, header, claims)
}

// SignWith is Sign with any method, private key and kid, for the tokens an
// attacker makes: an HMAC over a public key, a kid that is not the signer's.
func SignWith(tb testing.TB, m jwt.SigningMethod, priv any, kid string, header map[string]any, claims jwt.Claims) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, claims)
	t.Header["typ"] = token.JWTType
	t.Header["kid"] = kid
	for h, v := range header {
		if v == nil {
			delete(t.Header, h)
		} else {
			t.Header[h] = v
		}
	}
	raw, err := t.SignedString(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func method(alg string) (jwt.SigningMethod, bool) {
	switch alg {
	case token.HS256:
		return jwt.SigningMethodHS256, true
	case token.ES256:
		return jwt.SigningMethodES256, true
	case token.EdDSA:
		return jwt.SigningMethodEdDSA, true
	case token.RS256:
		return jwt.SigningMethodRS256, true
	}
	return nil, false
}

// SignRaw signs the exact header and payload texts with k, for tokens that
// golang-jwt's map-based signing cannot spell (duplicate names, numbers as
// written, escapes).
func SignRaw(tb testing.TB, k *Key, header, payload string) string {
	tb.Helper()
	m, ok := method(k.Key.Algorithm)
	if !ok {
		tb.Fatalf("tokentest: no signing method for %q", k.Key.Algorithm)
	}
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := m.Sign(in, k.Private)
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}
