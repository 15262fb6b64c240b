package issuer

import (
	"errors"
	"net/http"
	"time"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2, RFC 7009 §2.2.1,
// RFC 6750 §3.1). Code, Description and URI go on the wire; Status is the
// HTTP status; the cause (see [Error.WithCause]) goes to logs only, never to
// the client.
//
// The predefined values below are templates: decorate them with
// [Error.WithDescription] or [Error.WithCause], which return copies, and
// never modify them in place. Compare with errors.Is, which matches by Code.
type Error struct {
	// Code is the error parameter: "invalid_request", "invalid_client", …
	Code string
	// Description is the error_description parameter: readable ASCII for
	// the client developer, never a secret and never a hint about whether a
	// client id exists.
	Description string
	// URI is the optional error_uri parameter.
	URI string
	// Status is the HTTP status code to answer with.
	Status int

	cause      error
	retryAfter time.Duration // sets Retry-After when positive
}

// Predefined errors. Status is the one RFC 6749 §5.2 prescribes.
var (
	ErrInvalidRequest       = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient        = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient   = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope         = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	// ErrUnsupportedTokenType is RFC 7009 §2.2.1's answer to a revocation
	// of a token type the server cannot revoke.
	ErrUnsupportedTokenType = &Error{Code: "unsupported_token_type", Status: http.StatusBadRequest}
	ErrServerError          = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	// ErrTemporarilyUnavailable is the answer when the store cannot answer
	// or does not answer within Config.StoreTimeout (or the request's
	// Config.RequestTimeout): the issuer fails
	// closed, logs the failure with the operation's name and sets
	// Retry-After: 5.
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable}
	// ErrRateLimited is the answer to a client id or address with too many
	// failed client authentications: temporarily_unavailable (the closest
	// code RFC 6749 registers) with status 429 and a Retry-After header.
	ErrRateLimited = &Error{Code: "temporarily_unavailable", Status: http.StatusTooManyRequests,
		Description: "too many failed client authentications; retry later"}
)

// Error returns the code, the description and the cause, for logs.
func (e *Error) Error() string {
	s := "issuer: " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrInvalidClient) holds for every decorated copy.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// WithDescription returns a copy of e with the description d.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// WithCause returns a copy of e that carries cause for logs. The cause is
// never sent to the client.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// WithStatus returns a copy of e with the HTTP status s.
func (e *Error) WithStatus(s int) *Error {
	c := *e
	c.Status = s
	return &c
}

// asError turns any error into an *Error: an *Error (possibly wrapped) is
// kept, anything else becomes invalid_request carrying it as its cause,
// because what a dialect fails to decode is the client's fault.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil { // a custom dialect may return a typed nil
		return e
	}
	return ErrInvalidRequest.WithDescription("malformed request").WithCause(err)
}

// status returns e.Status, or 400 when it is not an error status.
func (e *Error) status() int {
	if e.Status < 400 || e.Status > 599 {
		return http.StatusBadRequest
	}
	return e.Status
}
