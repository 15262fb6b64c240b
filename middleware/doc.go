// Package middleware guards HTTP handlers with Portcullis access tokens,
// whatever the web framework: a [Guard] reads the bearer token (RFC 6750),
// has a [Verifier] check it, applies the route's policy (token kinds,
// audiences, scopes), and puts the [Principal] in the request context.
//
//	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}})
//	mux.Handle("/v1/", guard.Wrap(api))
//
// # Getting a Verifier
//
// A [Verifier] is anything with Verify(ctx, raw). A [*LocalVerifier]
// already is one, so there are two usual ways to get it:
//
//   - in the process that issues tokens, ask the issuer: iss.Verifier();
//   - in a resource server that shares the issuer's store (the same
//     PostgreSQL, MySQL or Redis), build one with [NewLocalVerifier] over
//     the store, so that revocation and rotation reach it.
//
// A resource server without the store verifies remotely instead: with the
// issuer's published keys ([NewJWKSVerifier]), following the issuer's
// change feed ([JWKSConfig].Follow, see [FollowConfig]) so that rotation
// and revocation reach it within seconds, or by asking the issuer about
// each token (RFC 7662, [NewIntrospectionVerifier]).
//
// The guard never checks a signature itself: everything about the token
// (signature pinned per key, typ, iss, aud, exp, nbf, iat, revocation,
// rotation) is the verifier's job, and the guard adds the route's policy.
//
// # Policy
//
// A guard rejects by default. [Config.Kinds] defaults to client tokens
// only, so an account token never passes a client guard by accident;
// [Config.Scopes] are all required; [Config.Audiences], when set, narrows
// the audiences the verifier accepts. [Guard.Require] and [Guard.WithKinds]
// return copies for per-route policy:
//
//	admin := guard.Require("admin").WithKinds(middleware.KindAccount)
//	either := guard.WithKinds(middleware.KindClient, middleware.KindAccount)
//
// A kind must be one the verifier's issuer defines ([LocalConfig.Kinds],
// by default [KindClient] and [KindAccount]): [New] refuses a Config that
// names another, and a copy from WithKinds that names one refuses every
// token and logs why at error level, so that a misspelt kind cannot pass
// unnoticed.
//
// # Errors
//
// Every rejection is an [*Error] rendered by [WriteError] (or your
// [Config.ErrorHandler]), identically in every adapter:
//
//   - no bearer token (no Authorization header, or another scheme such as
//     Basic): 401 with "WWW-Authenticate: Bearer realm=..." and no error
//     code, and an empty body, as RFC 6750 §3.1 asks;
//   - a malformed request (two Authorization headers, "Bearer" with no
//     token, several tokens or characters outside the b64token syntax, a
//     header longer than [Config.MaxHeaderBytes], a token in both the header
//     and the query): 400 invalid_request;
//   - a token that does not verify, or is of a kind or audience the route
//     does not accept: 401 invalid_token, with one fixed description that
//     never says why (the cause is logged at debug level);
//   - a valid token without a required scope: 403 insufficient_scope, with
//     the required scopes in the challenge;
//   - a verifier that cannot reach its store: 503 temporarily_unavailable,
//     logged at error level. The guard fails closed.
//
// Except for the no-token case, the body is a small JSON object:
//
//	{"error":"invalid_token","error_description":"the access token is invalid"}
//
// A handler that authenticates a request itself reads the token with
// [BearerToken], which parses the Authorization header exactly as a guard
// does, and answers with [WriteError], so that its bytes are the guard's
// (the issuer's credentials endpoint does so).
//
// # Tokens in the URL
//
// A token in a query parameter ends up in server logs, browser history and
// Referer headers, so the guard never reads one unless
// [Config.TokenFromQuery] names the parameter. Enable it only for clients
// that cannot set headers (EventSource, WebSocket handshakes in browsers).
package middleware
