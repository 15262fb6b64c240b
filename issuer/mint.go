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
	// empty, begun now), which the access token names too, so that
	// revoking the family revokes it. familyIssuedAt is when the family
	// began, for Refresh.MaxFamilyLifetime (zero: now).
	refresh        bool
	family         string
	familyIssuedAt time.Time
	// rotate, when set, stores the new refresh token in place of
	// CreateRefreshToken, once the access token is made and before
	// anything is handed out: the refresh grant rotates the presented
	// token there (its single commit point). When it fails, the access
	// token is discarded and its error returned.
	rotate func(ctx context.Context, next *store.RefreshToken) *Error
	// exchanged, when set, is a refresh token of family that the refresh
	// grant's exchange has already stored in place of the presented one
	// (see Issuer.refreshAtOnce): mint hands it out and stores nothing.
	exchanged string
}

// mint is the one path every token takes, whatever the grant or endpoint:
// the refresh token first (if any and neither rotated nor exchanged:
// should minting the access token then fail, what is left is a stored
// token nobody holds),
// the access token in its kind's format and lifetime, the rotation, and the
// TokenIssued hook.
func (i *Issuer) mint(ctx context.Context, now time.Time, m minting) (*TokenResponse, *Error) {
	g := m.grant
	g.Kind = m.kind.Name
	resp := &TokenResponse{}
	var next *store.RefreshToken
	switch {
	case m.exchanged != "":
		resp.RefreshToken, resp.mintedRefresh = m.exchanged, m.exchanged
	case m.refresh:
		if m.family == "" {
			m.family, m.familyIssuedAt = newID(), now
		}
		var raw string
		raw, next = i.newRefreshToken(g, m.family, m.familyIssuedAt, now)
		if m.rotate == nil {
			if err := i.store.CreateRefreshToken(ctx, next); err != nil {
				return nil, i.unavailable(ctx, "create refresh token", err)
			}
		}
		resp.RefreshToken, resp.mintedRefresh = raw, raw
	}
	access := g
	if m.accessScopes != nil {
		access.Scopes = m.accessScopes
	}
	jti, e := i.mintAccess(ctx, m.kind, access, m.family, now, resp)
	if e != nil {
		return nil, e
	}
	if m.rotate != nil {
		if e := m.rotate(ctx, next); e != nil {
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

// mintAccess makes the access token for g in the kind's format, naming the
// refresh family if any, fills in resp and returns the token's id. Opaque
// tokens are stored hashed.
func (i *Issuer) mintAccess(ctx context.Context, k *Kind, g store.Grant, family string, now time.Time, resp *TokenResponse) (string, *Error) {
	g.IssuedAt = now
	g.ExpiresAt = now.Add(k.TTL)
	jti := newID()
	scope := token.JoinScope(g.Scopes)
	var raw string
	bound := false
	if k.RequireDPoP && dpopKeyFrom(ctx) == "" {
		return "", ErrInvalidDPoPProof.WithDescription("tokens of this kind must be DPoP-bound: send a DPoP proof")
	}
	switch k.Format {
	case FormatOpaque, FormatUUID:
		if dpopKeyFrom(ctx) != "" {
			// Nothing would carry the binding to the guard.
			return "", ErrInvalidRequest.WithDescription("DPoP-bound tokens need the JWT format, and this kind issues opaque tokens")
		}
		if k.Format == FormatUUID {
			raw = token.NewUUID()
		} else {
			raw = token.NewSecret(token.PrefixAccessToken)
		}
		// The store copies what it keeps (store's contract), so g's
		// slices need no clone here.
		err := i.store.CreateAccessToken(ctx, &store.AccessToken{Hash: i.hasher.Hex(raw), ID: jti, FamilyID: family, Grant: g})
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
			Family:     family,
		}
		if jkt := dpopKeyFrom(ctx); jkt != "" {
			claims.Confirmation = &token.Confirmation{JKT: jkt}
			bound = true
		}
		if raw, err = ks.SignAccess(claims); err != nil {
			i.log.ErrorContext(ctx, "issuer: signing failed", "err", err)
			return "", ErrServerError.WithCause(err)
		}
	}
	resp.AccessToken, resp.mintedAccess = raw, raw
	resp.TokenType = "Bearer"
	if bound {
		resp.TokenType = "DPoP"
	}
	resp.ExpiresIn = int64(k.TTL / time.Second)
	resp.ExpiresAt = g.ExpiresAt
	resp.Scope = scope
	return jti, nil
}

// newRefreshToken makes a new refresh token for g in the family, and the
// record to store (only its hash). It lives Refresh.TTL, but no longer than
// the family's first issue plus Refresh.MaxFamilyLifetime.
func (i *Issuer) newRefreshToken(g store.Grant, family string, familyIssuedAt, now time.Time) (string, *store.RefreshToken) {
	raw := token.NewSecret(token.PrefixRefreshToken)
	g.IssuedAt = now
	g.ExpiresAt = now.Add(i.cfg.Refresh.TTL)
	if end, ok := i.familyEnd(familyIssuedAt, now); ok && end.Before(g.ExpiresAt) {
		g.ExpiresAt = end
	}
	g.Scopes = slices.Clone(g.Scopes)
	g.Audience = slices.Clone(g.Audience)
	return raw, &store.RefreshToken{Hash: i.hasher.Hex(raw), FamilyID: family, Grant: g, FamilyIssuedAt: familyIssuedAt}
}

// familyEnd is when a family begun at start ends (Refresh.MaxFamilyLifetime),
// and whether it has an end. A family whose start is unknown (a token from
// before it was recorded) counts from fallback.
func (i *Issuer) familyEnd(start, fallback time.Time) (time.Time, bool) {
	if i.cfg.Refresh.MaxFamilyLifetime <= 0 {
		return time.Time{}, false
	}
	if start.IsZero() {
		start = fallback
	}
	return start.Add(i.cfg.Refresh.MaxFamilyLifetime), true
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
