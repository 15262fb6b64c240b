// Package token holds the token format that the issuer and the middleware
// share: the claims of a Portcullis access token, signing keys and key sets,
// client secrets and opaque tokens, so that nothing about the format is
// written twice. Verification itself (middleware.LocalVerifier) lives in the
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
// # Keys
//
// A [KeyManager] keeps signing keys in a [store.Keys], so that replicas share
// them: it creates the first key when there is none (of replicas starting at
// once exactly one key wins), publishes a new key before it signs with it,
// and keeps the old one published until every token it signed has expired.
// Each key is pinned to one algorithm: ES256 (the default), EdDSA, RS256 or
// HS256. A [KeySet] publishes only public keys.
package token
