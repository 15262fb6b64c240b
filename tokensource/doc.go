// Package tokensource is the client side of a Portcullis token endpoint,
// for the customers of an API that runs one: an [oauth2.TokenSource] that
// gets tokens with the client's credentials and keeps them fresh, and an
// [http.RoundTripper] that puts them on requests.
//
//	src, err := tokensource.New(tokensource.Config{
//		TokenURL:     "https://api.example.com/v1/oauth2/token",
//		ClientID:     id,
//		ClientSecret: secret, // from the environment or a secret store, never from source code
//		Dialect:      tokensource.DataCrunch(),
//	})
//	…
//	resp, err := src.Client().Get("https://api.example.com/v1/balance")
//
// It imports nothing but the standard library and golang.org/x/oauth2, so a
// customer's program carries none of the server.
//
// # Dialects
//
// A [Dialect] describes the token endpoint's wire format as data: the
// names of the request's fields, the grant type values, form or JSON, HTTP
// Basic or credentials in the body, the members of the answer and of an
// error. [OAuth2] (RFC 6749) is the default; [OffBlocks], [Bloq],
// [DataCrunch] and [Generic] are the client's side of the issuer's
// declarations of the same names (a test keeps the two in step). The
// package describes the wire itself rather than reading the issuer's
// DialectSpec, because that type lives in the server package: importing
// it would link the whole issuer (its store, signing and password code)
// into every customer's program.
//
// # Caching and renewal
//
// A [Source] asks for a token the first time one is needed and keeps it.
// It learns the token's lifetime from the answer's expires-in member, its
// expires-at member, or else the JWT's own exp claim (read, not verified:
// the server that receives the token checks it), or else assumes
// [Config].DefaultTTL. Absolute times are measured against the server's
// clock (its Date header, the JWT's iat), so a client whose clock is off
// still renews in time.
//
// A while before the token expires ([Config].RefreshBefore plus a random
// [Config].Jitter, at most half its life), the next caller starts a
// renewal in the background and goes on with the current token, so no
// caller waits for a renewal that is on time. Only when there is no usable
// token do callers wait, all for the same request: whatever the number of
// callers, one token request is in flight at a time.
//
// When a request fails, callers with no usable token get its error at
// once until a backoff ends ([Config].Backoff, doubling, at least the
// server's Retry-After), so an outage of the token endpoint is not met with
// a flood; the first request after it succeeds ends the errors.
//
// # Refresh tokens
//
// When the dialect can use refresh tokens and the server issues one (as
// the DataCrunch and Bloq APIs do with client credentials), the source
// renews with it, and keeps the new one the server returns (refresh tokens
// rotate). If the server refuses it (invalid_grant, or another 4xx: the
// token expired, was revoked, or the server forgot it), the source drops
// it and asks with its credentials at once, in the same flight; the caller
// sees only the new token. A refresh token never leaves the source: the
// tokens it returns have none, since a second user would spend it, and a
// server that rotates refresh tokens takes a reuse as theft.
//
// # Errors
//
// A refusal of the token endpoint is an [*Error] with the HTTP status and
// the server's error code, read with the dialect's names; errors.Is
// matches it against [ErrInvalidClient] and the other predefined values
// by code. No error carries a secret: the request is never quoted, the
// server's description has the secret and refresh token cut out, and a
// body that is not the expected JSON is never quoted either. Answers are
// read up to 1 MiB.
//
// # Security
//
// The token URL must be https, or http to a loopback address; token
// requests never follow redirects, which would carry the secret's body
// elsewhere; and [Transport] never sends a token to another host than a
// request's first, whatever the redirects.
package tokensource
