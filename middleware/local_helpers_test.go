package middleware_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// The helpers of the LocalVerifier's tests, which came from
// internal/token with the verifier; testIssuer and randomHex are shared
// with the guard's (helpers_test.go).

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

// publicDER is the key's public half in PKIX DER, the bytes an algorithm
// confusion attack would use as an HMAC secret.
func (k *testKey) publicDER() []byte {
	var pub any
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case ed25519.PrivateKey:
		pub = p.Public()
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return der
}

// env is a verifier over a memory store, with keys for every algorithm and
// a client c1 and an account a1 at generation 1.
type env struct {
	tb    testing.TB
	st    *memory.Store
	clk   *clock
	keys  map[string]*testKey
	evil  map[string]*testKey
	set   *token.KeySet
	v     *middleware.LocalVerifier
	keysC *countingKeys
	state *countingState
}

func newEnv(tb testing.TB, cfg middleware.LocalConfig) *env {
	tb.Helper()
	ourKeys, attackerKeys := fixedKeys(tb)
	e := &env{tb: tb, st: memory.New(), clk: newClock(), keys: ourKeys, evil: attackerKeys}
	var list []*token.Key
	for _, alg := range algs {
		list = append(list, ourKeys[alg].key)
	}
	set, err := token.NewKeySet(list, ourKeys[token.ES256].key.ID)
	if err != nil {
		tb.Fatal(err)
	}
	e.set = set
	ctx := context.Background()
	if err := e.st.CreateClient(ctx, &store.Client{ID: "c1", Generation: 1}); err != nil {
		tb.Fatal(err)
	}
	if err := e.st.CreateAccount(ctx, &store.Account{ID: "a1", Username: "alice", Generation: 1}); err != nil {
		tb.Fatal(err)
	}
	cfg.Issuer = testIssuer
	if cfg.Keys == nil {
		e.keysC = &countingKeys{KeySource: token.StaticKeys{Set: set}}
		cfg.Keys = e.keysC
	}
	if cfg.Store == nil {
		e.state = &countingState{LocalStore: e.st}
		cfg.Store = e.state
	}
	cfg.Now = e.clk.Now
	if e.v, err = middleware.NewLocalVerifier(cfg); err != nil {
		tb.Fatal(err)
	}
	return e
}

// claims are valid claims for client c1 at the env's time.
func (e *env) claims() jwt.MapClaims {
	now := e.clk.Now()
	return jwt.MapClaims{
		"iss":       testIssuer,
		"sub":       "c1",
		"aud":       []string{testIssuer},
		"exp":       now.Add(time.Hour).Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       randomHex(),
		"client_id": "c1",
		"scope":     "read write",
		"kind":      token.KindClient,
		"gen":       1,
	}
}

func (e *env) accountClaims() jwt.MapClaims {
	c := e.claims()
	delete(c, "client_id")
	c["sub"], c["account_id"], c["kind"] = "a1", "a1", token.KindAccount
	return c
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

// unsigned builds header.payload.sig from JSON values by hand, for tokens
// golang-jwt refuses to make.
func unsigned(header, claims any, sig string) string {
	return seg(header) + "." + seg(claims) + "." + sig
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// parts splits a JWT.
func parts(raw string) (h, p, s string) {
	f := strings.SplitN(raw, ".", 3)
	return f[0], f[1], f[2]
}

// countingKeys counts how often the verifier asks for keys, to tell a
// cached answer from a fresh verification.
type countingKeys struct {
	token.KeySource
	sets, refreshes atomic.Int64
}

func (c *countingKeys) KeySet(ctx context.Context) (*token.KeySet, error) {
	c.sets.Add(1)
	return c.KeySource.KeySet(ctx)
}

func (c *countingKeys) Refresh(ctx context.Context) (*token.KeySet, error) {
	c.refreshes.Add(1)
	return c.KeySource.Refresh(ctx)
}

// countingState counts store questions and can fail them (the store is down).
type countingState struct {
	middleware.LocalStore
	clients, accounts, revoked atomic.Int64
	down                       atomic.Bool
}

var errDown = &downError{}

type downError struct{}

func (*downError) Error() string { return "store: connection refused" }

func (c *countingState) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c.clients.Add(1)
	if c.down.Load() {
		return nil, errDown
	}
	return c.LocalStore.GetClient(ctx, id)
}

func (c *countingState) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	c.accounts.Add(1)
	if c.down.Load() {
		return nil, errDown
	}
	return c.LocalStore.GetAccount(ctx, id)
}

func (c *countingState) IsRevoked(ctx context.Context, id string, now time.Time) (bool, error) {
	c.revoked.Add(1)
	if c.down.Load() {
		return false, errDown
	}
	return c.LocalStore.IsRevoked(ctx, id, now)
}

func (c *countingState) calls() int64 { return c.clients.Load() + c.accounts.Load() + c.revoked.Load() }

// newManager, keySet and kidOf are the key manager helpers of
// internal/token's tests that the cache tests need too.

func newManager(t *testing.T, keys store.Keys, clk *clock, cfg token.KeyManagerConfig) *token.KeyManager {
	t.Helper()
	cfg.Keys, cfg.Now = keys, clk.Now
	m, err := token.NewKeyManager(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func keySet(t *testing.T, m *token.KeyManager) *token.KeySet {
	t.Helper()
	ks, err := m.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// kidOf signs a token with the set and returns the kid it was signed with.
func kidOf(t *testing.T, ks *token.KeySet) string {
	t.Helper()
	raw, err := ks.Sign(&token.Claims{Kind: token.KindClient})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &token.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}
