package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

var introspectionEndpoint = endpoint{
	name:        "introspection",
	path:        func(p *Paths) *string { return &p.Introspection },
	defaultPath: "/oauth/introspect",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveIntrospect },
	describe: func(i *Issuer, m *document, url string) {
		m.add("introspection_endpoint", url)
		m.add("introspection_endpoint_auth_methods_supported", i.clientAuthMethods())
	},
}

// introspection is an RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Expires   int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	ID        string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	// Kind is the Portcullis token kind ("client", …).
	Kind      string `json:"kind,omitempty"`
	AccountID string `json:"account_id,omitempty"`
	// Confirmation of a DPoP-bound token (RFC 9449 §6.2).
	Confirmation *token.Confirmation `json:"cnf,omitempty"`
}

var inactive = []byte(`{"active":false}`)

// serveIntrospect implements RFC 7662. The caller authenticates as a
// client. A client may introspect only its own tokens, unless it was
// created with ClientSpec.IntrospectAny (a resource server); any other
// token, like an unknown, expired, revoked or rotated one, is exactly
// {"active":false}. An active access token reports token_type "Bearer", a
// refresh token "refresh_token"; both report the token kind.
func (i *Issuer) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	now := i.cfg.Now()
	c, p, e := i.authRequest(w, r, now)
	var resp *introspection
	if e == nil {
		resp, e = i.introspectToken(r.Context(), c, p["token"], now)
	}
	if e != nil {
		i.oauthError(w, r, e)
		return
	}
	body := inactive
	if resp != nil {
		body, _ = json.Marshal(resp)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// introspectToken returns nil for an inactive token.
func (i *Issuer) introspectToken(ctx context.Context, c *store.Client, raw string, now time.Time) (*introspection, *Error) {
	mayRead := func(clientID string) bool {
		return clientID == c.ID || c.Metadata[MetaIntrospect] == "any"
	}
	if strings.HasPrefix(raw, token.PrefixRefreshToken) {
		if !token.WellFormed(raw, token.PrefixRefreshToken) {
			return nil, nil
		}
		rt, err := i.store.GetRefreshToken(ctx, i.hasher.Hex(raw), now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, i.unavailable(ctx, "get refresh token", err)
		}
		if !rt.UsedAt.IsZero() || !mayRead(rt.ClientID) {
			return nil, nil
		}
		owner := c
		if rt.ClientID != c.ID {
			owner, err = i.store.GetClient(ctx, rt.ClientID)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, i.unavailable(ctx, "get client", err)
			}
		}
		if owner.Disabled || owner.Generation != rt.Generation {
			return nil, nil
		}
		return &introspection{
			Active: true, Scope: token.JoinScope(rt.Scopes), ClientID: rt.ClientID, Subject: rt.Subject,
			Expires: rt.ExpiresAt.Unix(), IssuedAt: rt.IssuedAt.Unix(), Audience: rt.Audience,
			Issuer: i.cfg.Issuer, TokenType: "refresh_token", Kind: rt.Kind, AccountID: rt.AccountID,
		}, nil
	}
	p, err := i.verifier.Verify(ctx, raw)
	if errors.Is(err, middleware.ErrUnavailable) {
		return nil, i.unavailable(ctx, "verify", err)
	}
	if err != nil || !mayRead(p.ClientID) {
		return nil, nil
	}
	in := &introspection{
		Active: true, Scope: token.JoinScope(p.Scopes), ClientID: p.ClientID, Subject: p.Subject,
		Expires: p.ExpiresAt.Unix(), IssuedAt: p.IssuedAt.Unix(), Audience: p.Audience,
		Issuer: p.Issuer, ID: p.TokenID, TokenType: "Bearer", Kind: p.Kind, AccountID: p.AccountID,
	}
	if p.DPoPKey != "" {
		in.TokenType, in.Confirmation = "DPoP", &token.Confirmation{JKT: p.DPoPKey}
	}
	return in, nil
}
