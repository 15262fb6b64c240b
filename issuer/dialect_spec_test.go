package issuer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
)

// bloqLike declares a format with a grant type map, as the Bloq API needs.
func bloqLike() issuer.DialectSpec {
	return issuer.DialectSpec{
		Name: "bloq",
		Request: issuer.RequestFields{
			GrantType: "grantType", ClientID: "clientId", ClientSecret: "clientSecret", RefreshToken: "refreshToken",
		},
		GrantTypes: map[string]string{"clientCredentials": issuer.GrantClientCredentials, "refreshToken": issuer.GrantRefreshToken},
		Response: []issuer.Member{
			{Name: "accessToken", Field: issuer.FieldAccessToken},
			{Name: "refreshToken", Field: issuer.FieldRefreshToken},
		},
	}
}

func jsonReq(path, body string, header ...string) req {
	r := req{path: path, ct: "application/json", body: body, header: map[string]string{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.header[header[i]] = header[i+1]
	}
	return r
}

// members returns the member names of a JSON object body, in order, and
// the object.
func members(t *testing.T, body string) ([]string, map[string]any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	var names []string
	for _, sm := range regexp.MustCompile(`(?:^\{|,)"([^"]+)":`).FindAllStringSubmatch(body, -1) {
		names = append(names, sm[1])
	}
	return names, m
}

func TestSeedDialectResponses(t *testing.T) {
	uuidKind := []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatUUID, TTL: 30 * time.Minute}}
	for _, tc := range []struct {
		name    string
		dialect issuer.DialectSpec
		mod     func(*issuer.Config)
		body    string // %s: id, %s: secret
		want    []string
		check   func(t *testing.T, e *env, m map[string]any)
	}{
		{
			name: "OffBlocks", dialect: issuer.OffBlocks(),
			body: `{"apiKey":%q,"apiSecret":%q}`,
			want: []string{"token", "expiresAt", "tokenType"},
			check: func(t *testing.T, e *env, m map[string]any) {
				p, err := e.iss.Verifier().Verify(t.Context(), m["token"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if exp := m["expiresAt"].(float64); int64(exp) != p.ExpiresAt.Unix() || int64(exp) != epoch.Add(time.Hour).Unix() {
					t.Errorf("expiresAt %v, JWT exp %v", exp, p.ExpiresAt.Unix())
				}
			},
		},
		{
			name: "DataCrunch", dialect: issuer.DataCrunch(),
			mod: func(c *issuer.Config) {
				c.Scopes = []string{"fullAccess"}
				c.Refresh = issuer.RefreshConfig{Enabled: true, AllowPublic: true}
			},
			body: `{"grant_type":"client_credentials","client_id":%q,"client_secret":%q}`,
			want: []string{"access_token", "token_type", "expires_in", "refresh_token", "scope"},
			check: func(t *testing.T, e *env, m map[string]any) {
				if m["expires_in"] != 3600.0 || m["scope"] != "fullAccess" || !token.WellFormed(m["refresh_token"].(string), token.PrefixRefreshToken) {
					t.Errorf("response %v", m)
				}
			},
		},
		{
			name: "Generic", dialect: issuer.Generic(),
			mod:  func(c *issuer.Config) { c.Kinds = uuidKind },
			body: `{"clientId":%q,"secret":%q}`,
			want: []string{"accessToken", "tokenType", "expiresIn"},
			check: func(t *testing.T, e *env, m map[string]any) {
				if !token.IsUUID(m["accessToken"].(string)) || m["expiresIn"] != 1800.0 {
					t.Errorf("response %v", m)
				}
				if _, err := e.iss.Verifier().Verify(t.Context(), m["accessToken"].(string)); err != nil {
					t.Errorf("UUID token: %v", err)
				}
			},
		},
		{
			name: "Bloq", dialect: issuer.Bloq(),
			mod:  func(c *issuer.Config) { c.Refresh = issuer.RefreshConfig{Enabled: true, AllowPublic: true} },
			body: `{"grantType":"clientCredentials","clientId":%q,"clientSecret":%q}`,
			want: []string{"accessToken", "refreshToken"},
			check: func(t *testing.T, e *env, m map[string]any) {
				if !token.WellFormed(m["refreshToken"].(string), token.PrefixRefreshToken) {
					t.Errorf("response %v", m)
				}
			},
		},
		{
			name: "bloq-like", dialect: bloqLike(),
			mod:  func(c *issuer.Config) { c.Refresh.Enabled = true },
			body: `{"grantType":"clientCredentials","clientId":%q,"clientSecret":%q}`,
			want: []string{"accessToken", "refreshToken"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) {
				c.Dialect = tc.dialect
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			id, secret := e.client(issuer.ClientSpec{})
			rec := e.do(jsonReq("", jsonf(tc.body, id, secret)))
			if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
			}
			names, m := members(t, rec.Body.String())
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("members %v, want %v: %s", names, tc.want, rec.Body)
			}
			for _, n := range names {
				if n == "tokenType" || n == "token_type" {
					if m[n] != "Bearer" {
						t.Errorf("%s = %v", n, m[n])
					}
				}
			}
			if tc.check != nil {
				tc.check(t, e, m)
			}
			// An unknown id and a wrong secret are refused alike.
			unknown := e.do(jsonReq("", jsonf(tc.body, "nobody", secret)))
			wrong := e.do(jsonReq("", jsonf(tc.body, id, secret+"x")))
			if unknown.Code != http.StatusUnauthorized || unknown.Body.String() != wrong.Body.String() ||
				unknown.Header().Get("WWW-Authenticate") != wrong.Header().Get("WWW-Authenticate") {
				t.Errorf("unknown id %d %s, wrong secret %d %s", unknown.Code, unknown.Body, wrong.Code, wrong.Body)
			}
		})
	}
}

