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

// authRequest reads a client-authenticated POST (revocation,
// introspection) under the same rules as the token endpoint and
// authenticates the client.
func (i *Issuer) authRequest(w http.ResponseWriter, r *http.Request, now time.Time) (*store.Client, map[string]string, *Error) {
	if e := i.checkPost(w, r); e != nil {
		return nil, nil, e
	}
	p, err := readParams(r)
	if err != nil {
		return nil, nil, asError(err)
	}
	id, secret, method, err := clientAuth(r, p)
	if err != nil {
		return nil, nil, asError(err)
	}
	c, e := i.authenticate(r.Context(), r, &TokenRequest{ClientID: id, ClientSecret: secret, AuthMethod: method}, now)
	if e != nil {
		return nil, nil, e
	}
	if p["token"] == "" {
		return nil, nil, ErrInvalidRequest.WithDescription("missing token")
	}
	return c, p, nil
}

// oauthError writes e as RFC 6749 §5.2 for the revocation and
// introspection endpoints, which speak plain OAuth 2.0 whatever the token
// endpoint's dialect.
func (i *Issuer) oauthError(w http.ResponseWriter, r *http.Request, e *Error) {
	i.logError(r, e)
	if e.retryAfter > 0 {
		setRetryAfter(w.Header(), e.retryAfter)
	}
	d, ok := i.cfg.Dialect.(OAuth2)
	if !ok {
		d = OAuth2{}
	}
	d.WriteError(w, r, e)
}

// serveRevoke implements RFC 7009. The client authenticates as at the token
// endpoint; it may revoke only its own tokens. Whatever the token (unknown,
// expired, malformed, another client's), the answer is 200 with an empty
// body, as §2.2 asks, so the endpoint tells nothing about tokens; only a
// store failure is an error (503). token_type_hint is accepted and not
// needed: Portcullis tokens say what they are.
//
// An access token is revoked by its id until it expires (JWT) or deleted
// (opaque); a refresh token revokes its whole family. Access tokens already
// issued from a revoked refresh token live on until they expire.
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
		if err := i.store.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
			return i.unavailable(ctx, "revoke refresh family", err)
		}
	case strings.HasPrefix(raw, token.PrefixAccessToken):
		if !token.WellFormed(raw, token.PrefixAccessToken) {
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
		i.verifier.Forget(store.Event{Kind: store.EventRevoked, ID: pr.TokenID})
	}
	return nil
}
