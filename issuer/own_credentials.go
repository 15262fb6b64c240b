package issuer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// MetaSubject, in a client's Metadata, is the subject of its tokens when it
// differs from the client's id: the issuer sets it when a client changes
// its own id at Paths.OwnCredentials, so that the identity its tokens
// speak for stays the one it had. Absent, the subject is the id.
const MetaSubject = "portcullis.subject"

// defaultMinSecretLength is Config.MinSecretLength's default.
const defaultMinSecretLength = 32

var ownCredentialsEndpoint = endpoint{
	name:        "own_credentials",
	path:        func(p *Paths) *string { return &p.OwnCredentials },
	defaultPath: pathDisabled,
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveOwnCredentials },
	describe:    func(_ *Issuer, m *document, url string) { m.add("portcullis_own_credentials_endpoint", url) },
}

// serveOwnCredentials lets the client whose access token is presented
// (Authorization: Bearer, a token of kind "client") replace its own id and
// secret with ones it chose, or delete them, as the OffBlocks API does:
//
//	PUT    {"<id field>":"…","<secret field>":"…"}  → 204
//	DELETE                                        → 204
//
// The field names are the dialect's (Request.ClientID and ClientSecret of
// a [DialectSpec]; "client_id" and "client_secret" otherwise), and so is
// the choice of body (JSON only unless the dialect takes forms).
//
// Either way every token issued before, the presented one included, and
// the old id and secret die at once. A PUT may change the id too: the
// client is then stored under the new id, the identity its tokens speak for
// (their subject, see [MetaSubject]) stays the same, and the id that
// identity was first known by stays reserved, so that no other client can
// take it and speak for it (a DELETE leaves that reservation too). The new secret must pass the strength rule
// (Config.MinSecretLength characters, no control characters); a malformed
// body or a weak secret is 400 and changes nothing, as is a PUT whose new
// id another client has (409). Of two changes made with one token, one
// wins and the other gets invalid_token.
//
// Token errors follow RFC 6750 as at the credentials endpoint; the others
// are written by the dialect.
func (i *Issuer) serveOwnCredentials(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	fail := func(e *Error) { i.tokenError(w, r, e) }
	if r.Method != http.MethodPut && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "PUT, DELETE")
		fail(ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be PUT or DELETE"))
		return
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		fail(ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not in the URL"))
		return
	}
	p, ok := i.authorizeBearer(w, r, KindClient)
	if !ok {
		return
	}
	id, gen := p.ClientID, p.Generation
	ctx := r.Context()
	var err error
	if r.Method == http.MethodDelete {
		err = i.deleteOwn(ctx, id, gen)
	} else {
		newID, secret, e := i.readOwnCredentials(w, r)
		if e != nil {
			fail(e)
			return
		}
		err = i.replaceOwn(ctx, id, gen, newID, secret)
	}
	var e *Error
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.Is(err, errGenerationMoved) || errors.Is(err, store.ErrNotFound):
		// Another change won, or the client is gone: the token is dead.
		middleware.WriteError(w, r, middleware.ErrInvalidToken)
		return
	case errors.Is(err, store.ErrAlreadyExists):
		e = ErrInvalidRequest.WithStatus(http.StatusConflict).WithDescription("that client id is taken").WithCause(err)
	default:
		e = i.unavailable(ctx, "own credentials", err)
	}
	fail(e)
}

// ownFields returns the names of the id and secret fields of a PUT body
// and whether a form body is accepted, after the dialect.
func (i *Issuer) ownFields() (id, secret string, form bool) {
	var d DialectSpec
	switch v := i.cfg.Dialect.(type) {
	case DialectSpec:
		d = v
	case *DialectSpec:
		d = *v
	default:
		return "client_id", "client_secret", true
	}
	if d.Request.ClientID == "" {
		return "client_id", "client_secret", d.Form
	}
	return d.Request.ClientID, d.Request.ClientSecret, d.Form
}

// readOwnCredentials reads and checks the new id and secret of a PUT.
func (i *Issuer) readOwnCredentials(w http.ResponseWriter, r *http.Request) (id, secret string, e *Error) {
	idName, secretName, form := i.ownFields()
	i.limitBody(w, r)
	if r.ContentLength > i.cfg.MaxBodyBytes {
		return "", "", errTooLarge
	}
	if !form {
		if e := requireJSON(r); e != nil {
			return "", "", e
		}
	}
	p, err := ReadParams(r)
	if err != nil {
		return "", "", asError(err)
	}
	id, secret = p[idName], p[secretName]
	switch {
	case id == "" || secret == "":
		return "", "", ErrInvalidRequest.WithDescription("both " + safeName(idName) + " and " + safeName(secretName) + " are required")
	case len(id) > maxClientIDLen || !printable(id):
		return "", "", ErrInvalidRequest.WithDescription(fmt.Sprintf("%s must be 1 to %d printable ASCII characters without spaces", safeName(idName), maxClientIDLen))
	}
	if why := i.weakSecret(secret); why != "" {
		return "", "", ErrInvalidRequest.WithDescription(safeName(secretName) + " " + why)
	}
	return id, secret, nil
}

