package token

import (
	"slices"
	"strings"
	"time"

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
	// AccountID is set on tokens issued to an account.
	AccountID string `json:"account_id,omitempty"`
	// Generation of the client (or account) when the token was issued.
	Generation int64 `json:"gen"`
}

// Principal says who presented a verified token. Verifiers may return the
// same *Principal for every request that presents the same token: treat it
// as read-only.
type Principal struct {
	// Kind of the token: "client", "account", …
	Kind string `json:"kind"`
	// Subject is the client id for client tokens, the account id for
	// account tokens.
	Subject   string   `json:"sub"`
	ClientID  string   `json:"client_id,omitempty"`
	AccountID string   `json:"account_id,omitempty"`
	Scopes    []string `json:"scopes"`
	Audience  []string `json:"aud,omitempty"`
	// TokenID is the token's jti (for opaque tokens, the stored id).
	TokenID    string    `json:"jti,omitempty"`
	Generation int64     `json:"gen"`
	IssuedAt   time.Time `json:"iat"`
	ExpiresAt  time.Time `json:"exp"`
	// Issuer is the iss of the token.
	Issuer string `json:"iss,omitempty"`
	// Opaque is true for opaque tokens checked against the store.
	Opaque bool `json:"opaque,omitempty"`
}

// HasScope reports whether the principal was granted scope s.
func (p *Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// HasScopes reports whether the principal was granted every scope in want.
func (p *Principal) HasScopes(want ...string) bool {
	for _, s := range want {
		if !p.HasScope(s) {
			return false
		}
	}
	return true
}

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

func principalFromClaims(c *Claims) *Principal {
	p := &Principal{
		Kind:       c.Kind,
		Subject:    c.Subject,
		ClientID:   c.ClientID,
		AccountID:  c.AccountID,
		Scopes:     ParseScope(c.Scope),
		Audience:   []string(c.Audience),
		TokenID:    c.ID,
		Generation: c.Generation,
		Issuer:     c.Issuer,
	}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	return p
}
