package issuer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

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
// §4.14.2) and revokes the whole family, the newest token included, and
// every access token minted with it. Of two concurrent refreshes with one
// token, exactly one succeeds; the other is a reuse, so the family is
// revoked and the client must authenticate again (unless
// Refresh.GracePeriod lets the loser through once, see RefreshConfig).
//
// Everything else is written before the presented token is rotated, so
// that the rotation (store.RefreshTokens.RotateRefreshToken: consume the
// presented token and store its successor, atomically) is the single
// commit point: a failure before it leaves the old token usable (retry),
// and nothing fails after it but the response itself. The rotation is
// idempotent for one request, so a store client that re-sends it after a
// lost reply gets success, not reuse. A client that loses the response
// itself needs the grace period to try again.
//
// Over a store that is a [store.RefreshExchanger], the common case takes
// one round trip instead (refreshAtOnce): the checks are conditions of the
// exchange, and only the access token's signature comes after its commit
// point.
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
	if resp, e, done := i.refreshAtOnce(ctx, authed, req, hash, now); done {
		return resp, e
	}
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
	// What is rotated, and when it counts as used: the presented token,
	// now; or, on its second use within the grace period, the successor
	// its first use made, at that successor's own issue (see inGrace).
	rotates, usedAt := hash, now
	if !rt.UsedAt.IsZero() {
		if !i.inGrace(rt, now) {
			return nil, i.reused(ctx, rt, now)
		}
		i.log.InfoContext(ctx, "issuer: refresh token presented again within the grace period; rotating its successor",
			"client_id", rt.ClientID, "family", rt.FamilyID)
		rotates, usedAt = rt.ReplacedBy, rt.UsedAt
	}
	familyIssuedAt := rt.FamilyIssuedAt
	if familyIssuedAt.IsZero() {
		familyIssuedAt = rt.IssuedAt // a token from before families had a start
	}
	if end, ok := i.familyEnd(familyIssuedAt, now); ok && !now.Before(end) {
		return nil, errBadRefresh.WithCause(errors.New("refresh family past its maximum lifetime"))
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
		kind:           kind,
		grantType:      GrantRefreshToken,
		grant:          g,
		accessScopes:   accessScopes,
		refresh:        true,
		family:         rt.FamilyID,
		familyIssuedAt: familyIssuedAt,
		rotate: func(ctx context.Context, next *store.RefreshToken) *Error {
			err := i.store.RotateRefreshToken(ctx, rotates, next, usedAt)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, store.ErrTokenReused):
				return i.reused(ctx, rt, now)
			case errors.Is(err, store.ErrNotFound):
				return errBadRefresh.WithCause(err)
			}
			return i.unavailable(ctx, "rotate refresh token", err)
		},
	})
}