// jsonf formats a JSON template whose %q verbs take strings; Go quoting
// and JSON quoting agree on the ASCII the tests use.
func jsonf(tmpl string, args ...any) string {
	out := tmpl
	for _, a := range args {
		b, _ := json.Marshal(a)
		out = strings.Replace(out, "%q", string(b), 1)
	}
	return out
}

func TestDialectSpecRequests(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Dialect = issuer.OffBlocks() })
	id, secret := e.client(issuer.ClientSpec{})
	good := jsonf(`{"apiKey":%q,"apiSecret":%q}`, id, secret)
	for _, tc := range []struct {
		name   string
		r      req
		status int
		body   string
	}{
		{"form refused", req{body: form("apiKey", id, "apiSecret", secret)}, 400,
			errBody("invalid_request", "Content-Type must be application/json")},
		{"no content type", req{ct: "-", body: good}, 400, errBody("invalid_request", "missing Content-Type")},
		{"repeated key", jsonReq("", `{"apiKey":"a","apiKey":"b","apiSecret":"x"}`), 400,
			errBody("invalid_request", "repeated parameter 'apiKey'")},
		{"not a string", jsonReq("", `{"apiKey":1}`), 400, errBody("invalid_request", "parameter 'apiKey' must be a string")},
		{"OAuth2 names are not its names", jsonReq("", jsonf(`{"client_id":%q,"client_secret":%q}`, id, secret)), 401,
			errBody("invalid_client", "client authentication failed")},
		{"Basic is not read", jsonReq("", `{}`, "Authorization", basic(id, secret)), 401,
			errBody("invalid_client", "client authentication failed")},
		{"Basic beside the body is ignored", jsonReq("", good, "Authorization", basic("x", "y")), 200, ""},
		{"a bearer beside the body is ignored", jsonReq("", good, "Authorization", "Bearer abc"), 200, ""},
		{"grant_type is not its field", jsonReq("", jsonf(`{"grant_type":"refresh_token","apiKey":%q,"apiSecret":%q}`, id, secret)), 200, ""},
		{"query refused", req{path: "/oauth/token?apiKey=x", ct: "application/json", body: good}, 400,
			errBody("invalid_request", "parameters must be sent in the request body, not in the URL")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.r)
			if rec.Code != tc.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body %s, want %s", rec.Body, tc.body)
			}
			if rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("challenge %q from a dialect without Basic", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestDialectSpecBasicAndGrants(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Dialect = issuer.DataCrunch()
		c.Refresh = issuer.RefreshConfig{Enabled: true, AllowPublic: true}
	})
	id, secret := e.client(issuer.ClientSpec{})
	for _, tc := range []struct {
		name   string
		r      req
		status int
		body   string
	}{
		{"form and Basic", req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}, 200, ""},
		{"Basic and body secret", jsonReq("", jsonf(`{"grant_type":"client_credentials","client_secret":%q}`, secret), "Authorization", basic(id, secret)), 400,
			errBody("invalid_request", "the client authenticated with both HTTP Basic and the request body")},
		{"Basic and another body id", jsonReq("", `{"grant_type":"client_credentials","client_id":"other"}`, "Authorization", basic(id, secret)), 400,
			errBody("invalid_request", "the client id differs from the HTTP Basic user")},
		{"Basic and the same body id", jsonReq("", jsonf(`{"grant_type":"client_credentials","client_id":%q}`, id), "Authorization", basic(id, secret)), 200, ""},
		{"another scheme", jsonReq("", `{"grant_type":"client_credentials"}`, "Authorization", "Bearer x"), 401,
			errBody("invalid_client", "unsupported authentication scheme")},
		{"missing grant type", jsonReq("", jsonf(`{"client_id":%q,"client_secret":%q}`, id, secret)), 400,
			errBody("invalid_request", "missing grant_type")},
		{"unknown grant type", jsonReq("", jsonf(`{"grant_type":"password","client_id":%q,"client_secret":%q}`, id, secret)), 400,
			errBody("unsupported_grant_type", "unsupported grant_type")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.r)
			if rec.Code != tc.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body %s, want %s", rec.Body, tc.body)
			}
			if (rec.Code == 401) != (rec.Header().Get("WWW-Authenticate") == `Basic realm="oauth2"`) {
				t.Errorf("%d with challenge %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}

	// A grant type map: the wire values map, the others are unsupported,
	// the mapped-to values are not wire values.
	b := newEnv(t, false, func(c *issuer.Config) { c.Dialect = bloqLike(); c.Refresh.Enabled = true })
	bid, bsecret := b.client(issuer.ClientSpec{})
	rec := b.do(jsonReq("", jsonf(`{"grantType":"clientCredentials","clientId":%q,"clientSecret":%q}`, bid, bsecret)))
	var pair struct{ AccessToken, RefreshToken string }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &pair) != nil || pair.RefreshToken == "" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = b.do(jsonReq("", jsonf(`{"grantType":"refreshToken","refreshToken":%q,"clientId":%q,"clientSecret":%q}`, pair.RefreshToken, bid, bsecret)))
	if rec.Code != 200 {
		t.Errorf("refresh: %d %s", rec.Code, rec.Body)
	}
	for _, wire := range []string{"client_credentials", "password"} {
		rec = b.do(jsonReq("", jsonf(`{"grantType":%q,"clientId":%q,"clientSecret":%q}`, wire, bid, bsecret)))
		if rec.Code != 400 || rec.Body.String() != errBody("unsupported_grant_type", "unsupported grant type") {
			t.Errorf("grantType %s: %d %s", wire, rec.Code, rec.Body)
		}
	}
}

