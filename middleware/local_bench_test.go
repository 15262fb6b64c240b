package middleware_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/middleware"
)

// The DESIGN targets compare the verifier's full check of a token it has
// never seen (signature, typ, iss, aud, exp, nbf, iat, kind, generation and
// revocation against a memory store) with a bare golang-jwt ParseWithClaims
// of the same token with only the key: BenchmarkLocalVerify/<alg>/first-sight
// over BenchmarkBareParseWithClaims/<alg> (bench_test.go) should stay at or
// below 1.0, and 0.8 for HS256.
// BenchmarkLocalVerify/<alg>/cached is a token seen before (a client reusing its
// token for an hour), answered by the cache.

// benchVerifier is a verifier over a memory store with one client, and a
// token for it signed with alg. cacheSize -1 disables the token cache, so
// that every Verify is a first sight.
func benchVerifier(b *testing.B, alg string, cacheSize int) (*middleware.LocalVerifier, string, *tokentest.Key, func() time.Time) {
	b.Helper()
	e := newEnv(b, middleware.LocalConfig{})
	now := e.clk.Now()
	clock := func() time.Time { return now }
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{
		Issuer: testIssuer, Keys: token.StaticKeys{Set: e.set}, Store: e.st, CacheSize: cacheSize, Now: clock,
	})
	if err != nil {
		b.Fatal(err)
	}
	raw := tokentest.Sign(b, e.keys[alg], nil, e.claims())
	if _, err := v.Verify(context.Background(), raw); err != nil {
		b.Fatal(err)
	}
	return v, raw, e.keys[alg], clock
}

func BenchmarkLocalVerify(b *testing.B) {
	ctx := context.Background()
	for _, alg := range tokentest.Algorithms() {
		for _, mode := range []struct {
			name      string
			cacheSize int
		}{{"first-sight", -1}, {"cached", 0}} {
			b.Run(alg+"/"+mode.name, func(b *testing.B) {
				v, raw, _, _ := benchVerifier(b, alg, mode.cacheSize)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
