package issuer

import (
	"context"
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// minting is what one call of [Issuer.mint] makes.
type minting struct {
	kind *Kind
	// grantType is how the tokens were obtained, for hooks.
	grantType string
	// grant says who the tokens are for: Subject, ClientID, AccountID,
	// Scopes, Audience and Generation. Kind, IssuedAt and ExpiresAt are
	// mint's to set.
	grant store.Grant
	// accessScopes, when not nil, narrow the access token's scopes below
	// the grant's (a refresh request may ask for less, RFC 6749 §6).
	accessScopes []string
	// refresh also makes a refresh token in family (a new family when
	// empty).
	refresh bool
	family  string
	// commit, when set, runs once every token is stored or signed and
	// before anything is handed out: the refresh grant consumes the
	// presented token there. When it fails, the access token is discarded
	// and its error returned.
	commit func(ctx context.Context) *Error
}

// mint is the one path every token takes, whatever the grant or endpoint:
// the refresh token first (if any: should minting the access token then
// fail, what is left is a stored token nobody holds), the access token in
// its kind's format and lifetime, the commit, and the TokenIssued hook.
func (i *Issuer) mint(ctx context.Context, now time.Time, m minting) (*TokenResponse, *Error) {
	g := m.grant
	g.Kind = m.kind.Name
	resp := &TokenResponse{}
	if m.refresh {
		family := m.family
		if family == "" {
			family = newID()
		}
		rt, e := i.newRefreshToken(ctx, g, family, now)
		if e != nil {
			return nil, e
		}
		resp.RefreshToken = rt
	}
	access := g
	if m.accessScopes != nil {
		access.Scopes = m.accessScopes
	}
	jti, e := i.mintAccess(ctx, m.kind, access, now, resp)
	if e != nil {
		return nil, e
	}
	if m.commit != nil {
		if e := m.commit(ctx); e != nil {
			i.discardAccess(ctx, m.kind, resp.AccessToken)
			return nil, e
		}
	}
	call(ctx, i.cfg.Hooks.TokenIssued, TokenIssued{
		Kind: access.Kind, GrantType: m.grantType, Subject: access.Subject,
		ClientID: access.ClientID, AccountID: access.AccountID, Scopes: access.Scopes,
		TokenID: jti, Format: m.kind.Format, ExpiresAt: now.Add(m.kind.TTL), Refresh: m.refresh,
	})
	return resp, nil
}

// mintAccess makes the access token for g in the kind's format, fills in
// resp and returns the token's id. Opaque tokens are stored hashed.
func (i *Issuer) mintAccess(ctx context.Context, k *Kind, g store.Grant, now time.Time, resp *TokenResponse) (string, *Error) {
	g.IssuedAt = now
	g.ExpiresAt = now.Add(k.TTL)
	jti := newID()
	scope := token.JoinScope(g.Scopes)
	var raw string
	switch k.Format {
	case FormatOpaque, FormatUUID:
		if k.Format == FormatUUID {
			raw = token.NewUUID()
		} else {
			raw = token.NewSecret(token.PrefixAccessToken)
		}
		// The store copies what it keeps (store's contract), so g's
		// slices need no clone here.
		err := i.store.CreateAccessToken(ctx, &store.AccessToken{Hash: i.hasher.Hex(raw), ID: jti, Grant: g})
		if err != nil {
			return "", i.unavailable(ctx, "create access token", err)
		}
	default:
		ks, err := i.keys.KeySet(ctx)
		if err != nil {
			return "", i.unavailable(ctx, "signing keys", err)
		}
		claims := &token.Minted{
			Issuer:     i.cfg.Issuer,
			Subject:    g.Subject,
			Audience:   g.Audience,
			ExpiresAt:  g.ExpiresAt.Unix(),
			NotBefore:  now.Unix(),
			IssuedAt:   now.Unix(),
			ID:         jti,
			ClientID:   g.ClientID,
			AccountID:  g.AccountID,
			Scope:      scope,
			Kind:       g.Kind,
			Generation: g.Generation,
		}
		if raw, err = ks.SignAccess(claims); err != nil {
			i.log.ErrorContext(ctx, "issuer: signing failed", "err", err)
			return "", ErrServerError.WithCause(err)
		}
	}
	resp.AccessToken = raw
	resp.TokenType = "Bearer"
	resp.ExpiresIn = int64(k.TTL / time.Second)
	resp.ExpiresAt = g.ExpiresAt
	resp.Scope = scope
	return jti, nil
}

// newRefreshToken stores a new refresh token for g in the family and
// returns it. Only its hash is stored.
func (i *Issuer) newRefreshToken(ctx context.Context, g store.Grant, family string, now time.Time) (string, *Error) {
	raw := token.NewSecret(token.PrefixRefreshToken)
	g.IssuedAt = now
	g.ExpiresAt = now.Add(i.cfg.Refresh.TTL)
	g.Scopes = slices.Clone(g.Scopes)
	g.Audience = slices.Clone(g.Audience)
	err := i.store.CreateRefreshToken(ctx, &store.RefreshToken{Hash: i.hasher.Hex(raw), FamilyID: family, Grant: g})
	if err != nil {
		return "", i.unavailable(ctx, "create refresh token", err)
	}
	return raw, nil
}

// discardAccess deletes an opaque access token that was stored for a
// response that will not be sent. Nobody holds it, so a failure here
// costs nothing but a row until it expires.
func (i *Issuer) discardAccess(ctx context.Context, k *Kind, raw string) {
	if k.Format == FormatJWT || raw == "" {
		return
	}
	if err := i.store.DeleteAccessToken(ctx, i.hasher.Hex(raw)); err != nil {
		i.log.WarnContext(ctx, "issuer: could not delete an unsent access token", "err", err)
	}
}
