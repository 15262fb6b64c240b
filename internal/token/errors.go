package token

import "errors"

// Errors a verifier returns, wrapped with their cause. Check them with
// errors.Is.
var (
	// ErrInvalidToken: the token is malformed, forged, expired, revoked,
	// of a rotated or disabled client, or otherwise unacceptable. Answer
	// 401 invalid_token; never tell the caller which.
	ErrInvalidToken = errors.New("token: invalid token")
	// ErrUnavailable: the store could not answer, so the token could not
	// be checked. Fail closed: answer 503.
	ErrUnavailable = errors.New("token: verification unavailable")
)
