// Package token is the token format that the issuer and the middleware
// share, so that nothing about it is written twice: the claims of a
// Portcullis access token, signing keys and key sets, and client secrets and
// opaque tokens. Users never import it; the issuer and middleware packages
// are its API. Verification itself (middleware.LocalVerifier) lives in the
// middleware package, which the issuer imports.
//
// # Access tokens
//
// JWT access tokens follow RFC 9068: the header carries typ "at+jwt" and the
// kid of the signing key; the claims carry iss, sub, aud, exp, iat, nbf, jti,
// client_id and scope, plus the token kind ("kind") and the generation of the
// client or account it was issued to ("gen"). Opaque access tokens are random
// strings that the store knows only by their hash.
//
// Verifiers read a JWT with [KeySet.VerifyJWT]: golang-jwt checks the
// signature with the method of the key that the kid names, and the header
// and claims are decoded by [DecodeHeader] and [DecodeClaims], strict
// decoders without reflection: claim names are case-exact and unique,
// times are JSON numbers in range, and a header with crit or b64 is
// refused. Tokens are still minted from [Claims] with golang-jwt.
//
// # Keys
//
// Signing keys live in a [store.Keys], so that replicas share them, and
// belong to the issuer: its [KeyManager] is the only writer. It creates the
// first key when there is none (of replicas starting at once exactly one
// key wins), and every rotation (RotateEvery, [KeyManager.Rotate], or a new
// configured algorithm) publishes the new key PublishAhead before it signs
// and expires the old one RetainFor after it stops signing, when its last
// token has expired. A process that only verifies tokens over the same
// store reads the keys with a [KeyReader], which never writes and fails
// with [ErrNoKeys] until an issuer has created a key. Each key is pinned to
// one algorithm: ES256 (the default), EdDSA, RS256 or HS256. A [KeySet]
// publishes only public keys.
//
// # Secrets
//
// Client secrets, refresh tokens and opaque tokens are random strings with
// a recognisable prefix and a checksum ([WellFormed]); the store knows them
// only by their hash ([Hasher]).
package token