// refreshAtOnce serves the refresh grant's common case in one store round
// trip, when the store is a [store.RefreshExchanger]: an authenticated
// client refreshing a client token of its own, of its current generation,
// whose scopes it still has, in a family not past its lifetime, asking for
// no narrower scope. The exchange checks all of that as it consumes the
// token, so it succeeds exactly when the read, the checks and the rotation
// below would, and leaves the token as it was otherwise. done is false
// when the rest of refresh must decide (nothing changed): a token the
// exchange does not match (used, another client's, …), another kind's, a
// public client, a narrower scope.
//
// The access token is signed after the commit point here, since its grant
// is the stored token's. What could fail there is checked first: the
// kind's format (a JWT: an opaque token would be a store write), a DPoP
// proof the kind requires, and the signing keys.
func (i *Issuer) refreshAtOnce(ctx context.Context, c *store.Client, req *TokenRequest, hash string, now time.Time) (*TokenResponse, *Error, bool) {
	if i.exchanger == nil || c == nil || req.Scope != "" || c.Disabled || !grantAllowed(c, GrantRefreshToken) {
		return nil, nil, false
	}
	kind := i.kinds[KindClient]
	if kind == nil || kind.Format != FormatJWT || (kind.RequireDPoP && dpopKeyFrom(ctx) == "") {
		return nil, nil, false
	}
	if _, err := i.keys.KeySet(ctx); err != nil {
		return nil, nil, false
	}
	raw := token.NewSecret(token.PrefixRefreshToken)
	audience := i.audience(kind, c)
	rt, err := i.exchanger.ExchangeRefreshToken(ctx, &store.RefreshExchange{
		Hash: hash, Next: i.hasher.Hex(raw), Now: now,
		Kind: kind.Name, ClientID: c.ID, Generation: c.Generation,
		Scopes:            i.allowedScopes(c),
		Audience:          audience,
		ExpiresAt:         now.Add(i.cfg.Refresh.TTL),
		MaxFamilyLifetime: i.cfg.Refresh.MaxFamilyLifetime,
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, false
	}
	if err != nil {
		return nil, i.unavailable(ctx, "exchange refresh token", err), true
	}
	g := rt.Grant
	g.Audience = audience
	resp, e := i.mint(ctx, now, minting{
		kind:      kind,
		grantType: GrantRefreshToken,
		grant:     g,
		refresh:   true,
		family:    rt.FamilyID,
		exchanged: raw,
	})
	return resp, e, true
}

// inGrace reports whether a used refresh token may be presented once more
// (Refresh.GracePeriod): it was rotated (it has a successor) less than the
// grace period ago, by its holder. Whether that successor is still unused,
// which makes it once only, the rotation itself decides.
//
// A successor killed by such a second use was never delivered, and is
// recorded as used at its own issue (its predecessor's use): a token used
// at the instant it was issued is never in grace, so presenting it later is
// reuse. Without that, a thief and the client could take turns presenting
// their dead tokens, each within the grace period of the other's, and
// never be caught.
func (i *Issuer) inGrace(rt *store.RefreshToken, now time.Time) bool {
	g := i.cfg.Refresh.GracePeriod
	return g > 0 && rt.ReplacedBy != "" && rt.UsedAt.After(rt.IssuedAt) && now.Before(rt.UsedAt.Add(g))
}

// reused revokes the family of a refresh token presented after its use,
// with every access token minted from it.
func (i *Issuer) reused(ctx context.Context, rt *store.RefreshToken, now time.Time) *Error {
	i.log.WarnContext(ctx, "issuer: refresh token reused; revoking its family",
		"client_id", rt.ClientID, "family", rt.FamilyID)
	call(ctx, i.cfg.Hooks.RefreshReused, RefreshReused{ClientID: rt.ClientID, FamilyID: rt.FamilyID})
	if e := i.revokeFamily(ctx, rt, now); e != nil {
		// The token stays used, so the next attempt tries again.
		return e
	}
	return errBadRefresh.WithCause(errors.New("refresh token reused"))
}

// revokeFamily revokes a refresh token's family (RFC 9700 §4.14.2), and
// with it every access token minted with the family: the family is
// recorded in the revocation list until the last of them, minted at the
// latest now, has expired (plus the verifiers' leeway), and this issuer's
// verifier forgets what it cached about them. Verifiers elsewhere learn of
// it within their StateTTL, or at once from a store that pushes events.
func (i *Issuer) revokeFamily(ctx context.Context, rt *store.RefreshToken, now time.Time) *Error {
	id := token.FamilyRevocationID(rt.FamilyID)
	if err := i.store.Revoke(ctx, id, now.Add(i.accessTTL(rt.Kind)+i.verifier.Leeway())); err != nil {
		return i.unavailable(ctx, "revoke refresh family's access tokens", err)
	}
	if err := i.store.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
		return i.unavailable(ctx, "revoke refresh family", err)
	}
	i.verifier.Forget(store.Event{Kind: store.EventRevoked, ID: id})
	return nil
}

// accessTTL is the lifetime of the access tokens of a kind; of the longest
// lived kind when the kind is no longer configured.
func (i *Issuer) accessTTL(kind string) time.Duration {
	if k, ok := i.kinds[kind]; ok {
		return k.TTL
	}
	var longest time.Duration
	for _, k := range i.kinds {
		longest = max(longest, k.TTL)
	}
	return longest
}
