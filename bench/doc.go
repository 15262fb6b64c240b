// Package bench compares Portcullis with peer libraries, side by side, so
// that the targets in the design (section 7, "Targets") are checked by
// benchmarks rather than by timed tests.
//
// It is a Go module of its own, so that the peers' dependencies never enter
// the main module; it reaches Portcullis through a replace directive. The
// root module's `go test ./...` does not descend into it: run it from here.
//
// # Token verification
//
// verify_test.go times one request's bearer token check: a bare golang-jwt
// ParseWithClaims (the baseline the design's ratios are against), the
// Portcullis guard on first sight of a token and on a token seen before,
// auth0/go-jwt-middleware v2 and go-chi/jwtauth v5, for HS256, ES256, EdDSA
// and RS256.
//
// # Token endpoint
//
// endpoint_test.go times client_credentials at the token endpoint in
// process: Portcullis (hashed secrets, signed JWTs), go-oauth2/oauth2 v4
// (plaintext secrets, opaque tokens) and ory/fosite (bcrypt-hashed secrets).
// cmd/endpoint-server serves each on loopback for wrk; run.sh runs it all.
//
// See README.md for how to run it and the figures of one run.
package bench
