package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/token"
)

// Error is a rejection, with what RFC 6750 §3 puts on the wire. The
// sentinels below are its predefined values; Authenticate returns copies
// decorated with the cause and the guard's realm. errors.Is matches an
// Error by Status and Code, so errors.Is(err, ErrInvalidToken) holds for
// every invalid-token rejection, and the cause stays reachable through
// Unwrap (errors.Is(err, token.ErrUnavailable)).
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
	// ErrInvalidToken: the token did not verify, or its kind or audience is
	// not accepted here.
	ErrInvalidToken = &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "the access token is invalid"}
	// ErrInsufficientScope: the token is valid but lacks a required scope.
	ErrInsufficientScope = &Error{Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "the access token lacks a required scope"}
	// ErrUnavailable: the token could not be checked (the store did not
	// answer). The guard fails closed.
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
// is not an *Error is an invalid token, unless it says the verifier was
// unavailable: whatever a custom verifier returns, the guard fails closed.
func asError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, token.ErrUnavailable):
		return ErrUnavailable.with(err, "")
	default:
		return ErrInvalidToken.with(err, "")
	}
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
	b.WriteString("Bearer")
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
