package issuer_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/openapitest"
	"github.com/portcullis/portcullis/issuer"
)

// apiFlow is an issuer with every endpoint on, and a checker of its
// exchanges against its own OpenAPI document.
type apiFlow struct {
	*env
	c *openapitest.Checker
}

func newAPIFlow(t *testing.T, withFaults bool, mod func(*issuer.Config)) *apiFlow {
	t.Helper()
	e := newEnv(t, withFaults, func(c *issuer.Config) {
		c.Scopes = []string{"read", "write"}
		c.Refresh = issuer.RefreshConfig{Enabled: true}
		c.Paths = issuer.Paths{OwnCredentials: "/oauth/own", OpenAPI: "/openapi.json", Credentials: issuer.DefaultCredentialsPath}
		c.Passwords = fastPasswords
		if mod != nil {
			mod(c)
		}
	})
	c := openapitest.New(t, e.iss.OpenAPI())
	c.Client = openapitest.HandlerClient(e.iss.Handler())
	return &apiFlow{env: e, c: c}
}

// request builds a request to the issuer; body is sent as ct.
func request(method, path, ct, body string, header ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r, _ = http.NewRequest(method, testIssuer+path, nil)
	} else {
		r, _ = http.NewRequest(method, testIssuer+path, strings.NewReader(body))
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

const formCT = "application/x-www-form-urlencoded"

func want(t *testing.T, what string, r openapitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
}

func member(t *testing.T, r openapitest.Response, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	s, _ := m[name].(string)
	return s
}

// TestOpenAPIFlows drives every endpoint of an OAuth 2.0 issuer through
// its flows, successes and refusals, and checks each exchange against the
// issuer's own document.
func TestOpenAPIFlows(t *testing.T) {
	f := newAPIFlow(t, false, nil)
	c := f.c
	id, secret := f.client(issuer.ClientSpec{})

	// The documents.
	doc := c.Do(request("GET", "/openapi.json", "", ""))
	want(t, "openapi", doc, 200)
	if doc.Body != string(f.iss.OpenAPI()) {
		t.Error("the served document differs from Issuer.OpenAPI")
	}
	want(t, "head openapi", c.Do(request("HEAD", "/openapi.json", "", "")), 200)
	want(t, "metadata", c.Do(request("GET", "/.well-known/oauth-authorization-server", "", "")), 200)
	want(t, "jwks", c.Do(request("GET", "/.well-known/jwks.json", "", "")), 200)
	want(t, "head jwks", c.Do(request("HEAD", "/.well-known/jwks.json", "", "")), 200)

	// The token endpoint: both client authentications, both bodies.
	tok := c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, secret)))
	want(t, "token, Basic", tok, 200)
	access, refresh := member(t, tok, "access_token"), member(t, tok, "refresh_token")
	want(t, "token, JSON body", c.Do(request("POST", "/oauth/token", "application/json",
		`{"grant_type":"client_credentials","client_id":"`+id+`","client_secret":"`+secret+`","scope":"read"}`)), 200)
	want(t, "token, form body", c.Do(request("POST", "/oauth/token", formCT,
		form("grant_type", "client_credentials", "client_id", id, "client_secret", secret))), 200)
	want(t, "refresh", c.Do(request("POST", "/oauth/token", formCT,
		form("grant_type", "refresh_token", "refresh_token", refresh), "Authorization", basic(id, secret))), 200)

	// Its refusals.
	r := c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, "wrong")))
	want(t, "wrong secret", r, 401)
	want(t, "unknown scope", c.Do(request("POST", "/oauth/token", formCT,
		form("grant_type", "client_credentials", "scope", "admin"), "Authorization", basic(id, secret))), 400)
	want(t, "refresh token reused", c.Do(request("POST", "/oauth/token", formCT,
		form("grant_type", "refresh_token", "refresh_token", refresh), "Authorization", basic(id, secret))), 400)
	// The reuse revoked the family's access tokens too (RFC 9700
	// §4.14.2): go on with a token of a new family.
	fresh := c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, secret)))
	want(t, "token after the reuse", fresh, 200)
	access = member(t, fresh, "access_token")
	want(t, "two authentications", c.Do(request("POST", "/oauth/token", formCT,
		form("grant_type", "client_credentials", "client_secret", secret), "Authorization", basic(id, secret))), 400)
	want(t, "unknown grant type", c.Nonconforming(request("POST", "/oauth/token", formCT,
		form("grant_type", "password"), "Authorization", basic(id, secret))), 400)
	want(t, "no grant type", c.Nonconforming(request("POST", "/oauth/token", formCT,
		form("client_id", id, "client_secret", secret))), 400)
	want(t, "a number in JSON", c.Nonconforming(request("POST", "/oauth/token", "application/json",
		`{"grant_type":"client_credentials","client_id":"`+id+`","client_secret":1}`)), 400)
	want(t, "no credentials", c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"))), 401)

	// Introspection and revocation.
	in := c.Do(request("POST", "/oauth/introspect", formCT, form("token", access), "Authorization", basic(id, secret)))
	if want(t, "introspect", in, 200); !strings.Contains(in.Body, `"active":true`) {
		t.Errorf("introspection %s", in.Body)
	}
	want(t, "introspect unknown", c.Do(request("POST", "/oauth/introspect", "application/json",
		`{"token":"nonsense","client_id":"`+id+`","client_secret":"`+secret+`"}`)), 200)
	want(t, "introspect, wrong secret", c.Do(request("POST", "/oauth/introspect", formCT, form("token", access), "Authorization", basic(id, "x"))), 401)
	want(t, "introspect nothing", c.Nonconforming(request("POST", "/oauth/introspect", formCT, "", "Authorization", basic(id, secret))), 400)
	want(t, "revoke refresh", c.Do(request("POST", "/oauth/revoke", formCT, form("token", refresh), "Authorization", basic(id, secret))), 200)

	// Rotation with the client's token.
	want(t, "rotate without a token", c.Nonconforming(request("POST", "/oauth/credentials", "", "")), 401)
	want(t, "rotate with a malformed header", c.Do(request("POST", "/oauth/credentials", "", "", "Authorization", "Bearer a b")), 400)
	want(t, "rotate with a bad token", c.Do(request("POST", "/oauth/credentials", "", "", "Authorization", "Bearer nonsense")), 401)
	rot := c.Do(request("POST", "/oauth/credentials", "", "", "Authorization", "Bearer "+access))
	want(t, "rotate", rot, 200)
	secret = member(t, rot, "client_secret")
	want(t, "rotate with a dead token", c.Do(request("POST", "/oauth/credentials", "", "", "Authorization", "Bearer "+access)), 401)

	// The client's own credentials.
	access = member(t, c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, secret))), "access_token")
	newSecret := strings.Repeat("s", 32)
	want(t, "own: a weak secret", c.Nonconforming(request("PUT", "/oauth/own", "application/json",
		`{"client_id":"mine","client_secret":"short"}`, "Authorization", "Bearer "+access)), 400)
	want(t, "own: replace", c.Do(request("PUT", "/oauth/own", formCT,
		form("client_id", "mine", "client_secret", newSecret), "Authorization", "Bearer "+access)), 204)
	want(t, "own: the old token", c.Do(request("DELETE", "/oauth/own", "", "", "Authorization", "Bearer "+access)), 401)
	access = member(t, c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic("mine", newSecret))), "access_token")
	other, _ := f.client(issuer.ClientSpec{})
	want(t, "own: a taken id", c.Do(request("PUT", "/oauth/own", "application/json",
		`{"client_id":"`+other+`","client_secret":"`+newSecret+`"}`, "Authorization", "Bearer "+access)), 409)
	want(t, "own: delete", c.Do(request("DELETE", "/oauth/own", "", "", "Authorization", "Bearer "+access)), 204)

	// An account: login and its keys.
	if _, err := f.iss.CreateAccount(t.Context(), issuer.AccountSpec{Username: "ada", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	login := func(user, pw string) *http.Request {
		r := request("POST", "/account/login", "", "")
		r.SetBasicAuth(user, pw)
		return r
	}
	want(t, "login, wrong password", c.Do(login("ada", "wrong password!")), 401)
	want(t, "login without credentials", c.Nonconforming(request("POST", "/account/login", "", "")), 401)
	lr := c.Do(login("ada", "correct horse battery"))
	want(t, "login", lr, 200)
	account := "Bearer " + member(t, lr, "access_token")
	made := c.Do(request("POST", "/account/keys", "", "", "Authorization", account))
	want(t, "make a key", made, 201)
	want(t, "make a named key", c.Do(request("POST", "/account/keys", "application/json", `{"name":"ci"}`, "Authorization", account)), 201)
	want(t, "make a key, bad name", c.Do(request("POST", "/account/keys", formCT, form("name", "tab\there"), "Authorization", account)), 400)
	want(t, "list the keys", c.Do(request("GET", "/account/keys", "", "", "Authorization", account)), 200)
	key := member(t, made, "client_id")
	want(t, "delete a key", c.Do(request("DELETE", "/account/keys/"+key, "", "", "Authorization", account)), 204)
	want(t, "delete it again", c.Do(request("DELETE", "/account/keys/"+key, "", "", "Authorization", account)), 404)
	want(t, "keys with a client token", c.Do(request("GET", "/account/keys", "", "", "Authorization", "Bearer "+access)), 401)
	want(t, "keys without a token", c.Nonconforming(request("GET", "/account/keys", "", "")), 401)
}

// TestOpenAPILimits checks the answers of the rate limits and of a store
// that fails against the document.
func TestOpenAPILimits(t *testing.T) {
	f := newAPIFlow(t, true, func(c *issuer.Config) {
		c.RateLimit = issuer.RateLimit{PerClient: 1, PerClientCalls: 1}
		c.ClientCacheTTL = -1 // "store down" must reach the store
	})
	c := f.c
	id, secret := f.client(issuer.ClientSpec{})
	wrong := request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, "wrong"))
	want(t, "a wrong secret", c.Do(wrong), 401)
	want(t, "too many", c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, secret))), 429)

	id, secret = f.client(issuer.ClientSpec{})
	want(t, "introspect", c.Do(request("POST", "/oauth/introspect", formCT, form("token", "x"), "Authorization", basic(id, secret))), 200)
	want(t, "introspect again", c.Do(request("POST", "/oauth/introspect", formCT, form("token", "x"), "Authorization", basic(id, secret))), 429)

	f.fault.set("GetClient", errInjected)
	want(t, "token, store down", c.Do(request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, secret))), 503)
	want(t, "revoke, store down", c.Do(request("POST", "/oauth/revoke", formCT, form("token", "x"), "Authorization", basic(id, secret))), 503)
}

