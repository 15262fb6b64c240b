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
	// FamilyID is the refresh token family the token was minted with, if
	// any (the fam claim): revoking the family, or reusing one of its
	// refresh tokens, revokes the token.
	FamilyID string `json:"fam,omitempty"`
	// Opaque is true for opaque tokens checked against the store.
	Opaque bool `json:"opaque,omitempty"`
	// DPoPKey is the SHA-256 thumbprint of the key a DPoP-bound token is
	// bound to (its cnf.jkt, RFC 9449 §6.1); empty for a bearer token. The
	// guard accepts a bound token only with a proof made by that key.
	DPoPKey string `json:"cnf_jkt,omitempty"`
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

// principalBuf is a Principal with room for the audience and scopes of a
// typical token, so that verifying one allocates the principal once.
type principalBuf struct {
	p      Principal
	aud    [2]string
	scopes [6]string
}

// fill makes the principal of verified claims, decoded with their
// Audience in b.aud.
func (b *principalBuf) fill(c *token.AccessClaims) *Principal {
	p := &b.p
	*p = Principal{
		Kind:       c.Kind,
		Subject:    c.Subject,
		ClientID:   c.ClientID,
		AccountID:  c.AccountID,
		Scopes:     token.AppendScope(b.scopes[:0], c.Scope),
		Audience:   c.Audience[:len(c.Audience):len(c.Audience)],
		TokenID:    c.ID,
		Generation: c.Generation,
		Issuer:     c.Issuer,
		DPoPKey:    c.Confirmation,
		FamilyID:   c.Family,
	}
	if len(p.Scopes) == 0 {
		p.Scopes = nil
	} else {
		p.Scopes = p.Scopes[:len(p.Scopes):len(p.Scopes)]
	}
	if len(p.Audience) == 0 {
		p.Audience = nil
	}
	if c.Has&token.HasIssuedAt != 0 {
		p.IssuedAt = time.Unix(c.IssuedAt, 0)
	}
	if c.Has&token.HasExpiresAt != 0 {
		p.ExpiresAt = time.Unix(c.ExpiresAt, 0)
	}
	return p
}