func TestDialectSpecErrorShape(t *testing.T) {
	d := issuer.Generic()
	d.Error = issuer.ErrorFields{Code: "code", Description: "message"}
	rec := httptest.NewRecorder()
	d.WriteError(rec, nil, issuer.ErrInvalidClient.WithDescription("nope"))
	if rec.Code != 401 || rec.Body.String() != `{"code":"invalid_client","message":"nope"}` || rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	issuer.DataCrunch().WriteError(rec, nil, issuer.ErrInvalidGrant)
	if rec.Code != 400 || rec.Body.String() != `{"error":"invalid_grant"}` {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestDialectSpecCheck(t *testing.T) {
	access := []issuer.Member{{Name: "t", Field: issuer.FieldAccessToken}}
	ok := issuer.DialectSpec{Request: issuer.RequestFields{ClientID: "id", ClientSecret: "secret"}, Response: access}
	for _, tc := range []struct {
		name string
		mod  func(*issuer.DialectSpec)
		want string
	}{
		{"only an id", func(d *issuer.DialectSpec) { d.Request.ClientSecret = "" }, "named together"},
		{"no credentials", func(d *issuer.DialectSpec) { d.Request = issuer.RequestFields{} }, "no way to send client credentials"},
		{"map without field", func(d *issuer.DialectSpec) { d.GrantTypes = map[string]string{"a": "b"} }, "needs Request.GrantType"},
		{"empty map entry", func(d *issuer.DialectSpec) {
			d.Request.GrantType = "g"
			d.GrantTypes = map[string]string{"a": ""}
		}, "neither may be empty"},
		{"request name twice", func(d *issuer.DialectSpec) { d.Request.Scope = "id" }, `"id" is named twice`},
		{"no access token", func(d *issuer.DialectSpec) { d.Response = nil }, "no FieldAccessToken"},
		{"unnamed member", func(d *issuer.DialectSpec) { d.Response = append(access, issuer.Member{Field: issuer.FieldScope}) }, "has no name"},
		{"unknown field", func(d *issuer.DialectSpec) { d.Response = append(access, issuer.Member{Name: "x", Field: 99}) }, "unknown Field"},
		{"field twice", func(d *issuer.DialectSpec) {
			d.Response = append(access, issuer.Member{Name: "x", Field: issuer.FieldAccessToken})
		}, "one Field in two"},
		{"member twice", func(d *issuer.DialectSpec) {
			d.Response = append(access, issuer.Member{Name: "t", Field: issuer.FieldScope})
		}, `"t" is named twice`},
		{"error without code", func(d *issuer.DialectSpec) { d.Error.Description = "m" }, "Error.Code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			d.Response = append([]issuer.Member(nil), ok.Response...)
			tc.mod(&d)
			_, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: newFaultStore(), Dialect: d})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	var nilSpec *issuer.DialectSpec
	if _, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: newFaultStore(), Dialect: nilSpec}); err == nil {
		t.Error("a nil *DialectSpec was accepted")
	}
	for _, d := range []issuer.DialectSpec{issuer.OffBlocks(), issuer.DataCrunch(), issuer.Generic(), bloqLike(), issuer.Bloq(), ok} {
		if _, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: newFaultStore(), Dialect: &d}); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
	}
}