// TestOpenAPIDocuments validates the document of each shipped dialect and
// of other configurations, and checks what it says of them.
func TestOpenAPIDocuments(t *testing.T) {
	custom := issuer.DialectSpec{
		Name:       "custom",
		Request:    issuer.RequestFields{GrantType: "type", ClientID: "key", ClientSecret: "secret", RefreshToken: "rt"},
		GrantTypes: map[string]string{"cc": issuer.GrantClientCredentials, "ccAlias": issuer.GrantClientCredentials, "rt": issuer.GrantRefreshToken},
		Response:   []issuer.Member{{Name: "jwt", Field: issuer.FieldAccessToken}, {Name: "rt", Field: issuer.FieldRefreshToken}},
		Error:      issuer.ErrorFields{Code: "err"},
		Keys:       issuer.KeyFormat{List: "items", Created: []issuer.KeyMember{{Name: "id", Field: issuer.KeyClientID}, {Name: "s", Field: issuer.KeyClientSecret}}},
	}
	for _, tc := range []struct {
		name string
		mod  func(*issuer.Config)
		// has and lacks are strings the document must and must not hold.
		has, lacks []string
	}{
		{"default", nil,
			[]string{`"/oauth/token"`, `"clientBasic"`, `"const": "client_credentials"`, `"/account/keys/{client_id}"`},
			[]string{`"/openapi.json"`, `"RefreshTokenRequest"`, `"refresh_token": {`, `"/oauth/own"`}},
		{"OffBlocks", func(c *issuer.Config) {
			c.Dialect = issuer.OffBlocks()
			c.Paths = issuer.Paths{Token: "/v1/auth/token", OwnCredentials: "/v1/auth/credentials"}
		}, []string{`"apiKey"`, `"expiresAt"`, `"/v1/auth/credentials"`, `"minLength": 32`},
			[]string{`"grant_type"`, `"refreshToken"`}},
		{"Bloq", func(c *issuer.Config) {
			c.Dialect = issuer.Bloq()
			c.Refresh = issuer.RefreshConfig{Enabled: true, AllowPublic: true}
		}, []string{`"const": "clientCredentials"`, `"const": "refreshToken"`, `"message"`, `"/account/keys/{clientId}"`, `"anyOf"`},
			[]string{`"grant_type"`}},
		{"DataCrunch", func(c *issuer.Config) { c.Dialect = issuer.DataCrunch(); c.Scopes = []string{"fullAccess"} },
			[]string{`"application/x-www-form-urlencoded"`, `fullAccess`},
			nil},
		{"generic", func(c *issuer.Config) {
			c.Dialect = issuer.Generic()
			c.Kinds = []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatUUID, TTL: 30 * time.Minute}}
			selfRotation(c) // an endpoint that takes client tokens
		}, []string{`"bearerFormat": "UUID"`, `live 30 min`, `"expiresIn"`}, nil},
		{"custom", func(c *issuer.Config) { c.Dialect = custom; c.Refresh.Enabled = true },
			[]string{`"cc"`, `"ccAlias"`, `"err"`, `"items"`}, nil},
		{"undeclared dialect", func(c *issuer.Config) { c.Dialect = ownDialect{} },
			[]string{`"*/*"`, `wire format of its own`}, nil},
		{"nothing but the token endpoint", func(c *issuer.Config) {
			c.Paths = issuer.Paths{Revocation: "-", Introspection: "-", Credentials: "-", JWKS: "-",
				Metadata: "-", Login: "-", AccountKeys: "-", Changes: "-"}
			c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: -1}
		}, []string{`"/oauth/token"`}, []string{`"/account/login"`, `"accountToken"`, `"429"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false, tc.mod)
			doc := e.iss.OpenAPI()
			openapitest.New(t, doc)
			if !bytes.Equal(doc, e.iss.OpenAPI()) {
				t.Error("two calls gave two documents")
			}
			for _, s := range tc.has {
				if !strings.Contains(string(doc), s) {
					t.Errorf("the document lacks %s", s)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(string(doc), s) {
					t.Errorf("the document holds %s", s)
				}
			}
		})
	}
}

// ownDialect is a Dialect that is not declared as data.
type ownDialect struct{ issuer.OAuth2 }

// TestOpenAPIOff checks that the document is not served unless a path is
// set, and that the metadata names it when it is.
func TestOpenAPIOff(t *testing.T) {
	e := newEnv(t, false, nil)
	if rec := e.do(req{method: "GET", path: "/openapi.json"}); rec.Code != 404 {
		t.Errorf("served by default: %d", rec.Code)
	}
	if p := e.iss.Paths().OpenAPI; p != "-" {
		t.Errorf("Paths().OpenAPI = %q by default", p)
	}
	if rec := e.do(req{method: "GET", path: "/.well-known/oauth-authorization-server"}); strings.Contains(rec.Body.String(), "openapi") {
		t.Errorf("the metadata names a document that is not served: %s", rec.Body)
	}
	on := newEnv(t, false, func(c *issuer.Config) { c.Paths.OpenAPI = "/api.json" })
	rec := on.do(req{method: "GET", path: "/.well-known/oauth-authorization-server"})
	if !strings.Contains(rec.Body.String(), `"portcullis_openapi_uri":"`+testIssuer+`/api.json"`) {
		t.Errorf("metadata %s", rec.Body)
	}
	rec = on.do(req{method: "POST", path: "/api.json"})
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestOpenAPIDPoPAndAssertions drives the token endpoint with DPoP
// proofs (server nonces required) and private_key_jwt, and introspects a
// bound token, checking each exchange against the document: it must
// describe the DPoP header, use_dpop_nonce with its DPoP-Nonce, token_type
// DPoP, cnf, and client_assertion.
func TestOpenAPIDPoPAndAssertions(t *testing.T) {
	f := newAPIFlow(t, false, func(c *issuer.Config) {
		c.PrivateKeyJWT.Enabled = true
		c.DPoP = issuer.DPoPConfig{Enabled: true, RequireNonce: true, NonceSecret: []byte("a DPoP nonce secret of 32+ bytes!")}
	})
	c := f.c
	doc := string(f.iss.OpenAPI())
	for _, s := range []string{`"name": "DPoP"`, `use_dpop_nonce`, `"DPoP-Nonce"`, `"client_assertion"`, `"const": "` + issuer.AssertionTypeJWTBearer + `"`, `"jkt"`} {
		if !strings.Contains(doc, s) {
			t.Errorf("the document lacks %s", s)
		}
	}
	id, secret := f.client(issuer.ClientSpec{})
	k := newAssertionKey(t, "", "ES256")
	proof := func(nonce string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": rand.Text(), "htm": "POST",
			"htu": testIssuer + "/oauth/token", "iat": f.clock.Now().Unix(), "nonce": nonce})
		tok.Header["typ"] = "dpop+jwt"
		tok.Header["jwk"] = k.jwk
		s, err := tok.SignedString(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tokenReq := func(p string) *http.Request {
		return request("POST", "/oauth/token", formCT, form("grant_type", "client_credentials"), "Authorization", basic(id, secret), "DPoP", p)
	}
	first := c.Do(tokenReq(proof("")))
	want(t, "a proof without a nonce", first, 400)
	nonce := first.Header.Get("DPoP-Nonce")
	if member(t, first, "error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("a proof without a nonce: %+v", first)
	}
	want(t, "a bad proof", c.Do(tokenReq("not a proof")), 400)
	bound := c.Do(tokenReq(proof(nonce)))
	want(t, "a proof with the nonce", bound, 200)
	if member(t, bound, "token_type") != "DPoP" {
		t.Errorf("token_type %q", member(t, bound, "token_type"))
	}
	in := c.Do(request("POST", "/oauth/introspect", formCT, form("token", member(t, bound, "access_token")), "Authorization", basic(id, secret)))
	if want(t, "introspect a bound token", in, 200); !strings.Contains(in.Body, `"cnf":{"jkt":`) {
		t.Errorf("introspection %s", in.Body)
	}

	keyed, _ := f.client(issuer.ClientSpec{JWKS: jwks(k)})
	want(t, "private_key_jwt", c.Do(request("POST", "/oauth/token", formCT, assertionForm(k.sign(t, claimsFor(keyed, f.clock.Now()))))), 200)
	want(t, "private_key_jwt, introspection", c.Do(request("POST", "/oauth/introspect", formCT,
		form("token", "x", "client_assertion_type", issuer.AssertionTypeJWTBearer, "client_assertion", k.sign(t, claimsFor(keyed, f.clock.Now()))))), 200)
}
