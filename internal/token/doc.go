// Package token holds what the issuer and the guard share: the claims of a
// Portcullis access token, signing keys and key sets, client secrets and
// opaque tokens, and the local Verifier that both use, so that nothing about
// the token format is written twice.
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
//
// # Verification
//
// A [Verifier] checks a token completely: signature with the algorithm
// pinned by the key (never by the token's alg; jku and x5u are ignored),
// typ, iss, aud, exp, nbf and iat with a small leeway, the token kind, and
// then revocation and the generation of the client or account. Verified
// tokens are cached by their exact string so that a token seen before costs
// about a microsecond; the cache honours expiry, and revocation and
// rotation reach it within [VerifierConfig.StateTTL] (or at once when the
// store pushes events, see [store.Watcher]).
package token
