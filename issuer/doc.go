// Package issuer is the authorization server: it authenticates clients,
// mints access (and optionally refresh) tokens, manages client credentials
// and serves revocation, introspection, the JWKS and RFC 8414 metadata.
//
//	st := memory.New()
//	iss, err := issuer.New(issuer.Config{Issuer: "https://auth.example.com", Store: st, Scopes: []string{"read"}})
//	c, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{})
//	mux.Handle("/", iss.Handler())
//	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier()})
//
// The defaults are safe: ES256 signing keys generated in the store on first
// start (and shared by every replica over the same store), 1 h JWT client
// tokens (RFC 9068), 12 h JWT account tokens, no refresh tokens, the OAuth
// 2.0 wire format.
//
// # The engine
//
// An Issuer is an engine over three registries, each entry declared in the
// file that implements it:
//
//   - token kinds ([Kind]): a kind's lifetime, format (JWT, opaque "pca_",
//     or opaque in UUID v4 form), audience and refresh policy. "client"
//     and "account" always exist; [Config.Kinds] changes them or adds
//     kinds. Every token, whatever the grant or endpoint, is minted by one
//     function from a kind and a grant, which then calls [Hooks.TokenIssued];
//   - grant types: client_credentials, and refresh_token when a kind issues
//     refresh tokens;
//   - endpoints: [Issuer.Handler], [Issuer.Routes] (which the adapters'
//     Mount functions use), the defaults of [Paths] and the RFC 8414
//     metadata all derive from one list. Adding an endpoint is one file and
//     one line in that list.
//
// # Endpoints
//
//   - token (POST /oauth/token): the grants, in the configured [Dialect]
//     ([OAuth2] by default);
//   - revocation (POST /oauth/revoke, RFC 7009) and introspection
//     (POST /oauth/introspect, RFC 7662), both client-authenticated; a
//     client acts on its own tokens only (see [ClientSpec.IntrospectAny]),
//     and anything else is 200 (revocation) or {"active":false};
//   - credentials (POST, off unless [Paths].Credentials is set, for
//     example to [DefaultCredentialsPath]): a client that presents its own
//     access token as a bearer token gets a new secret. Whoever holds a
//     valid access token of a client can therefore rotate it and lock the
//     client out, as in the APIs this endpoint copies: a resource server
//     that receives the tokens can too, which is why it is off by default.
//     With an Idempotency-Key header a rotation is safe to retry (see
//     [Config.RotationRetryWindow]);
//   - own credentials (PUT and DELETE, off unless [Paths].OwnCredentials
//     is set): a client that presents its access token replaces its id and
//     secret with ones it chose, or deletes them, as the OffBlocks API
//     does;
//   - JWKS (GET /.well-known/jwks.json, cacheable for 5 minutes) and
//     metadata (GET /.well-known/oauth-authorization-server, RFC 8414;
//     for an issuer with a path, also at the host-root location RFC 8414
//     §3 prescribes, see [Issuer.WellKnownRoutes]);
//   - login (POST /account/login): an account logs in with HTTP Basic
//     (username or email, and password, as RFC 7617 sends them) and gets an
//     account token in the dialect's token response; the body is ignored;
//   - account keys (/account/keys), with an account token: POST makes a
//     client key owned by the account (201, the secret shown once), GET
//     lists them without secrets, DELETE /account/keys/{id} deletes one
//     (204). Another account's key answers exactly like an unknown one
//     (404), and a client token never gets in.
//   - OpenAPI (GET, off unless [Paths].OpenAPI is set, e.g.
//     "/openapi.json"): the OpenAPI 3.1 description of the enabled
//     endpoints, which [Issuer.OpenAPI] also returns;
//   - changes (GET or POST /oauth/changes, when the store implements
//     [store.ChangeLog]): the change feed, see below.
//
// # Change feed
//
// A Portcullis extension (no RFC defines one), for resource servers that
// verify tokens through the JWKS and share nothing else with the issuer:
// the store's change log, read with a cursor, so that rotations and
// revocations reach them (middleware.FollowConfig follows it). GET
// ?after=<cursor>&limit=<n> with HTTP Basic, or POST with after and limit
// in the body and any client authentication the token endpoint takes;
// limit defaults to [DefaultChangesLimit] and is at most [MaxChangesLimit],
// anything else is 400 invalid_request. Only a client made with
// [ClientSpec.IntrospectAny] may read it (others: 403
// unauthorized_client), throttled like introspection
// (RateLimit.PerClientCalls). The answer, never cached, is
//
//	{"changes":[{"seq":7,"kind":"client","id":"…","generation":12,"at":…,"exp":…},
//	            {"seq":8,"kind":"revoked","id":"…","at":…,"exp":…}],
//	 "cursor":8,"more":false}
//
// kind is "client" or "account" (generation is the new one, -1 when it was
// deleted) or "revoked" (id is a jti, or "family:<id>" for a refresh
// family); exp is when the entry stops mattering: the revoked token's
// expiry, or for a client or account the change's time plus the longest
// token lifetime plus Leeway. A cursor below what was trimmed, or one the
// log never handed out (an issuer restarted over a new memory store), is
// answered {"changes":[],"cursor":N,"more":false,"resync":true}: drop what
// was derived from the feed and read on from N. The sweep
// ([Config.SweepInterval], [Issuer.Sweep]) trims the log to the longest
// token lifetime plus Leeway plus 10 minutes, so that a replay from 0
// always learns of every change that still matters. It is listed in the
// metadata as portcullis_changes_endpoint.
//
// Errors are RFC 6749 §5.2 JSON bodies ([Error]); the bearer-token
// endpoints (credentials, account keys) answer as a guard does (RFC 6750).
// A method an endpoint does not take is 405 with Allow; an oversized body
// is 400 invalid_request; a failure of the store, or a store call that
// outlasts [Config.StoreTimeout] or the request's [Config.RequestTimeout],
// is 503 temporarily_unavailable with Retry-After, logged with the
// operation and its cause. Bad input is never
// answered with a 5xx.
//
// # Credentials and accounts
//
// [Issuer.CreateClient], [Issuer.RotateClient], [Issuer.DisableClient],
// [Issuer.EnableClient] and [Issuer.DeleteClient] manage clients from Go.
// Rotating, disabling or deleting a client makes every token issued to it
// before refused, refresh tokens included: tokens carry the client's
// generation, which those operations bump, and the verifier
// ([middleware.LocalVerifier]) compares them. This issuer's own
// [Issuer.Verifier] learns it at once; other replicas within
// [Config.StateTTL] (at once with a store that pushes events, see
// [Issuer.Watch]). Opaque tokens are checked against the store on every use.
// The token endpoint caches the client it authenticates likewise
// ([Config.ClientCacheTTL], StateTTL by default): another replica may
// accept the old secret until then, never a new secret late.
//
// [Issuer.CreateAccount], [Issuer.SetAccountPassword],
// [Issuer.DisableAccount], [Issuer.EnableAccount], [Issuer.DeleteAccount],
// [Issuer.GetAccount] and [Issuer.FindAccount] manage accounts. Passwords
// are argon2id hashes in PHC string format ([PasswordConfig]); a password
// change bumps the account's generation, so every account token issued
// before dies. A client key names its account in its tokens: a disabled or
// deleted account's keys stop working, and deleting an account deletes its
// keys.
//
// # Hooks
//
// [Config.Hooks] are called from the one mint path and the one
// authentication path, for metrics and audit logs: token issued,
// authentication failed (with the reason), credentials changed, token
// revoked, refresh token reused, login. No secret or token reaches them.
//
// # Refresh tokens
//
// Off by default, since RFC 6749 §4.4.3 advises against them for client
// credentials. When enabled, they are opaque "pcr_" strings stored hashed,
// single use: each refresh returns a new one of the same family, and
// presenting a used one revokes the family (RFC 9700). A client must
// authenticate to refresh unless [RefreshConfig.AllowPublic].
//
// # Security
//
// Client secrets, refresh tokens and opaque access tokens are stored only
// as hashes: SHA-256, or HMAC-SHA-256 with [Config.Pepper]. They carry 256
// random bits, so a fast hash is enough and keeps the token endpoint fast;
// comparison is constant time. An unknown client id is hashed against a
// dummy, so that it costs the same as a wrong secret, and unknown id, wrong
// secret and disabled client all get the same invalid_client response,
// byte for byte.
//
// Failed client authentications and logins are rate limited per client id
// or login and per address ([RateLimit]; 429 with Retry-After), in the store when it
// implements [store.RateLimiter] (shared by replicas), in memory
// otherwise. Over a shared store each replica trusts the counts it last
// read or wrote for [RateLimit.CountCacheTTL], so that a client that does
// not fail costs no store round trip for the check; the price is that an
// attacker spread over R replicas gets at most R − 1 failures more than
// the limit per counter and window. The address is the host of RemoteAddr unless
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
// above before the dialect runs and sets the no-store headers; a dialect
// must decode only from the body and the Authorization header, refuse
// repeated parameters and double client authentication, report the
// [AuthMethod] truthfully, never panic, and write error bodies that depend
// on the [*Error] alone. Revocation and introspection always speak plain
// OAuth 2.0.
//
// A [DialectSpec] declares a wire format as data and keeps that contract
// whatever it declares; [OffBlocks], [Bloq], [DataCrunch] and [Generic] are
// declarations of it, each documenting where it departs from RFC 6749 and
// why. Its error shape also applies to the login, account-keys and
// own-credentials endpoints, and its [KeyFormat] (DialectSpec.Keys)
// declares the account-keys endpoint's answers: the status and members of
// a created key, the members of a listed one, an object or a top-level
// array for the listing, and "pcs_…" or hex secrets.//
// # OpenAPI
//
// [Issuer.OpenAPI] describes the enabled endpoints as an OpenAPI 3.1
// document generated from the configuration, so that it cannot drift from
// what the handlers do: the paths, the grants and their wire values, the
// token kinds' lifetimes and formats, the scopes, and the dialect's fields,
// bodies (JSON, form), client authentication (HTTP Basic as the security
// scheme "clientBasic", client_secret_post as body members, since OpenAPI
// has no scheme for credentials in a body), token response, error shape and
// client-key answers. Each operation lists its error responses with their
// shape and headers (WWW-Authenticate, Retry-After). Serve it with
// [Paths].OpenAPI. The examples commit theirs as openapi.json, and their
// tests check every exchange of their flows against it.
package issuer
