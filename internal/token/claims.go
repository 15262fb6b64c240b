package token

import (
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Token kinds that Portcullis names itself. Kinds are free-form strings;
// these are the defaults the issuer configures.
const (
	KindClient  = "client"
	KindAccount = "account"
)

// JWTType is the typ header of a JWT access token (RFC 9068 §2.1).
const JWTType = "at+jwt"

// Claims are the claims of a Portcullis JWT access token.
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id,omitempty"`
	// Scope is space-separated, as in RFC 8693 §4.2 and RFC 9068.
	Scope string `json:"scope,omitempty"`
	// Kind is the token kind ("client", "account", …). It is signed into the
	// token so that a token of one kind never passes where another is required.
	Kind string `json:"kind"`
	// AccountID is set on tokens issued to an account, and on client
	// tokens of a client that an account owns.
	AccountID string `json:"account_id,omitempty"`
	// Generation of the client (or account) when the token was issued.
	Generation int64 `json:"gen"`
	// Family is the refresh token family the token was minted with, if
	// any: revoking the family revokes the token (see FamilyRevocationID).
	Family string `json:"fam,omitempty"`
	// Confirmation binds the token to a DPoP key (RFC 9449 §6.1).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim (RFC 7800) of a DPoP-bound token.
type Confirmation struct {
	// JKT is the SHA-256 JWK thumbprint of the DPoP key.
	JKT string `json:"jkt"`
}

// FamilyRevocationID is the id under which a revoked refresh family is
// recorded in the store's revocation list, so that verifiers refuse the
// access tokens minted with it. The prefix holds a colon, which no jti the
// issuer makes does, so the two never collide.
func FamilyRevocationID(family string) string { return familyRevocationPrefix + family }

// RevokedFamily is the inverse of FamilyRevocationID: the family of a
// revocation id, and whether it is one.
func RevokedFamily(id string) (string, bool) { return strings.CutPrefix(id, familyRevocationPrefix) }

const familyRevocationPrefix = "family:"

// ParseScope splits a space-separated scope string (RFC 6749 §3.3) into its
// scopes, dropping empty ones and duplicates, in their first order.
func ParseScope(s string) []string {
	if s == "" {
		return nil
	}
	fields := strings.Fields(s)
	out := fields[:0]
	for _, f := range fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// JoinScope is the inverse of ParseScope.
func JoinScope(scopes []string) string { return strings.Join(scopes, " ") }
