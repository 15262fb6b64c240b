package issuer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestNewRejectsBadConfig(t *testing.T) {
	st := memory.New()
	for name, cfg := range map[string]issuer.Config{
		"no issuer":       {Store: st},
		"no store":        {Issuer: testIssuer},
		"trailing slash":  {Issuer: testIssuer + "/", Store: st},
		"relative":        {Issuer: "auth.example.com", Store: st},
		"ftp":             {Issuer: "ftp://auth.example.com", Store: st},
		"query":           {Issuer: testIssuer + "?a=b", Store: st},
		"fragment":        {Issuer: testIssuer + "#x", Store: st},
		"user info":       {Issuer: "https://u:p@auth.example.com", Store: st},
		"algorithm":       {Issuer: testIssuer, Store: st, Algorithm: "none"},
		"format":          {Issuer: testIssuer, Store: st, Format: "paper"},
		"negative ttl":    {Issuer: testIssuer, Store: st, AccessTokenTTL: -time.Second},
		"short rotation":  {Issuer: testIssuer, Store: st, KeyRotation: time.Minute},
		"bad scope":       {Issuer: testIssuer, Store: st, Scopes: []string{"a b"}},
		"empty audience":  {Issuer: testIssuer, Store: st, Audience: []string{""}},
		"duplicate paths": {Issuer: testIssuer, Store: st, Paths: issuer.Paths{Revocation: "/oauth/token"}},
		"relative path":   {Issuer: testIssuer, Store: st, Paths: issuer.Paths{Token: "token"}},
	} {
		if _, err := issuer.New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	if _, err := issuer.New(issuer.Config{Issuer: "http://localhost:8080/auth", Store: st, Logger: quietLogger()}); err != nil {
		t.Errorf("http localhost issuer with a path: %v", err)
	}
}

func TestClientCredentialsSuccess(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256, token.HS256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) {
				c.Algorithm = alg
				c.Scopes = []string{"read", "write", "admin"}
			})
			id, secret := e.client(issuer.ClientSpec{Scopes: []string{"read", "write"}})
			rec := e.do(req{body: form("grant_type", "client_credentials", "scope", "read"),
				header: map[string]string{"Authorization": basic(id, secret)}})
			for k, v := range noStoreJSON {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			tr := decodeToken(t, rec)
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.Scope != "read" || tr.RefreshToken != "" {
				t.Errorf("response %+v, want Bearer, 3600, scope read, no refresh token", tr)
			}
			p, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			c, _ := e.st.GetClient(t.Context(), id)
			want := &middleware.Principal{
				Kind: token.KindClient, Subject: id, ClientID: id, Scopes: []string{"read"},
				Audience: []string{testIssuer}, TokenID: p.TokenID, Generation: c.Generation,
				IssuedAt: epoch, ExpiresAt: epoch.Add(time.Hour), Issuer: testIssuer,
			}
			if p.TokenID == "" || !principalEqual(p, want) {
				t.Errorf("principal\n got %+v\nwant %+v", p, want)
			}
			// The header names the key and the RFC 9068 type.
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tr.AccessToken, ".")[0])
			var h map[string]any
			json.Unmarshal(hdr, &h)
			if h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] == "" {
				t.Errorf("JWT header %v", h)
			}
		})
	}
}

func principalEqual(a, b *middleware.Principal) bool {
	return a.Kind == b.Kind && a.Subject == b.Subject && a.ClientID == b.ClientID &&
		slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Audience, b.Audience) &&
		a.TokenID == b.TokenID && a.Generation == b.Generation && a.IssuedAt.Equal(b.IssuedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Issuer == b.Issuer && a.Opaque == b.Opaque
}

