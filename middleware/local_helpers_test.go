package middleware_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
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

// The helpers of the LocalVerifier's tests. The fixtures they share with
// internal/token's (the clock, the fixed keys, the signer, key managers) are
// in internal/tokentest; testIssuer is shared with the guard's
// (helpers_test.go).

// env is a verifier over a memory store, with keys for every algorithm and
// a client c1 and an account a1 at generation 1.
type env struct {
	tb    testing.TB
	st    *memory.Store
	clk   *tokentest.Clock
	keys  map[string]*tokentest.Key
	evil  map[string]*tokentest.Key
	set   *token.KeySet
	v     *middleware.LocalVerifier
	keysC *countingKeys
	state *countingState
}

func newEnv(tb testing.TB, cfg middleware.LocalConfig) *env {
	tb.Helper()
	ourKeys, attackerKeys := tokentest.FixedKeys(tb)
	e := &env{tb: tb, st: memory.New(), clk: tokentest.NewClock(), keys: ourKeys, evil: attackerKeys}
	var list []*token.Key
	for _, alg := range tokentest.Algorithms() {
		list = append(list, ourKeys[alg].Key)
	}
	set, err := token.NewKeySet(list, ourKeys[token.ES256].Key.ID)
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
		"jti":       tokentest.RandomID(),
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
