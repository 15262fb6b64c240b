package middleware_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// FuzzVerify feeds the verifier (JWT and opaque) arbitrary strings. It must
// never panic, and it may accept only what we signed or stored, byte for
// byte: a token we minted, or the opaque token we stored.
func FuzzVerify(f *testing.F) {
	ctx := context.Background()
	e := newEnv(f, middleware.LocalConfig{})
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: token.StaticKeys{Set: e.set}, Store: e.st,
		Opaque: true, Now: e.clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{} // every token we minted
	for _, alg := range tokentest.Algorithms() {
		raw := tokentest.Sign(f, e.keys[alg], nil, e.claims())
		signed[raw] = true
		f.Add(raw)
	}
	acct := tokentest.Sign(f, e.keys[token.ES256], map[string]any{"jku": "https://evil.test/"}, e.accountClaims())
	signed[acct] = true
	f.Add(acct)

	opaque := token.NewSecret(token.PrefixAccessToken)
	now := e.clk.Now()
	if err := e.st.CreateAccessToken(ctx, &store.AccessToken{Hash: token.NewHasher(nil).Hex(opaque), ID: "o1", Grant: store.Grant{
		Kind: token.KindClient, Subject: "c1", ClientID: "c1", Audience: []string{testIssuer}, Generation: 1,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
		f.Fatal(err)
	}
	f.Add(opaque)

	// Rejected shapes as seeds, so the fuzzer starts near the edges.
	for _, vec := range vectors() {
		if !vec.ok && vec.name != "100 KB token" {
			f.Add(vec.build(e))
		}
	}
	f.Add("a.b.c.d.e")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")

	f.Fuzz(func(t *testing.T, raw string) {
		p, err := v.Verify(ctx, raw)
		if err != nil {
			if p != nil {
				t.Fatalf("rejection with a principal: %+v", p)
			}
			return
		}
		if p == nil {
			t.Fatal("accepted without a principal")
		}
		if p.Opaque {
			if raw != opaque {
				t.Fatalf("accepted an opaque token we never stored: %q", raw)
			}
			return
		}
		if !signed[raw] {
			t.Fatalf("accepted a JWT we never minted: %q", raw)
		}
	})
}
