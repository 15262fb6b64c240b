package issuer

import (
	"context"
	"net/http"

	"github.com/portcullis/portcullis/store"
)

// clientCredentialsGrant is RFC 6749 §4.4: a client trades its credentials
// for a client token.
var clientCredentialsGrant = grant{
	typ:    GrantClientCredentials,
	handle: (*Issuer).clientCredentials,
}

func (i *Issuer) clientCredentials(ctx context.Context, r *http.Request, req *TokenRequest) (*TokenResponse, *Error) {
	now := i.cfg.Now()
	c, e := i.authenticate(ctx, r, req, now)
	if e != nil {
		return nil, e
	}
	if !grantAllowed(c, GrantClientCredentials) {
		return nil, errNotPermitted
	}
	scopes, e := i.grantScopes(c, req.Scope)
	if e != nil {
		return nil, e
	}
	kind := i.kinds[KindClient]
	return i.mint(ctx, now, minting{
		kind:      kind,
		grantType: GrantClientCredentials,
		grant: store.Grant{
			Subject:  clientSubject(c),
			ClientID: c.ID,
			// A client key names its account, so that the account's
			// deletion or disabling reaches its tokens too.
			AccountID:  c.OwnerAccount,
			Scopes:     scopes,
			Audience:   i.audience(kind, c),
			Generation: c.Generation,
		},
		refresh: kind.Refresh && grantAllowed(c, GrantRefreshToken),
	})
}
