package issuer

import (
	"context"
	"errors"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/store"
)

var accountKeysEndpoint = endpoint{
	name:        "account_keys",
	path:        func(p *Paths) *string { return &p.AccountKeys },
	defaultPath: "/account/keys",
	subtree:     true,
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveAccountKeys },
	describe:    func(_ *Issuer, m *document, url string) { m.add("portcullis_account_keys_endpoint", url) },
}

// MaxAccountKeys is how many client keys one account may hold at once.
const MaxAccountKeys = 100

// maxKeyNameLen bounds a client key's name.
const maxKeyNameLen = 255

var (
	errNoSuchKey   = &Error{Code: "not_found", Status: http.StatusNotFound, Description: "no such client key"}
	errTooManyKeys = &Error{Code: "invalid_request", Status: http.StatusConflict,
		Description: "the account holds the most client keys it may; delete one first"}
)

// serveAccountKeys lets an account manage its own client keys, with an
// account token as bearer token (a client token never reaches it). In the
// issuer's own format (the dialect may declare another, see [KeyFormat]):
//
//   - POST {path}: create a key, with an optional "name" parameter (form or
//     JSON body); 201 {"client_id","client_secret","name","created_at"},
//     the secret shown this once;
//   - GET {path}: 200 {"keys":[{"client_id","name","created_at"}…]}, oldest
//     first, never a secret;
//   - DELETE {path}/{client_id}: 204, and every token of that key dies at
//     once. Another account's key answers exactly like an unknown one: 404.
//
// Errors are written in the dialect's error shape.
func (i *Issuer) serveAccountKeys(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	id := subpath(r, i.cfg.Paths.AccountKeys)
	allow := "GET, POST"
	if id != "" {
		allow = "DELETE"
	}
	if !methodIn(r.Method, allow) {
		w.Header().Set("Allow", allow)
		i.cfg.Dialect.WriteError(w, r, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be "+allow))
		return
	}
	if r.URL.RawQuery != "" {
		i.cfg.Dialect.WriteError(w, r, ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not in the URL"))
		return
	}
	i.limitBody(w, r)
	p, ok := i.authorizeBearer(w, r, KindAccount)
	if !ok {
		return
	}
	ctx := r.Context()
	var e *Error
	switch {
	case id != "":
		e = i.deleteAccountKey(ctx, p.AccountID, id)
		if e == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	case r.Method == http.MethodGet:
		var owned []*store.Client
		if owned, e = i.listAccountKeys(ctx, p.AccountID); e == nil {
			writeRaw(w, http.StatusOK, i.keyFmt.list(owned))
			return
		}
	default:
		var c *store.Client
		var secret string
		if c, secret, e = i.createAccountKey(ctx, r, p.AccountID); e == nil {
			writeRaw(w, i.keyFmt.CreatedStatus, i.keyFmt.key(i.keyFmt.Created, c, secret))
			return
		}
	}
	i.tokenError(w, r, e)
}

// createAccountKey makes a key for the account and returns it with its
// secret, in the form the key format asks.
func (i *Issuer) createAccountKey(ctx context.Context, r *http.Request, account string) (*store.Client, string, *Error) {
	var name string
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		params, err := ReadParams(r)
		if err != nil {
			return nil, "", asError(err)
		}
		name = params["name"]
		if len(name) > maxKeyNameLen || !validKeyName(name) {
			return nil, "", ErrInvalidRequest.WithDescription("name must be at most 255 bytes of printable text")
		}
	}
	owned, err := i.store.ListClientsByOwner(ctx, account, MaxAccountKeys)
	if err != nil {
		return nil, "", i.unavailable(ctx, "list client keys", err)
	}
	if len(owned) >= MaxAccountKeys {
		return nil, "", errTooManyKeys
	}
	c, secret, err := i.CreateClient(ctx, ClientSpec{Name: name, OwnerAccount: account, Secret: i.keyFmt.newSecret()})
	if err != nil {
		return nil, "", i.unavailable(ctx, "create client key", err)
	}
	return c, secret, nil
}

func (i *Issuer) listAccountKeys(ctx context.Context, account string) ([]*store.Client, *Error) {
	owned, err := i.store.ListClientsByOwner(ctx, account, MaxAccountKeys)
	if err != nil {
		return nil, i.unavailable(ctx, "list client keys", err)
	}
	return owned, nil
}

func (i *Issuer) deleteAccountKey(ctx context.Context, account, id string) *Error {
	if len(id) > maxClientIDLen || !printable(id) {
		return errNoSuchKey
	}
	c, err := i.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.OwnerAccount != account) {
		return errNoSuchKey
	}
	if err != nil {
		return i.unavailable(ctx, "get client", err)
	}
	err = i.DeleteClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchKey
	}
	if err != nil {
		return i.unavailable(ctx, "delete client key", err)
	}
	return nil
}

// validKeyName reports whether a key's name is printable UTF-8 text.
func validKeyName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
