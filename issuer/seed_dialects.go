package issuer

import "net/http"

// The wire formats of APIs that clients already speak, each declared as a
// [DialectSpec]. Each is a function rather than a variable, so that a
// program that adjusts its copy (a Realm, an error shape) changes nobody
// else's. What departs from RFC 6749 is said on each, with why: a provider
// that copies an API must answer its clients as they were written.
//
// A dialect is only the wire format. The rest of an API is configuration
// the examples under examples/ show: the paths (Config.Paths), the tokens'
// lifetime and format (Config.Kinds), refresh tokens (Config.Refresh).

// OffBlocks is the token request of the OffBlocks API:
//
//	POST /v1/auth/token  {"apiKey":"…","apiSecret":"…"}
//	200 {"token":"eyJ…","expiresAt":1700003600,"tokenType":"Bearer"}
//
// expiresAt is in Unix seconds, equal to the JWT's exp. Its tokens live 1 h
// (the default of the client kind). The API also lets a client replace its
// own key and secret (PUT) or delete them (DELETE) with its token: that is
// the endpoint at Paths.OwnCredentials, which reads the same two fields.
//
// Departures from RFC 6749, all the API's own: the body is JSON only
// (§4.4.2 asks for a form body); there is no grant_type (every request is
// client credentials); the credentials travel only in the body, under the
// API's names, and HTTP Basic is not accepted (§2.3.1 says a server MUST
// support it); the response names the token "token" and gives a timestamp
// instead of §5.1's expires_in; and since there is no HTTP authentication
// scheme to name, invalid_client carries no WWW-Authenticate challenge.
// Error bodies are §5.2's, which the API's documentation leaves open.
func OffBlocks() DialectSpec {
	return DialectSpec{
		Name:    "OffBlocks",
		Request: RequestFields{ClientID: "apiKey", ClientSecret: "apiSecret"},
		Response: []Member{
			{"token", FieldAccessToken},
			{"expiresAt", FieldExpiresAt},
			{"tokenType", FieldTokenType},
		},
	}
}

// Bloq is the wire format of the Bloq API: its token request, and the
// client keys its accounts manage with their account token.
//
//	POST   /auth/token  {"grantType":"clientCredentials","clientId":"…","clientSecret":"…"}
//	200 {"accessToken":"eyJ…","refreshToken":"pcr_…"}
//	POST   /auth/token  {"grantType":"refreshToken","refreshToken":"pcr_…"}
//	200 {"accessToken":"eyJ…","refreshToken":"pcr_…"}
//	POST   /users/me/client-keys             → 200 {"clientId":"…","clientSecret":"…"}, both hex
//	GET    /users/me/client-keys             → 200 [{"clientId":"…","createdAt":"…"},…]
//	DELETE /users/me/client-keys/{clientId}  → 204
//
// The rest of the API is configuration, as examples/bloq shows: the login
// (POST /auth/login with HTTP Basic, the account's username or email, is
// the endpoint at Paths.Login, which answers {"accessToken"} in this
// dialect, a 12 h account token), the paths, and refresh tokens with
// client credentials that are used without them (Config.Refresh.Enabled
// and AllowPublic; access tokens live 1 h and refresh tokens 1 year, the
// defaults). The API's page does not show a listing's members: clientId
// and createdAt are this declaration's choice.
//
// Departures from RFC 6749, all the API's own: the body is JSON only, with
// camelCase names and grant type values ("clientCredentials" for
// client_credentials); the credentials travel only in the body and HTTP
// Basic is not accepted, so the Authorization header is not read (Bloq's
// CLI sends its account token there beside the body's credentials); the
// response has no token_type or expires_in (§5.1 requires both); a refresh
// token comes with client credentials (§4.4.3 says it SHOULD NOT) and is
// used without client authentication (§6 requires it of a confidential
// client), which rotation and reuse detection make safer; and
// invalid_client carries no WWW-Authenticate challenge. Error bodies are
// {"code","message"}, what Bloq's CLI reads, with §5.2's codes as values.
// New keys' secrets are 256 random bits in hex (SecretHex), as the API's
// are, rather than "pcs_…".
func Bloq() DialectSpec {
	return DialectSpec{
		Name: "Bloq",
		Request: RequestFields{
			GrantType: "grantType", ClientID: "clientId", ClientSecret: "clientSecret", RefreshToken: "refreshToken",
		},
		GrantTypes: map[string]string{"clientCredentials": GrantClientCredentials, "refreshToken": GrantRefreshToken},
		Response: []Member{
			{"accessToken", FieldAccessToken},
			{"refreshToken", FieldRefreshToken},
		},
		Error: ErrorFields{Code: "code", Description: "message"},
		Keys: KeyFormat{
			CreatedStatus: http.StatusOK,
			Created:       []KeyMember{{"clientId", KeyClientID}, {"clientSecret", KeyClientSecret}},
			Listed:        []KeyMember{{"clientId", KeyClientID}, {"createdAt", KeyCreatedAt}},
			Array:         true,
			Secret:        SecretHex,
		},
	}
}

