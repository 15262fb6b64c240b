package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error is a rejection, with what RFC 6750 §3 puts on the wire. The
// sentinels below are its predefined values; verifiers and Authenticate
// return copies decorated with the cause and the guard's realm. errors.Is
// matches an Error by Status and Code, so errors.Is(err, ErrInvalidToken)
// holds for every invalid-token rejection, whichever verifier made it, and
// the cause stays reachable through Unwrap (errors.Is(err, context.DeadlineExceeded)).
type Error struct {
	// Status is the HTTP status: 400, 401, 403 or 503.
	Status int
	// Code is the RFC 6750 error code; empty when the request carried no
	// token at all.
	Code string
	// Description is the error_description: fixed text that never says
	// why a token failed.
	Description string
	// Scope lists the scopes the route requires (space-separated), for
	// insufficient_scope.
	Scope string
	// Realm is the guard's realm, rendered in the challenge when not empty.
	Realm string
	// Err is the cause, for logs only: it never reaches the client.
	Err error
	// DPoPNonce, for use_dpop_nonce, is the server nonce to retry with,
	// which WriteError sends in the DPoP-Nonce header. A custom
	// Config.ErrorHandler that does not call WriteError must send it
	// itself, or the client cannot retry (RFC 9449 §9).
	DPoPNonce string
}

// Predefined rejections. Compare with errors.Is.
var (
	// ErrNoToken: the request carried no bearer token.
	ErrNoToken = &Error{Status: http.StatusUnauthorized}
	// ErrInvalidRequest: the request was malformed (two Authorization
	// headers, a bearer token that is empty, several or badly formed, too
	// long a header, a token in two places).
	ErrInvalidRequest = &Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Description: "the request must carry exactly one well-formed bearer token"}
	// ErrInvalidToken: the token is malformed, forged, expired, revoked,
	// of a rotated or disabled client or account, or otherwise
	// unacceptable, or its kind or audience is not accepted here. Every
	// verifier's rejection of a token wraps it.
	ErrInvalidToken = &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "the access token is invalid"}
	// ErrInsufficientScope: the token is valid but lacks a required scope.
	ErrInsufficientScope = &Error{Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "the access token lacks a required scope"}
	// ErrUnavailable: the token could not be checked (the store, the
	// issuer's JWKS or its introspection endpoint did not answer). Every
	// verifier's failure to check wraps it; the guard fails closed.
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: "the access token cannot be checked now; try again later"}
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("middleware: ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else {
		b.WriteString(" no bearer token")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Status and Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Code == e.Code
}

// with returns a copy of e with cause and realm, leaving the sentinel alone.
func (e *Error) with(cause error, realm string) *Error {
	c := *e
	c.Err, c.Realm = cause, realm
	return &c
}

// asError turns any error into the rejection it stands for. An error that
// is not an *Error is an invalid token: whatever a custom verifier returns,
// the guard fails closed. A sentinel that a custom verifier wrapped
// (fmt.Errorf("introspection: %w", ErrUnavailable)) keeps what it said.
func asError(err error) *Error {
	var e *Error
	if !errors.As(err, &e) || e == nil {
		return ErrInvalidToken.with(err, "")
	}
	if e.Err == nil && error(e) != err {
		return e.with(err, e.Realm)
	}
	return e
}

// invalid is an invalid-token rejection; format and a say why, for logs.
func invalid(format string, a ...any) error {
	return ErrInvalidToken.with(fmt.Errorf(format, a...), "")
}

// unavailable is a rejection for a token that could not be checked;
// format and a say why, for logs.
func unavailable(format string, a ...any) error {
	return ErrUnavailable.with(fmt.Errorf(format, a...), "")
}

// WriteError renders err as RFC 6750 asks: the status, a WWW-Authenticate
// challenge for 400, 401 and 403, and a small JSON body
// {"error":…,"error_description":…} (empty when the request carried no
// token, which RFC 6750 §3.1 says should get no error information). It is
// the default Config.ErrorHandler, and every adapter renders through it, so
// the bytes are the same whatever the framework. The cause in Error.Err is
// never written.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	h := w.Header()
	if e.Status != http.StatusServiceUnavailable {
		h.Set("WWW-Authenticate", challenge(e))
	}
	if e.DPoPNonce != "" && validParam(e.DPoPNonce) {
		h.Set(DPoPNonceHeader, e.DPoPNonce)
	}
	if e.Code == "" {
		h.Set("Content-Length", "0")
		w.WriteHeader(e.Status)
		return
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}

// challenge builds the WWW-Authenticate value (RFC 6750 §3).
func challenge(e *Error) string {
	var b strings.Builder
	dpop := e.Code == ErrInvalidDPoPProof.Code || e.Code == ErrUseDPoPNonce.Code
	if dpop {
		b.WriteString("DPoP") // RFC 9449 §7.1
	} else {
		b.WriteString("Bearer")
	}
	sep := " "
	param := func(name, value string) {
		if value == "" {
			return
		}
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(quote(value))
		b.WriteString(`"`)
		sep = ", "
	}
	if dpop {
		param("algs", "ES256 EdDSA RS256")
	}
	param("realm", e.Realm)
	param("error", e.Code)
	param("error_description", e.Description)
	param("scope", e.Scope)
	return b.String()
}

// quote makes s safe inside a quoted-string: RFC 6750 allows only printable
// ASCII without '"' and '\' in these parameters, so anything else is dropped
// rather than escaped.
func quote(s string) string {
	if validParam(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

func validParam(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
