package middleware_test

import (
	"context"
	"errors"
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

const testIssuer = "https://issuer.test"

// flaky wraps the memory store to inject one fault: while err is set,
// every state question fails with it (the store is down).
type flaky struct {
	*memory.Store
	err atomic.Pointer[error]
}

func (s *flaky) fault() error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (s *flaky) setErr(err error) {
	if err == nil {
		s.err.Store(nil)
		return
	}
	s.err.Store(&err)
}

func (s *flaky) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.GetClient(ctx, id)
}

func (s *flaky) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.GetAccount(ctx, id)
}

func (s *flaky) IsRevoked(ctx context.Context, id string, now time.Time) (bool, error) {
	if err := s.fault(); err != nil {
		return false, err
	}
	return s.Store.IsRevoked(ctx, id, now)
}

// fixture is one issuer's worth of keys and state, and a verifier over them.
type fixture struct {
	keys   *token.KeySet
	state  *flaky
	v      *middleware.LocalVerifier
	client string
	acct   string
}

func newKeySet(tb testing.TB, alg string) *token.KeySet {
	tb.Helper()
	sk, err := token.GenerateKey(alg, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	k, err := token.ParseKey(sk)
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := token.NewKeySet([]*token.Key{k}, k.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

func newFixture(tb testing.TB, alg string, vcfg middleware.LocalConfig) *fixture {
	tb.Helper()
	f := &fixture{keys: newKeySet(tb, alg), state: &flaky{Store: memory.New()}, client: "c1", acct: "a1"}
	ctx := context.Background()
	if err := f.state.CreateClient(ctx, &store.Client{ID: f.client, Generation: 1}); err != nil {
		tb.Fatal(err)
	}
	if err := f.state.CreateAccount(ctx, &store.Account{ID: f.acct, Username: f.acct, Generation: 1}); err != nil {
		tb.Fatal(err)
	}
	vcfg.Issuer = testIssuer
	vcfg.Keys = token.StaticKeys{Set: f.keys}
	vcfg.Store = f.state
	v, err := middleware.NewLocalVerifier(vcfg)
	if err != nil {
		tb.Fatal(err)
	}
	f.v = v
	return f
}

// mint signs a token of kind with scopes, for the fixture's client (or
// account); edit changes the claims before signing.
func (f *fixture) mint(tb testing.TB, kind, scope string, edit ...func(*token.Claims)) string {
	tb.Helper()
	now := time.Now()
	c := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Audience:  jwt.ClaimStrings{testIssuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        tokentest.RandomID(),
		},
		Scope:      scope,
		Kind:       kind,
		Generation: 1,
	}
	if kind == token.KindAccount {
		c.Subject, c.AccountID = f.acct, f.acct
	} else {
		c.Subject, c.ClientID = f.client, f.client
	}
	for _, e := range edit {
		e(c)
	}
	raw, err := f.keys.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// verifierFunc injects faults: a verifier that answers whatever the test says.
type verifierFunc func(ctx context.Context, raw string) (*middleware.Principal, error)

func (f verifierFunc) Verify(ctx context.Context, raw string) (*middleware.Principal, error) {
	return f(ctx, raw)
}

var errStoreDown = errors.New("connection refused")