// weakSecret says why a secret a client chose fails the strength rule, or
// returns "". The rule: at least Config.MinSecretLength characters (Unicode
// code points), at most maxSecretLen bytes of UTF-8, no control characters.
// A length is all a server can judge of a secret it only sees once; it is
// why generated secrets (256 random bits) are the better choice.
func (i *Issuer) weakSecret(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be UTF-8"
	case len(s) > maxSecretLen:
		return fmt.Sprintf("must be at most %d bytes", maxSecretLen)
	case utf8.RuneCountInString(s) < i.cfg.MinSecretLength:
		return fmt.Sprintf("must be at least %d characters", i.cfg.MinSecretLength)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return "must not contain control characters"
		}
	}
	return ""
}

// clientSubject is the subject of the client's tokens.
func clientSubject(c *store.Client) string {
	if s := c.Metadata[MetaSubject]; s != "" {
		return s
	}
	return c.ID
}

// replaceOwn gives the client id, at generation gen, the id newID and the
// secret. The same id is a rotation with a compare-and-swap on gen. A new
// id is made in three steps, each safe to fail in:
//
//  1. store a copy of the client under newID with the secret, a fresh
//     generation and the same subject (fails if newID is taken: nothing
//     changed);
//  2. retire the old record with a compare-and-swap on gen: disabled, a
//     secret nobody knows, the generation bumped, so that every earlier
//     token and the old pair die (fails if another change won: the copy is
//     deleted again);
//  3. delete the old record, unless its id is the subject, which stays
//     reserved as the retired record so that no other client can take the
//     id its tokens once spoke for.
func (i *Issuer) replaceOwn(ctx context.Context, id string, gen int64, newID, secret string) error {
	if newID == id {
		_, err := i.rotate(ctx, id, secret, &gen, nil)
		return err
	}
	old, err := i.store.GetClient(ctx, id)
	if err != nil {
		return err
	}
	if old.Generation != gen || old.Disabled {
		return errGenerationMoved
	}
	subject := clientSubject(old)
	now := i.cfg.Now()
	c := *old
	c.ID = newID
	c.SecretHash = i.hasher.Sum(secret)
	c.Generation = initialGeneration()
	c.UpdatedAt = now
	c.Metadata = maps.Clone(old.Metadata)
	if subject != newID {
		if c.Metadata == nil {
			c.Metadata = map[string]string{}
		}
		c.Metadata[MetaSubject] = subject
	} else {
		// Back to the id it started with: never reached while the retired
		// record holds that id, but harmless.
		delete(c.Metadata, MetaSubject)
	}
	if err := i.store.CreateClient(ctx, &c); err != nil {
		return err
	}
	if err := i.retire(ctx, id, &gen); err != nil {
		if derr := i.store.DeleteClient(ctx, newID); derr != nil {
			i.log.ErrorContext(ctx, "issuer: could not undo a client id change; the new id works",
				"client_id", newID, "err", derr)
		}
		return err
	}
	i.clientChanged(ctx, newID, c.OwnerAccount, ActionCreated)
	if id == subject {
		i.clientChanged(ctx, id, old.OwnerAccount, ActionDisabled)
		return nil
	}
	i.dropRetired(ctx, id)
	return nil
}

// deleteOwn deletes the client id at generation gen. A retired record
// that reserves its subject (see replaceOwn) stays: the identity's tokens
// are dead either way, and keeping the id taken means no later client can
// speak for it.
func (i *Issuer) deleteOwn(ctx context.Context, id string, gen int64) error {
	if err := i.retire(ctx, id, &gen); err != nil {
		return err
	}
	// The client is dead from here on: a failure to delete its record
	// leaves only a disabled row, so it is logged, not answered.
	i.dropRetired(ctx, id)
	return nil
}

// retire disables the client with a compare-and-swap on gen and gives it a
// secret nobody knows, so that neither EnableClient nor the old secret
// brings it back.
func (i *Issuer) retire(ctx context.Context, id string, gen *int64) error {
	hash := i.hasher.Sum(token.NewClientSecret())
	return i.updateClient(ctx, id, gen, func(c *store.Client) {
		c.Disabled = true
		c.SecretHash = hash
		c.Generation++
	})
}

// dropRetired deletes a retired client record, logging a failure.
func (i *Issuer) dropRetired(ctx context.Context, id string) {
	if err := i.DeleteClient(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		i.log.WarnContext(ctx, "issuer: could not delete a retired client; it stays disabled", "client_id", id, "err", err)
	}
}
