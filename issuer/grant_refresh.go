package issuer

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// refreshTokenGrant is RFC 6749 §6, served when some kind issues refresh
// tokens.
var refreshTokenGrant = grant{
	typ:     GrantRefreshToken,
	enabled: func(i *Issuer) bool { return anyKind(i.kinds, func(k *Kind) bool { return k.Refresh }) },
	handle:  (*Issuer).refresh,
}

// refresh implements the refresh_token grant (RFC 6749 §6) with rotation:
// every use returns a new refresh token of the same family, and the one
// presented dies. Presenting a used one is taken as theft (RFC 9700
// §4.14.2) and revokes the whole family, the newest token included. Of two
// concurrent refreshes with one token, exactly one succeeds; the other is
// a reuse, so the family is revoked and the client must authenticate again.
//
// Everything is written before the presented token is consumed, so that
// consuming is the single commit point: a failure before it leaves the old
// token usable (retry), and nothing fails after it but the response
// itself. A store failure inside the consume call can leave the client not
// knowing whether its token was used; a retry is then a reuse, and the
// client must authenticate again.
func (i *Issuer) refresh(ctx context.Context, r *http.Request, req *TokenRequest) (*TokenResponse, *Error) {
	now := i.cfg.Now()
	var authed *store.Client
	if req.AuthMethod != AuthNone || !i.cfg.Refresh.AllowPublic {
		c, e := i.authenticate(ctx, r, req, now)
		if e != nil {
			return nil, e
		}
		authed = c
	}
	raw := req.RefreshToken
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("missing refresh_token")
	}
	if !token.WellFormed(raw, token.PrefixRefreshToken) {
		return nil, errBadRefresh
	}
	hash := i.hasher.Hex(raw)
	rt, err := i.store.GetRefreshToken(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, i.unavailable(ctx, "get refresh token", err)
	}
	// Another client's token (RFC 6749 §6) is refused without touching it.
	if (authed != nil && rt.ClientID != authed.ID) || (authed == nil && req.ClientID != "" && req.ClientID != rt.ClientID) {
		return nil, errBadRefresh.WithCause(errors.New("refresh token of another client"))
	}
	if !rt.UsedAt.IsZero() {
		return nil, i.reused(ctx, rt)
	}
	c := authed
	if c == nil {
		if c, err = i.store.GetClient(ctx, rt.ClientID); errors.Is(err, store.ErrNotFound) {
			return nil, errBadRefresh.WithCause(errors.New("client deleted"))
		} else if err != nil {
			return nil, i.unavailable(ctx, "get client", err)
		}
	}
	if c.Disabled || c.Generation != rt.Generation {
		return nil, errBadRefresh.WithCause(errors.New("client disabled or rotated"))
	}
	if authed == nil && c.OwnerAccount != "" {
		// What authenticate checks of a key: without client
		// authentication, a disabled or deleted account's key must not
		// refresh either.
		a, err := i.store.GetAccount(ctx, c.OwnerAccount)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.Disabled) {
			return nil, errBadRefresh.WithCause(errors.New("owner account disabled or deleted"))
		}
		if err != nil {
			return nil, i.unavailable(ctx, "get account", err)
		}
	}
	if !grantAllowed(c, GrantRefreshToken) {
		return nil, errNotPermitted
	}
	kind, ok := i.kinds[rt.Kind]
	if !ok {
		return nil, errBadRefresh.WithCause(errors.New("refresh token of a kind no longer configured"))
	}
	// The grant keeps its scopes, less any the client has lost since; a
	// request may narrow the access token's scope (RFC 6749 §6).
	allowed := i.allowedScopes(c)
	g := rt.Grant
	g.Scopes = slices.DeleteFunc(slices.Clone(rt.Scopes), func(s string) bool { return !slices.Contains(allowed, s) })
	g.Audience = i.audience(kind, c)
	want, e := parseRequestedScope(req.Scope)
	if e != nil {
		return nil, e
	}
	var accessScopes []string
	if len(want) > 0 {
		for _, s := range want {
			if !slices.Contains(g.Scopes, s) {
				return nil, ErrInvalidScope.WithDescription("the requested scope exceeds the scope originally granted")
			}
		}
		accessScopes = want
	}
	return i.mint(ctx, now, minting{
		kind:         kind,
		grantType:    GrantRefreshToken,
		grant:        g,
		accessScopes: accessScopes,
		refresh:      true,
		family:       rt.FamilyID,
		commit: func(ctx context.Context) *Error {
			consumed, err := i.store.ConsumeRefreshToken(ctx, hash, now)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, store.ErrTokenReused):
				if consumed == nil {
					consumed = rt
				}
				return i.reused(ctx, consumed)
			case errors.Is(err, store.ErrNotFound):
				return errBadRefresh.WithCause(err)
			}
			return i.unavailable(ctx, "consume refresh token", err)
		},
	})
}

// reused revokes the family of a refresh token presented after its use.
func (i *Issuer) reused(ctx context.Context, rt *store.RefreshToken) *Error {
	i.log.WarnContext(ctx, "issuer: refresh token reused; revoking its family",
		"client_id", rt.ClientID, "family", rt.FamilyID)
	call(ctx, i.cfg.Hooks.RefreshReused, RefreshReused{ClientID: rt.ClientID, FamilyID: rt.FamilyID})
	if err := i.store.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
		// The token stays used, so the next attempt tries again.
		return i.unavailable(ctx, "revoke refresh family", err)
	}
	return errBadRefresh.WithCause(errors.New("refresh token reused"))
}
