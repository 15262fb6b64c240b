package issuer

import (
	"context"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// Until the login endpoint exists, the external tests reach the account
// authentication through these.
var (
	ErrLoginFailed     = errLoginFailed
	ErrUnknownLogin    = errUnknownLogin
	ErrWrongPassword   = errWrongPassword
	ErrAccountDisabled = errAccountDisabled
)

func (i *Issuer) AuthenticateAccount(ctx context.Context, login, pw string) (*store.Account, error) {
	return i.authenticateAccount(ctx, login, pw)
}

// SigningKeySet lets the external tests sign tokens of their own making
// with the issuer's key (an account token of a chosen generation, say).
func SigningKeySet(ctx context.Context, i *Issuer) (*token.KeySet, error) { return i.keys.KeySet(ctx) }

// Hasher is the issuer's hasher, for tests that look tokens up in the
// store by hash.
func (i *Issuer) Hasher() *token.Hasher { return i.hasher }