func TestClientCredentialsBodyAuth(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Scopes = []string{"read"} })
	id, secret := e.client(issuer.ClientSpec{})
	for name, r := range map[string]req{
		"form": {body: form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)},
		"json": {ct: "application/json; charset=utf-8",
			body: `{"grant_type":"client_credentials","client_id":"` + id + `","client_secret":"` + secret + `"}`},
		"basic plus matching client_id": {body: form("grant_type", "client_credentials", "client_id", id),
			header: map[string]string{"Authorization": basic(id, secret)}},
		"form charset": {ct: "application/x-www-form-urlencoded; charset=UTF-8",
			body: form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)},
	} {
		t.Run(name, func(t *testing.T) {
			tr := decodeToken(t, e.do(r))
			if tr.Scope != "read" {
				t.Errorf("scope %q, want the server's scopes", tr.Scope)
			}
			if _, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestBasicFormEncoded checks RFC 6749 §2.3.1: id and secret are
// form-encoded before Basic encoding, so reserved characters survive.
func TestBasicFormEncoded(t *testing.T) {
	e := newEnv(t, false, nil)
	// Reserved characters in both: ':' separates id from secret, '%' and
	// '+' mean something in form encoding.
	id, secret := "svc:1%2B+x", "p@ss:wörd+ &=%/"
	if _, _, err := e.iss.CreateClient(t.Context(), issuer.ClientSpec{ID: id, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	decodeToken(t, e.do(req{body: form("grant_type", "client_credentials"),
		header: map[string]string{"Authorization": basic(id, secret)}}))
	// Sent without form encoding, the id's ':' ends it early and '+'
	// decodes to a space: authentication fails.
	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": raw}})
	if rec.Code == http.StatusOK {
		t.Errorf("unencoded Basic credentials with reserved characters were accepted")
	}
}

func TestTokenErrorsOnTheWire(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Scopes = []string{"read", "write"} })
	id, secret := e.client(issuer.ClientSpec{Scopes: []string{"read"}})
	onlyRefresh, orSecret := e.client(issuer.ClientSpec{GrantTypes: []string{"refresh_token"}})
	disabled, dSecret := e.client(issuer.ClientSpec{})
	if err := e.iss.DisableClient(t.Context(), disabled); err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": basic(id, secret)}
	cc := form("grant_type", "client_credentials")
	bad := func(desc string) string { return errBody("invalid_request", desc) }
	badClient := errBody("invalid_client", "client authentication failed")
	basicChallenge := with(noStoreJSON, "WWW-Authenticate", `Basic realm="oauth2"`)
	for _, tc := range []struct {
		name    string
		r       req
		status  int
		headers map[string]string
		body    string
	}{
		{"GET", req{method: http.MethodGet, header: auth}, 405, with(noStoreJSON, "Allow", "POST"), bad("the method must be POST")},
		{"PUT", req{method: http.MethodPut, body: cc, header: auth}, 405, with(noStoreJSON, "Allow", "POST"), bad("the method must be POST")},
		{"secret in query", req{path: "/oauth/token?client_secret=" + secret, body: cc, header: auth}, 400, noStoreJSON,
			bad("parameters must be sent in the request body, not in the URL")},
		{"grant in query", req{path: "/oauth/token?grant_type=client_credentials", body: "", header: auth}, 400, noStoreJSON,
			bad("parameters must be sent in the request body, not in the URL")},
		{"text/plain", req{ct: "text/plain", body: cc, header: auth}, 400, noStoreJSON,
			bad("Content-Type must be application/x-www-form-urlencoded or application/json")},
		{"no content type", req{ct: "-", body: cc, header: auth}, 400, noStoreJSON, bad("missing Content-Type")},
		{"malformed content type", req{ct: "application/json; =", body: cc, header: auth}, 400, noStoreJSON, bad("malformed Content-Type")},
		{"latin1", req{ct: "application/x-www-form-urlencoded; charset=latin1", body: cc, header: auth}, 400, noStoreJSON, bad("unsupported charset")},
		{"malformed form", req{body: "grant_type=%zz", header: auth}, 400, noStoreJSON, bad("malformed form body")},
		{"repeated form parameter", req{body: cc + "&grant_type=client_credentials", header: auth}, 400, noStoreJSON,
			bad("repeated parameter 'grant_type'")},
		{"repeated scope", req{body: cc + "&scope=read&scope=write", header: auth}, 400, noStoreJSON, bad("repeated parameter 'scope'")},
		{"malformed JSON", req{ct: "application/json", body: `{"grant_type":`, header: auth}, 400, noStoreJSON, bad("malformed JSON")},
		{"JSON array", req{ct: "application/json", body: `["client_credentials"]`, header: auth}, 400, noStoreJSON, bad("the body must be a JSON object")},
		{"JSON number", req{ct: "application/json", body: `{"grant_type":"client_credentials","scope":1}`, header: auth}, 400, noStoreJSON,
			bad("parameter 'scope' must be a string")},
		{"JSON null", req{ct: "application/json", body: `{"grant_type":null}`, header: auth}, 400, noStoreJSON,
			bad("parameter 'grant_type' must be a string")},
		{"JSON nested", req{ct: "application/json", body: `{"grant_type":{"a":"b"}}`, header: auth}, 400, noStoreJSON,
			bad("parameter 'grant_type' must be a string")},
		{"JSON repeated", req{ct: "application/json", body: `{"grant_type":"client_credentials","grant_type":"client_credentials"}`, header: auth},
			400, noStoreJSON, bad("repeated parameter 'grant_type'")},
		{"JSON trailing", req{ct: "application/json", body: `{"grant_type":"client_credentials"}{}`, header: auth}, 400, noStoreJSON,
			bad("trailing data after the JSON object")},
		{"two auth methods", req{body: cc + "&client_secret=" + secret, header: auth}, 400, noStoreJSON,
			bad("the client authenticated with both HTTP Basic and client_secret")},
		{"client_id differs from Basic", req{body: cc + "&client_id=other", header: auth}, 400, noStoreJSON,
			bad("client_id differs from the HTTP Basic user")},
		{"malformed Basic", req{body: cc, header: map[string]string{"Authorization": "Basic !!!"}}, 400, noStoreJSON,
			bad("malformed HTTP Basic credentials")},
		{"Basic without colon", req{body: cc, header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(id))}},
			400, noStoreJSON, bad("malformed HTTP Basic credentials")},
		{"missing grant_type", req{body: "scope=read", header: auth}, 400, noStoreJSON, bad("missing grant_type")},
		{"unknown grant", req{body: form("grant_type", "password"), header: auth}, 400, noStoreJSON,
			errBody("unsupported_grant_type", "unsupported grant_type")},
		{"refresh grant while disabled", req{body: form("grant_type", "refresh_token", "refresh_token", "x"), header: auth}, 400, noStoreJSON,
			errBody("unsupported_grant_type", "unsupported grant_type")},
		{"scope not allowed", req{body: form("grant_type", "client_credentials", "scope", "read write"), header: auth}, 400, noStoreJSON,
			errBody("invalid_scope", "the requested scope is invalid, unknown or not allowed for this client")},
		{"unknown scope", req{body: form("grant_type", "client_credentials", "scope", "admin"), header: auth}, 400, noStoreJSON,
			errBody("invalid_scope", "the requested scope is invalid, unknown or not allowed for this client")},
		{"grant not permitted", req{body: cc, header: map[string]string{"Authorization": basic(onlyRefresh, orSecret)}}, 400, noStoreJSON,
			errBody("unauthorized_client", "the client is not permitted this grant type")},
		{"wrong secret basic", req{body: cc, header: map[string]string{"Authorization": basic(id, secret+"x")}}, 401, basicChallenge, badClient},
		{"wrong secret post", req{body: form("grant_type", "client_credentials", "client_id", id, "client_secret", "x")}, 401, basicChallenge, badClient},
		{"no credentials", req{body: cc}, 401, basicChallenge, badClient},
		{"client_id only", req{body: form("grant_type", "client_credentials", "client_id", id)}, 401, basicChallenge, badClient},
		{"disabled client", req{body: cc, header: map[string]string{"Authorization": basic(disabled, dSecret)}}, 401, basicChallenge, badClient},
		{"bearer scheme", req{body: cc, header: map[string]string{"Authorization": "Bearer abc"}}, 401, basicChallenge,
			errBody("invalid_client", "unsupported authentication scheme")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.r)
			wantResponse(t, rec, tc.status, tc.headers, tc.body)
			if tc.status != 401 && rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("unexpected WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.MaxBodyBytes = 1024 })
	id, secret := e.client(issuer.ClientSpec{})
	body := form("grant_type", "client_credentials", "pad", strings.Repeat("a", 2000))
	want := errBody("invalid_request", "request body too large")
	// With a Content-Length the request is refused before reading.
	wantResponse(t, e.do(req{body: body, header: map[string]string{"Authorization": basic(id, secret)}}), 400, noStoreJSON, want)
	// Without one (chunked), reading stops at the limit.
	hr := httptest.NewRequest(http.MethodPost, "/oauth/token", &onlyReader{strings.NewReader(body)})
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Authorization", basic(id, secret))
	rec := httptest.NewRecorder()
	e.iss.Handler().ServeHTTP(rec, hr)
	wantResponse(t, rec, 400, noStoreJSON, want)
	// Just under the limit is fine.
	ok := form("grant_type", "client_credentials", "pad", strings.Repeat("a", 900))
	decodeToken(t, e.do(req{body: ok, header: map[string]string{"Authorization": basic(id, secret)}}))
}

// onlyReader hides everything but Read, so the request has no known length.
type onlyReader struct{ r *strings.Reader }

func (o *onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestInvalidClientIndistinguishable checks that an unknown id and a wrong
// secret for a known id get byte-identical answers, for each method.
func TestInvalidClientIndistinguishable(t *testing.T) {
	e := newEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	unknown := token.NewClientID()
	dump := func(rec *httptest.ResponseRecorder) string {
		var b bytes.Buffer
		b.WriteString(strconv.Itoa(rec.Code) + "\n")
		rec.Header().Write(&b)
		b.WriteString("\n" + rec.Body.String())
		return b.String()
	}
	for _, method := range []string{"basic", "post", "json"} {
		get := func(cid, csecret string) string {
			switch method {
			case "basic":
				return dump(e.do(req{body: form("grant_type", "client_credentials"),
					header: map[string]string{"Authorization": basic(cid, csecret)}}))
			case "post":
				return dump(e.do(req{body: form("grant_type", "client_credentials", "client_id", cid, "client_secret", csecret)}))
			}
			b, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": cid, "client_secret": csecret})
			return dump(e.do(req{ct: "application/json", body: string(b)}))
		}
		known := get(id, "pcs_wrong")
		other := get(unknown, "pcs_wrong")
		if known != other {
			t.Errorf("%s: known id with a wrong secret\n%s\ndiffers from an unknown id\n%s", method, known, other)
		}
		if !strings.HasPrefix(known, "401\n") {
			t.Errorf("%s: %s", method, known)
		}
	}
	_ = secret
}

func TestScopes(t *testing.T) {
	type call struct {
		requested string
		want      string // granted scope, or an error code
	}
	for _, tc := range []struct {
		name         string
		serverScopes []string
		clientScopes []string
		calls        []call
	}{
		{"client scopes", []string{"read", "write", "admin"}, []string{"read", "write"}, []call{
			{"", "read write"}, {"read", "read"}, {"write read", "write read"}, {"read admin", "invalid_scope"},
			{"read read", "read"}, {"nope", "invalid_scope"},
		}},
		{"server scopes only", []string{"read", "write"}, nil, []call{
			{"", "read write"}, {"write", "write"}, {"admin", "invalid_scope"},
		}},
		{"client scopes, no server list", nil, []string{"x:read"}, []call{
			{"", "x:read"}, {"x:read", "x:read"}, {"x:write", "invalid_scope"},
		}},
		{"nothing configured grants nothing", nil, nil, []call{
			{"", ""}, {"read", "invalid_scope"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) { c.Scopes = tc.serverScopes })
			id, secret := e.client(issuer.ClientSpec{Scopes: tc.clientScopes})
			for _, c := range tc.calls {
				args := []string{"grant_type", "client_credentials"}
				if c.requested != "" {
					args = append(args, "scope", c.requested)
				}
				rec := e.do(req{body: form(args...), header: map[string]string{"Authorization": basic(id, secret)}})
				if c.want == "invalid_scope" {
					if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"invalid_scope"`) {
						t.Errorf("scope %q: %d %s, want invalid_scope", c.requested, rec.Code, rec.Body)
					}
					continue
				}
				tr := decodeToken(t, rec)
				if tr.Scope != c.want {
					t.Errorf("scope %q: granted %q, want %q", c.requested, tr.Scope, c.want)
				}
				p, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken)
				if err != nil || token.JoinScope(p.Scopes) != c.want {
					t.Errorf("scope %q: token scopes %v (%v), want %q", c.requested, p, err, c.want)
				}
			}
		})
	}
}

func TestStoreFailureIs503(t *testing.T) {
	e := newEnv(t, true, nil)
	id, secret := e.client(issuer.ClientSpec{})
	e.fault.set("GetClient", errInjected)
	rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}})
	wantResponse(t, rec, 503, noStoreJSON, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
	e.fault.set("GetClient", nil)
	decodeToken(t, e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}))
}

func TestOpaqueFormat(t *testing.T) {
	e := newEnv(t, true, func(c *issuer.Config) { c.Format = issuer.FormatOpaque; c.Scopes = []string{"read"} })
	id, secret := e.client(issuer.ClientSpec{})
	tr := e.getToken(id, secret)
	if !token.WellFormed(tr.AccessToken, token.PrefixAccessToken) {
		t.Fatalf("opaque token %q is not a well-formed pca_ token", tr.AccessToken)
	}
	at, err := e.st.GetAccessToken(t.Context(), e.iss.Hasher().Hex(tr.AccessToken), epoch)
	if err != nil {
		t.Fatalf("the store does not know the token by its hash: %v", err)
	}
	if at.ClientID != id || !at.ExpiresAt.Equal(epoch.Add(time.Hour)) || token.JoinScope(at.Scopes) != "read" {
		t.Errorf("stored grant %+v", at.Grant)
	}
	if _, err := e.st.GetAccessToken(t.Context(), tr.AccessToken, epoch); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the token is stored in the clear: %v", err)
	}
	p, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken)
	if err != nil || !p.Opaque || p.ClientID != id {
		t.Fatalf("Verify: %+v, %v", p, err)
	}
	r := result(e.do(req{path: "/oauth/introspect", body: form("token", tr.AccessToken), header: map[string]string{"Authorization": basic(id, secret)}}))
	if !strings.HasPrefix(r.body, `{"active":true,"scope":"read","client_id":"`+id+`"`) || !strings.Contains(r.body, `"token_type":"Bearer","kind":"client"}`) {
		t.Errorf("opaque introspection: %d %s", r.code, r.body)
	}
	// Rotation kills opaque tokens at once.
	if _, err := e.iss.RotateClient(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("opaque token after rotation: %v, want ErrInvalidToken", err)
	}
	// A store failure while storing the token is a 503, not a token.
	id2, secret2 := e.client(issuer.ClientSpec{})
	e.fault.set("CreateAccessToken", errInjected)
	rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id2, secret2)}})
	wantResponse(t, rec, 503, noStoreJSON, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
}

// TestXOAuth2Client drives the endpoint with golang.org/x/oauth2 as the
// client, over a real HTTP server, in both of its auth styles.
func TestXOAuth2Client(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Scopes = []string{"read", "write"} })
	id, secret := e.client(issuer.ClientSpec{})
	srv := httptest.NewServer(e.iss.Handler())
	defer srv.Close()
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"header", oauth2.AuthStyleInHeader}, {"params", oauth2.AuthStyleInParams}} {
		t.Run(style.name, func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: srv.URL + "/oauth/token",
				Scopes: []string{"write"}}
			cc.AuthStyle = style.style
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Extra("scope") != "write" {
				t.Errorf("token %+v scope %v", tok, tok.Extra("scope"))
			}
			if _, err := e.iss.Verifier().Verify(t.Context(), tok.AccessToken); err != nil {
				t.Errorf("Verify: %v", err)
			}
			bad := cc
			bad.ClientSecret = "wrong"
			if _, err := bad.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Errorf("wrong secret: %v, want invalid_client", err)
			}
		})
	}
}

// TestRequestedScopeCountBounded: a requested scope is bounded in count
// (DESIGN §5.7), both for client credentials and refresh, so that a client
// cannot make the server dedupe thousands of scope tokens per request.
func TestRequestedScopeCountBounded(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Scopes = []string{"read", "write"}
		c.Refresh.Enabled = true
	})
	id, secret := e.client(issuer.ClientSpec{})
	const max = 100 // the issuer's bound
	ok := strings.Repeat("read ", max)
	tooMany := ok + "write"
	if tr := e.getToken(id, secret, "scope", ok); tr.Scope != "read" {
		t.Errorf("%d scope tokens: granted %q, want read", max, tr.Scope)
	}
	wantErr := errBody("invalid_scope", "too many scopes requested")
	wantResponse(t, e.do(req{body: form("grant_type", "client_credentials", "scope", tooMany),
		header: map[string]string{"Authorization": basic(id, secret)}}), 400, noStoreJSON, wantErr)
	rt := e.getToken(id, secret).RefreshToken
	wantResponse(t, e.do(req{body: form("grant_type", "refresh_token", "refresh_token", rt, "scope", tooMany),
		header: map[string]string{"Authorization": basic(id, secret)}}), 400, noStoreJSON, wantErr)
}

// typedNilDialect returns a nil *issuer.Error as a non-nil error, a classic
// Go mistake that a custom dialect may make.
type typedNilDialect struct{ issuer.OAuth2 }

func (typedNilDialect) DecodeTokenRequest(*http.Request) (*issuer.TokenRequest, error) {
	var e *issuer.Error
	return nil, e
}

func TestDialectTypedNilError(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Dialect = typedNilDialect{} })
	id, secret := e.client(issuer.ClientSpec{})
	rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}})
	wantResponse(t, rec, 400, noStoreJSON, errBody("invalid_request", "malformed request"))
}
