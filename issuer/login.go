package issuer

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/store"
)

var loginEndpoint = endpoint{
	name:        "login",
	path:        func(p *Paths) *string { return &p.Login },
	defaultPath: "/account/login",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveLogin },
	describe:    func(_ *Issuer, m *document, url string) { m.add("portcullis_login_endpoint", url) },
}

// errLoginRefused is the one answer to every failed login: unknown login,
// wrong password, disabled account or no credentials.
var errLoginRefused = ErrInvalidClient.WithDescription("login failed")

// serveLogin logs an account in: POST with HTTP Basic, the user being the
// account's username or email (RFC 7617: taken as sent, not form-decoded)
// and the password. The body is ignored, whatever its type. Success is an
// account token in the dialect's token response; every failure is the same
// 401 with a Basic challenge, and costs the same (an unknown login is
// checked against a dummy hash). Failed logins are rate limited per login
// and per address, like client authentication (429 with Retry-After).
func (i *Issuer) serveLogin(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	ctx := r.Context()
	now := i.cfg.Now()
	resp, e := i.login(ctx, w, r, now)
	if e != nil {
		if e.Code == ErrInvalidClient.Code {
			w.Header().Set("WWW-Authenticate", `Basic realm="login", charset="UTF-8"`)
		}
		i.tokenError(w, r, e)
		return
	}
	i.cfg.Dialect.WriteTokenResponse(w, r, resp)
}

func (i *Issuer) login(ctx context.Context, w http.ResponseWriter, r *http.Request, now time.Time) (*TokenResponse, *Error) {
	if e := i.checkPost(w, r); e != nil {
		return nil, e
	}
	login, password, basic, err := decodeBasic(r, false)
	if err != nil {
		return nil, asError(err)
	}
	k, ok := loginKey(login)
	if !ok || !(validUsername(login) || validEmail(login)) {
		login, k = "", ""
	}
	at := i.newAttempt(r, SubjectAccount, limitKeyAccount, login, k, now)
	if e := at.begin(ctx); e != nil {
		return nil, e
	}
	fail := func(reason string, cause error) (*TokenResponse, *Error) {
		return nil, at.fail(ctx, reason, errLoginRefused, cause)
	}
	if !basic || password == "" {
		return fail(ReasonNoCredentials, errors.New("no HTTP Basic credentials"))
	}
	if login == "" {
		// What an unknown login costs, so that a malformed one is not
		// told apart by its speed.
		if err := i.passwords.dummy(ctx, password); err != nil {
			return nil, i.unavailable(ctx, "hash password", err)
		}
		return fail(ReasonMalformedID, errors.New("malformed login"))
	}
	a, err := i.authenticateAccount(ctx, login, password)
	switch {
	case errors.Is(err, errUnknownLogin):
		return fail(ReasonUnknown, err)
	case errors.Is(err, errWrongPassword), errors.Is(err, errUnreadableHash):
		return fail(ReasonWrongSecret, err)
	case errors.Is(err, errAccountDisabled):
		return fail(ReasonDisabled, err)
	case err != nil:
		return nil, i.unavailable(ctx, "authenticate account", err)
	}
	kind := i.kinds[KindAccount]
	resp, e := i.mint(ctx, now, minting{
		kind:      kind,
		grantType: GrantLogin,
		grant: store.Grant{
			Subject:    a.ID,
			AccountID:  a.ID,
			Audience:   kind.Audience,
			Generation: a.Generation,
		},
	})
	if e != nil {
		return nil, e
	}
	call(ctx, i.cfg.Hooks.Login, Login{AccountID: a.ID, Address: at.addr})
	return resp, nil
}
