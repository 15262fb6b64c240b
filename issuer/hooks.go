package issuer

import (
	"context"
	"time"
)

// Hooks are called as the issuer works, for metrics and audit logs. Each
// is optional, is called synchronously on the request's goroutine (keep it
// fast; hand slow work to a goroutine of your own) and must not panic. No
// secret, password or token ever reaches a hook: only ids, names and
// reasons.
type Hooks struct {
	// TokenIssued is called from the one mint path after a token has been
	// handed out (stored, signed and committed), whatever the grant or
	// endpoint.
	TokenIssued func(ctx context.Context, e TokenIssued)
	// AuthFailed is called from the one authentication path when a client
	// or an account fails to authenticate, with the reason.
	AuthFailed func(ctx context.Context, e AuthFailed)
	// Credentials is called after a client's or an account's credentials
	// were created, rotated, disabled, enabled or deleted.
	Credentials func(ctx context.Context, e CredentialsChanged)
	// TokenRevoked is called after a token (or a refresh token's family)
	// was revoked at the revocation endpoint.
	TokenRevoked func(ctx context.Context, e TokenRevoked)
	// RefreshReused is called when a used refresh token comes back, and
	// its family is revoked (RFC 9700 §4.14.2).
	RefreshReused func(ctx context.Context, e RefreshReused)
	// Login is called after an account logged in.
	Login func(ctx context.Context, e Login)
	// SigningKey is called after this issuer stored a new signing key: the
	// first one of a store, or a rotation (Config.KeyRotation,
	// Config.Algorithm changed, or [Issuer.RotateSigningKey]). A key made
	// by another replica is reported by that replica.
	SigningKey func(ctx context.Context, e SigningKeyCreated)
}

// TokenIssued describes a token the issuer handed out.
type TokenIssued struct {
	// Kind of the access token ("client", "account", …).
	Kind string
	// GrantType is how it was obtained: "client_credentials",
	// "refresh_token", "login", or a custom grant's type.
	GrantType string
	// Subject is the client id for client tokens, the account id for
	// account tokens.
	Subject   string
	ClientID  string
	AccountID string
	Scopes    []string
	// TokenID is the access token's id (jti), never the token.
	TokenID   string
	Format    Format
	ExpiresAt time.Time
	// Refresh reports whether a refresh token was issued with it.
	Refresh bool
}

// Principal types in hook events.
const (
	SubjectClient  = "client"
	SubjectAccount = "account"
)

// Why an authentication failed.
const (
	ReasonNoCredentials  = "no_credentials"   // no secret or password presented
	ReasonMalformedID    = "malformed_id"     // an id no client or account can have
	ReasonUnknown        = "unknown"          // no such client or account
	ReasonWrongSecret    = "wrong_secret"     // the secret or password did not match
	ReasonBadAssertion   = "bad_assertion"    // a client assertion did not verify (private_key_jwt)
	ReasonDisabled       = "disabled"         // the client or account is disabled
	ReasonRateLimited    = "rate_limited"     // too many failures for the id or address
	ReasonInvalidToken   = "invalid_token"    // a bearer token did not verify
	ReasonWrongTokenKind = "wrong_token_kind" // a valid token of a kind the endpoint does not take
)

// AuthFailed describes a failed authentication.
type AuthFailed struct {
	// Subject is SubjectClient or SubjectAccount: what tried to
	// authenticate.
	Subject string
	// ID is the client id or the login (username or email) that was
	// presented, empty when there was none or it was malformed.
	ID string
	// Reason is one of the Reason constants.
	Reason string
	// Address is the caller's address (see Config.ClientIP).
	Address string
}

// What happened to credentials.
const (
	ActionCreated  = "created"
	ActionRotated  = "rotated" // a new secret or password
	ActionDisabled = "disabled"
	ActionEnabled  = "enabled"
	ActionDeleted  = "deleted"
)

// CredentialsChanged describes a change to a client's or an account's
// credentials.
type CredentialsChanged struct {
	// Subject is SubjectClient or SubjectAccount.
	Subject string
	// ID of the client or account.
	ID string
	// Action is one of the Action constants.
	Action string
	// OwnerAccount is the account that owns the client, if any.
	OwnerAccount string
}

// TokenRevoked describes a revocation.
type TokenRevoked struct {
	ClientID string
	// TokenID is the revoked access token's id; empty for a refresh token.
	TokenID string
	// FamilyID is the revoked refresh family's id; empty for an access
	// token.
	FamilyID string
}

// RefreshReused describes a refresh token presented after its use.
type RefreshReused struct {
	ClientID string
	FamilyID string
}

// Login describes an account's successful login.
type Login struct {
	AccountID string
	Address   string
}

// SigningKeyCreated describes a signing key the issuer stored; never its
// key material.
type SigningKeyCreated struct {
	// KeyID is the key's kid.
	KeyID     string
	Algorithm string
	// Seq orders the store's keys.
	Seq int64
	// ActiveAt is when the key starts signing: ten minutes after it is
	// published for a rotation, at once otherwise.
	ActiveAt time.Time
	// Rotation is true when the key replaces one that signs, false when no
	// key could sign (a new store, or every key had expired).
	Rotation bool
}

// call calls hook with e unless the hook is unset: every hook's call
// site.
func call[E any](ctx context.Context, hook func(context.Context, E), e E) {
	if hook != nil {
		hook(ctx, e)
	}
}
