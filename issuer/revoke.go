package issuer

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

var revocationEndpoint = endpoint{
	name:        "revocation",
	path:        func(p *Paths) *string { return &p.Revocation },
	defaultPath: "/oauth/revoke",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveRevoke },
	describe: func(i *Issuer, m *document, url string) {
		m.add("revocation_endpoint", url)
		m.add("revocation_endpoint_auth_methods_supported", i.clientAuthMethods())
	},
}

// serveRevoke implements RFC 7009. The client authenticates as at the token
// endpoint; it may revoke only its own tokens. Whatever the token (unknown,
// expired, malformed, another client's), the answer is 200 with an empty
// body, as §2.2 asks, so the endpoint tells nothing about tokens; only a
// store failure is an error (503). token_type_hint is accepted and not
// needed: Portcullis tokens say what they are.
//
// An access token is revoked by its id until it expires (JWT) or deleted
// (opaque); a refresh token revokes its whole family, and every access
// token minted with the family, JWT or opaque (RFC 9700 §4.14.2): at once
// at this issuer, within StateTTL at verifiers elsewhere (at once with a
// store that pushes events).
func (i *Issuer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	now := i.cfg.Now()
	c, p, e := i.authRequest(w, r, now)
	if e == nil {
		e = i.revokeToken(r.Context(), c, p["token"], now)
	}
	if e != nil {
		i.oauthError(w, r, e)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (i *Issuer) revokeToken(ctx context.Context, c *store.Client, raw string, now time.Time) *Error {
	switch {
	case strings.HasPrefix(raw, token.PrefixRefreshToken):
		if !token.WellFormed(raw, token.PrefixRefreshToken) {
			return nil
		}
		rt, err := i.store.GetRefreshToken(ctx, i.hasher.Hex(raw), now)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return i.unavailable(ctx, "get refresh token", err)
		}
		if rt.ClientID != c.ID {
			return nil
		}
		if e := i.revokeFamily(ctx, rt, now); e != nil {
			return e
		}
		call(ctx, i.cfg.Hooks.TokenRevoked, TokenRevoked{ClientID: c.ID, FamilyID: rt.FamilyID})
	case strings.HasPrefix(raw, token.PrefixAccessToken) || token.IsUUID(raw):
		if !token.IsUUID(raw) && !token.WellFormed(raw, token.PrefixAccessToken) {
			return nil
		}
		hash := i.hasher.Hex(raw)
		at, err := i.store.GetAccessToken(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return i.unavailable(ctx, "get access token", err)
		}
		if at.ClientID != c.ID {
			return nil
		}
		if err := i.store.DeleteAccessToken(ctx, hash); err != nil {
			return i.unavailable(ctx, "delete access token", err)
		}
		call(ctx, i.cfg.Hooks.TokenRevoked, TokenRevoked{ClientID: c.ID, TokenID: at.ID})
	default:
		// A JWT: its signature must verify (so nobody revokes an id they
		// made up); an expired one needs no revoking.
		pr, err := i.verifier.VerifyJWT(ctx, raw)
		if errors.Is(err, middleware.ErrUnavailable) {
			return i.unavailable(ctx, "signing keys", err)
		}
		if err != nil || pr.ClientID != c.ID {
			return nil
		}
		// The verifier accepts a token until exp plus its leeway, so the
		// revocation must outlive that, or the token would come back.
		if err := i.store.Revoke(ctx, pr.TokenID, pr.ExpiresAt.Add(i.verifier.Leeway())); err != nil {
			return i.unavailable(ctx, "revoke", err)
		}
		i.forget(store.Event{Kind: store.EventRevoked, ID: pr.TokenID})
		call(ctx, i.cfg.Hooks.TokenRevoked, TokenRevoked{ClientID: c.ID, TokenID: pr.TokenID})
	}
	return nil
}