// DataCrunch is the token request of the DataCrunch API, which is RFC
// 6749's wire format with JSON bodies:
//
//	POST /v1/oauth2/token  {"grant_type":"client_credentials","client_id":"…","client_secret":"…"}
//	200 {"access_token":"…","token_type":"Bearer","expires_in":3600,"refresh_token":"…","scope":"fullAccess"}
//	POST /v1/oauth2/token  {"grant_type":"refresh_token","refresh_token":"…"}
//
// Form bodies and HTTP Basic are accepted too, so
// golang.org/x/oauth2/clientcredentials works unchanged.
//
// Departures from RFC 6749 are in what the API does, not in its wire
// format, and so are configuration: a refresh token comes with client
// credentials (§4.4.3 says it SHOULD NOT; set Kind.Refresh on the client
// kind or Config.Refresh.Enabled), and a refresh token is accepted without
// client authentication, since DataCrunch's Python SDK refreshes with it
// alone while its Go SDK sends the client's credentials too (§6 requires a
// confidential client to authenticate; set Config.Refresh.AllowPublic).
// JSON request bodies are the one departure of the dialect itself: the
// API's documentation sends them.
func DataCrunch() DialectSpec {
	return DialectSpec{
		Name: "DataCrunch",
		Request: RequestFields{
			GrantType: "grant_type", ClientID: "client_id", ClientSecret: "client_secret",
			RefreshToken: "refresh_token", Scope: "scope",
		},
		Form:  true,
		Basic: true,
		Response: []Member{
			{"access_token", FieldAccessToken},
			{"token_type", FieldTokenType},
			{"expires_in", FieldExpiresIn},
			{"refresh_token", FieldRefreshToken},
			{"scope", FieldScope},
		},
	}
}

// Generic is the token request of a common camelCase style:
//
//	POST /token  {"clientId":"…","secret":"…"}
//	200 {"accessToken":"4172bbf1-0890-41c7-b0db-477095a288b6","tokenType":"Bearer","expiresIn":1800}
//
// The API it copies issues opaque tokens in UUID form that live 30
// minutes: configure the client kind with FormatUUID and a TTL of 30
// minutes. A UUID v4 carries 122 random bits, below the 128 RFC 6749
// §10.10 asks for, which is why it is not the default format.
//
// Departures from RFC 6749, all the API's own: the body is JSON only,
// there is no grant_type (every request is client credentials), the
// credentials travel only in the body under camelCase names and HTTP Basic
// is not accepted, the response members are camelCase, and invalid_client
// carries no WWW-Authenticate challenge. Error bodies are §5.2's.
func Generic() DialectSpec {
	return DialectSpec{
		Name:    "generic",
		Request: RequestFields{ClientID: "clientId", ClientSecret: "secret"},
		Response: []Member{
			{"accessToken", FieldAccessToken},
			{"tokenType", FieldTokenType},
			{"expiresIn", FieldExpiresIn},
		},
	}
}
