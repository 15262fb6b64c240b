package token_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

const testIssuer = "https://issuer.test"

var algs = []string{token.HS256, token.ES256, token.EdDSA, token.RS256}

// clock is the time every test drives by hand: no test sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testKey is a stored key with its private half parsed, so that tests can
// sign whatever header and claims they like with it.
type testKey struct {
	stored *store.SigningKey
	key    *token.Key
	priv   any // what golang-jwt signs with
}

var (
	keysOnce sync.Once
	keysByID map[string]*testKey
	ours     map[string]*testKey // by algorithm
	theirs   map[string]*testKey // an attacker's keys, by algorithm
)

// fixedKeys generates one key per algorithm for us and for an attacker,
// once per test binary: RSA generation is slow.
func fixedKeys(tb testing.TB) (ourKeys, attackerKeys map[string]*testKey) {
	tb.Helper()
	keysOnce.Do(func() {
		keysByID = map[string]*testKey{}
		ours, theirs = map[string]*testKey{}, map[string]*testKey{}
		for i, alg := range algs {
			ours[alg] = mustTestKey(alg, int64(i+1))
			theirs[alg] = mustTestKey(alg, int64(i+100))
		}
	})
	return ours, theirs
}

func mustTestKey(alg string, seq int64) *testKey {
	sk, err := token.GenerateKey(alg, time.Time{})
	if err != nil {
		panic(err)
	}
	sk.Seq = seq
	return parseTestKey(sk)
}

func parseTestKey(sk *store.SigningKey) *testKey {
	k, err := token.ParseKey(sk)
	if err != nil {
		panic(err)
	}
	tk := &testKey{stored: sk, key: k}
	if sk.Algorithm == token.HS256 {
		tk.priv = sk.Private
	} else if tk.priv, err = x509.ParsePKCS8PrivateKey(sk.Private); err != nil {
		panic(err)
	}
	return tk
}

func method(alg string) jwt.SigningMethod {
	switch alg {
	case token.HS256:
		return jwt.SigningMethodHS256
	case token.ES256:
		return jwt.SigningMethodES256
	case token.EdDSA:
		return jwt.SigningMethodEdDSA
	case token.RS256:
		return jwt.SigningMethodRS256
	}
	panic("no method " + alg)
}

// sign signs claims with key k, with typ at+jwt and k's kid unless header
// says otherwise (a nil value deletes the header).
func sign(tb testing.TB, k *testKey, header map[string]any, claims jwt.Claims) string {
	tb.Helper()
	return signAs(tb, method(k.key.Algorithm), k.priv, k.key.ID, header, claims)
}

func signAs(tb testing.TB, m jwt.SigningMethod, priv any, kid string, header map[string]any, claims jwt.Claims) string {
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

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
