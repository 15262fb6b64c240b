// Package issuer is the authorization server: it authenticates clients,
// mints access (and optionally refresh) tokens, manages client credentials
// and serves revocation, introspection, the JWKS and RFC 8414 metadata.
//
//	st := memory.New()
//	iss, err := issuer.New(issuer.Config{Issuer: "https://auth.example.com", Store: st})
//	c, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{Scopes: []string{"read"}})
//	mux.Handle("/", iss.Handler())
//	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier()})
//
// # Endpoints
//
// [Issuer.Handler] serves every endpoint at the paths in [Paths]; each one
// is also available alone ([Issuer.TokenHandler], …) for routers that mount
// them one by one:
//
//   - token (POST /oauth/token): the client_credentials grant, and the
//     refresh_token grant when [RefreshConfig.Enabled], in the configured
//     [Dialect] ([OAuth2] by default);
//   - revocation (POST /oauth/revoke, RFC 7009) and introspection
//     (POST /oauth/introspect, RFC 7662), both client-authenticated;
//   - credentials (POST /oauth/credentials): a client that presents its own
//     access token as a bearer token gets a new secret;
//   - JWKS (GET /.well-known/jwks.json) and metadata
//     (GET /.well-known/oauth-authorization-server, RFC 8414).
//
// Errors are RFC 6749 §5.2 JSON bodies ([Error]); a failure of the store is
// 503 temporarily_unavailable, logged with its cause. Bad input is never
// answered with another 5xx.
//
// # Credentials
//
// [Issuer.CreateClient], [Issuer.RotateClient], [Issuer.DisableClient],
// [Issuer.EnableClient] and [Issuer.DeleteClient] manage clients from Go.
// Rotating, disabling or deleting a client makes every token issued to it
// before refused: tokens carry the client's generation, which those
// operations bump, and the [token.Verifier] compares them.
//
// # Security
//
// Client secrets, refresh tokens and opaque access tokens are stored only
// as hashes: SHA-256, or HMAC-SHA-256 with [Config.Pepper]. They carry 256
// random bits, so a fast hash is enough and keeps the token endpoint fast;
// comparison is constant time. An unknown client id is hashed against a
// dummy, so that it costs the same as a wrong secret, and both get the same
// invalid_client response, byte for byte.
//
// Failed client authentications are rate limited per client id and per
// address ([RateLimit]; 429 with Retry-After), in the store when it
// implements [store.RateLimiter] (shared by replicas), in memory
// otherwise. The address is the host of RemoteAddr unless
// [Config.ClientIP] says otherwise: set it behind a reverse proxy.
//
// Every endpoint that takes client credentials accepts only POST, refuses
// any URL query (secrets do not belong in URLs), bounds the body with
// [Config.MaxBodyBytes], refuses repeated parameters and two client
// authentication methods in one request, and answers with Cache-Control:
// no-store.
//
// # Dialects
//
// A [Dialect] decodes token requests and encodes responses, so that an
// API with its own wire format (camelCase fields, an expiry timestamp) can
// use the same issuer. The issuer enforces the method, query and body rules
// above before the dialect runs; a dialect must decode only from the body
// and the Authorization header, refuse repeated parameters and double
// client authentication, report the [AuthMethod] truthfully, never panic,
// and write error bodies that depend on the [*Error] alone.
package issuer