// FuzzDialectSpec throws arbitrary requests at a declared dialect's
// decoder: never a panic, and the auth method always says truthfully how
// the client authenticated.
func FuzzDialectSpec(f *testing.F) {
	for _, s := range []struct{ ct, auth, body string }{
		{"application/json", "", `{"grant_type":"client_credentials","client_id":"a","client_secret":"b"}`},
		{"application/x-www-form-urlencoded", basic("a", "b"), "grant_type=refresh_token&refresh_token=x"},
		{"application/json", "Basic Og==", `{"client_secret":"b"}`},
		{"application/json", "Bearer x", `{"grantType":"clientCredentials"}`},
		{"text/plain", "", "x"},
	} {
		f.Add(s.ct, s.auth, s.body)
	}
	dialects := []issuer.DialectSpec{issuer.OffBlocks(), issuer.DataCrunch(), issuer.Generic(), bloqLike(), issuer.Bloq()}
	f.Fuzz(func(t *testing.T, ct, authz, body string) {
		for _, d := range dialects {
			r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if authz != "" {
				r.Header.Set("Authorization", authz)
			}
			req, err := d.DecodeTokenRequest(r)
			if err != nil {
				continue
			}
			switch {
			case req.AuthMethod == issuer.AuthBasic && (!d.Basic || authz == ""):
				t.Fatalf("%s: Basic without a Basic header", d.Name)
			case req.AuthMethod == issuer.AuthPost && req.ClientSecret != req.Params[d.Request.ClientSecret]:
				t.Fatalf("%s: body auth with a secret from elsewhere", d.Name)
			case req.AuthMethod == issuer.AuthNone && req.ClientSecret != "":
				t.Fatalf("%s: a secret without an auth method", d.Name)
			case req.AuthMethod != issuer.AuthNone && req.AuthMethod != issuer.AuthBasic && req.AuthMethod != issuer.AuthPost:
				t.Fatalf("%s: auth method %q", d.Name, req.AuthMethod)
			}
		}
	})
}

func TestDialectSpecMetadata(t *testing.T) {
	for _, tc := range []struct {
		dialect issuer.DialectSpec
		public  bool
		want    string
	}{
		{issuer.OffBlocks(), false, `"token_endpoint_auth_methods_supported":["client_secret_post"]`},
		{issuer.DataCrunch(), true, `"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"]`},
	} {
		e := newEnv(t, false, func(c *issuer.Config) {
			c.Dialect = tc.dialect
			c.Refresh = issuer.RefreshConfig{Enabled: tc.public, AllowPublic: tc.public}
		})
		rec := e.do(req{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"})
		if !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: metadata %s", tc.dialect.Name, rec.Body)
		}
	}
}
