package token_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
)

// The fixtures these tests share with middleware's (the clock, the fixed
// keys, the signer, key managers and readers) are in internal/tokentest.

const testIssuer = "https://issuer.test"

// mint signs a client token for c1 (generation 1) with the set.
func mint(t *testing.T, ks *token.KeySet, now time.Time, life time.Duration) string {
	t.Helper()
	raw, err := ks.Sign(&token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: testIssuer, Subject: "c1", ID: tokentest.RandomID(), Audience: jwt.ClaimStrings{testIssuer},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(life)),
	}, ClientID: "c1", Kind: token.KindClient, Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
