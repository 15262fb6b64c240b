package tokensource

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Error is a token endpoint's refusal: its HTTP status and what its body
// said, read with the dialect's names. Compare with errors.Is, which
// matches the predefined values by Code:
//
//	if errors.Is(err, tokensource.ErrInvalidClient) { … the id or secret is wrong … }
//
// Description is the server's text with the client's secret and refresh
// token cut out, shortened and stripped of control characters; the raw
// body is never kept, since a body that is not the expected JSON could
// hold anything.
type Error struct {
	// StatusCode is the HTTP status; 0 in the predefined values.
	StatusCode int
	// Code is the server's error code, e.g. "invalid_client"; empty when
	// the body carried none.
	Code string
	// Description is the server's error description, if any.
	Description string
	// URI is the server's error URI, if any.
	URI string
	// RetryAfter is the wait the server asked for with Retry-After (429,
	// 503), if any; the source waits at least that long before asking
	// again.
	RetryAfter time.Duration
}

// Predefined errors (RFC 6749 §5.2), to compare with errors.Is.
var (
	ErrInvalidRequest         = &Error{Code: "invalid_request"}
	ErrInvalidClient          = &Error{Code: "invalid_client"}
	ErrInvalidGrant           = &Error{Code: "invalid_grant"}
	ErrUnauthorizedClient     = &Error{Code: "unauthorized_client"}
	ErrUnsupportedGrantType   = &Error{Code: "unsupported_grant_type"}
	ErrInvalidScope           = &Error{Code: "invalid_scope"}
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable"}
)

// ErrMalformedResponse is returned (wrapped) for a successful status whose
// body is not a usable token response.
var ErrMalformedResponse = errors.New("tokensource: malformed token response")

// Error says what the server answered, never what was sent.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tokensource: token endpoint answered ")
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode))
		if e.Code == "" {
			b.WriteString(" " + http.StatusText(e.StatusCode))
		}
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// Is matches an *Error with the same Code, so that errors.Is(err,
// ErrInvalidClient) holds whatever the status and description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// maxDescription bounds the server's text kept in an Error.
const maxDescription = 256

// clean makes a server's string fit for an error message: every secret
// cut out, control characters replaced, the length bounded.
func clean(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxDescription {
		cut := maxDescription
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// refused reports whether err is the server refusing a refresh token, as
// opposed to failing to answer: invalid_grant, or any 4xx but the ones
// that ask to come back later. A refused refresh token is dropped and the
// source asks with its credentials at once.
func refused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code == ErrInvalidGrant.Code {
		return true
	}
	return e.StatusCode >= 400 && e.StatusCode < 500 &&
		e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
