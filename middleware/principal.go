package middleware

import (
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/token"
)

// Token kinds that Portcullis defines by default. Kinds are free-form
// names an issuer configures; these two are the ones every verifier knows
// unless told otherwise. They are the names the issuer mints with
// (TestKindNames keeps them so).
const (
	// KindClient is the kind of tokens issued to machine clients.
	KindClient = "client"
	// KindAccount is the kind of tokens issued to accounts that log in.
	KindAccount = "account"
)

// Principal says who presented a verified token. Verifiers may return the
// same *Principal for every request that presents the same token: treat it
// as read-only.
type Principal struct {
	// Kind of the token: "client", "account", …
	Kind string `json:"kind"`
	// Subject is the client id for client tokens, the account id for
	// account tokens.
	Subject string `json:"sub"`
	// ClientID is the client the token was issued to, if any.
	ClientID string `json:"client_id,omitempty"`
	// AccountID is the account the token was issued to, or, on a client
	// token, the account that owns the client.
	AccountID string   `json:"account_id,omitempty"`
	Scopes    []string `json:"scopes"`
	Audience  []string `json:"aud,omitempty"`
	// TokenID is the token's jti (for opaque tokens, the stored id).
	TokenID string `json:"jti,omitempty"`
	// Generation of the client (or account) when the token was issued.
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

func principalFromClaims(c *token.Claims) *Principal {
	p := &Principal{
		Kind:       c.Kind,
		Subject:    c.Subject,
		ClientID:   c.ClientID,
		AccountID:  c.AccountID,
		Scopes:     token.ParseScope(c.Scope),
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
