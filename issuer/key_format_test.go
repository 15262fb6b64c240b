package issuer_test

import (
	"encoding/hex"
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

// TestAccountKeysDefaultShapes pins the issuer's own key format byte for
// byte: the members, their order, and the statuses.
func TestAccountKeysDefaultShapes(t *testing.T) {
	e := newAccountEnv(t, nil)
	e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	acct := e.accountLogin("alice")

	rec := e.bearerDo(http.MethodPost, "/account/keys", acct, `{"name":"ci"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	names, m := members(t, rec.Body.String())
	if strings.Join(names, ",") != "client_id,client_secret,name,created_at" || !token.WellFormed(m["client_secret"].(string), token.PrefixClientSecret) {
		t.Errorf("created %s", rec.Body)
	}
	id := m["client_id"].(string)
	e.clock.Advance(time.Second)
	rec = e.bearerDo(http.MethodPost, "/account/keys", acct, "")
	if names, _ := members(t, rec.Body.String()); rec.Code != http.StatusCreated || strings.Join(names, ",") != "client_id,client_secret,created_at" {
		t.Errorf("created without a name: %d %s", rec.Code, rec.Body)
	}
	rec = e.bearerDo(http.MethodGet, "/account/keys", acct, "")
	want := regexp.MustCompile(`^\{"keys":\[\{"client_id":"` + id + `","name":"ci","created_at":"[^"]+"\},\{"client_id":"[0-9a-f]{32}","created_at":"[^"]+"\}\]\}$`)
	if rec.Code != http.StatusOK || !want.MatchString(rec.Body.String()) {
		t.Errorf("list: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("list headers %v", rec.Header())
	}
	rec = e.bearerDo(http.MethodDelete, "/account/keys/nope", acct, "")
	wantResponse(t, rec, http.StatusNotFound, noStoreJSON, errBody("not_found", "no such client key"))
}

func bloqEnv(t *testing.T) *env {
	return newAccountEnv(t, func(c *issuer.Config) {
		c.Dialect = issuer.Bloq()
		c.Refresh = issuer.RefreshConfig{Enabled: true, AllowPublic: true}
		c.Paths = issuer.Paths{Token: "/auth/token", Login: "/auth/login", AccountKeys: "/users/me/client-keys"}
	})
}

func (e *env) bloqLogin(user, pass string) *httptest.ResponseRecorder {
	return e.do(req{path: "/auth/login", ct: "-", header: map[string]string{"Authorization": plainBasic(user, pass)}})
}

// TestBloqDialect drives the Bloq declaration through the issuer: login,
// client keys in Bloq's shapes, the token request with the account token
// beside the body, refresh without client authentication, and errors in
// Bloq's shape.
func TestBloqDialect(t *testing.T) {
	e := bloqEnv(t)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{Username: "alice", Email: "alice@example.com", Password: alicePassword})

	// Login: {"accessToken"} only, a 12 h account token.
	rec := e.bloqLogin("alice@example.com", alicePassword)
	names, m := members(t, rec.Body.String())
	if rec.Code != http.StatusOK || strings.Join(names, ",") != "accessToken" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("login: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	acct := m["accessToken"].(string)
	p, err := e.iss.Verifier().Verify(ctx, acct)
	if err != nil || p.Kind != issuer.KindAccount || p.AccountID != a.ID || !p.ExpiresAt.Equal(epoch.Add(12*time.Hour)) {
		t.Fatalf("account token: %+v %v", p, err)
	}
	wrong := e.bloqLogin("alice", "not the password")
	wantResponse(t, wrong, http.StatusUnauthorized, with(noStoreJSON, "WWW-Authenticate", `Basic realm="login", charset="UTF-8"`),
		`{"code":"invalid_client","message":"login failed"}`)

	// Keys: 200 {"clientId","clientSecret"}, both lowercase hex, 128 and
	// 256 bits.
	rec = e.bearerDo(http.MethodPost, "/users/me/client-keys", acct, "")
	names, m = members(t, rec.Body.String())
	if rec.Code != http.StatusOK || strings.Join(names, ",") != "clientId,clientSecret" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	id, secret := m["clientId"].(string), m["clientSecret"].(string)
	for s, n := range map[string]int{id: 32, secret: 64} {
		if b, err := hex.DecodeString(s); err != nil || len(s) != n || strings.ToLower(s) != s || len(b) != n/2 {
			t.Errorf("%q is not %d lowercase hex digits", s, n)
		}
	}
	rec = e.bearerDo(http.MethodGet, "/users/me/client-keys", acct, "")
	var list []map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list) != 1 ||
		list[0]["clientId"] != id || len(list[0]) != 2 || list[0]["createdAt"] == nil || strings.Contains(rec.Body.String(), secret) {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}

	// The token request, with the account token beside the body as Bloq's
	// CLI sends it.
	body := jsonf(`{"grantType":"clientCredentials","clientId":%q,"clientSecret":%q}`, id, secret)
	rec = e.do(jsonReq("/auth/token", body, "Authorization", "Bearer "+acct))
	names, m = members(t, rec.Body.String())
	if rec.Code != http.StatusOK || strings.Join(names, ",") != "accessToken,refreshToken" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	access, refresh := m["accessToken"].(string), m["refreshToken"].(string)
	if p, err := e.iss.Verifier().Verify(ctx, access); err != nil || p.Kind != issuer.KindClient || p.AccountID != a.ID ||
		!p.ExpiresAt.Equal(epoch.Add(time.Hour)) {
		t.Fatalf("client token: %+v %v", p, err)
	}
	// Refresh with the refresh token alone: a new pair.
	rec = e.do(jsonReq("/auth/token", jsonf(`{"grantType":"refreshToken","refreshToken":%q}`, refresh)))
	names, m = members(t, rec.Body.String())
	if rec.Code != http.StatusOK || strings.Join(names, ",") != "accessToken,refreshToken" || m["refreshToken"] == refresh {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}

	// A client token never reaches the keys; errors are Bloq's shape.
	if rec := e.bearerDo(http.MethodGet, "/users/me/client-keys", access, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("list with a client token: %d", rec.Code)
	}
	wantResponse(t, e.bearerDo(http.MethodDelete, "/users/me/client-keys/nope", acct, ""), http.StatusNotFound, noStoreJSON,
		`{"code":"not_found","message":"no such client key"}`)
	wantResponse(t, e.bearerDo(http.MethodPut, "/users/me/client-keys", acct, ""), http.StatusMethodNotAllowed,
		with(noStoreJSON, "Allow", "GET, POST"), `{"code":"invalid_request","message":"the method must be GET, POST"}`)
	unknown := e.do(jsonReq("/auth/token", jsonf(`{"grantType":"clientCredentials","clientId":"nobody","clientSecret":%q}`, secret)))
	wantResponse(t, unknown, http.StatusUnauthorized, noStoreJSON, `{"code":"invalid_client","message":"client authentication failed"}`)

	// Deleting the key: 204, its tokens and refresh tokens die.
	rec = e.bearerDo(http.MethodDelete, "/users/me/client-keys/"+id, acct, "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.iss.Verifier().Verify(ctx, access); err == nil {
		t.Error("a deleted key's token still verifies")
	}
	rec = e.do(jsonReq("/auth/token", jsonf(`{"grantType":"refreshToken","refreshToken":%q}`, m["refreshToken"].(string))))
	wantResponse(t, rec, http.StatusBadRequest, noStoreJSON, `{"code":"invalid_grant","message":"the refresh token is invalid, expired or revoked"}`)
	if rec := e.bearerDo(http.MethodGet, "/users/me/client-keys", acct, ""); rec.Code != http.StatusOK || rec.Body.String() != "[]" {
		t.Errorf("empty list: %d %s", rec.Code, rec.Body)
	}
}

// TestRefreshWithoutClientAuthChecksOwner: a key's refresh token, used
// without client authentication, is refused while its account is
// disabled, and the refusal spends nothing.
func TestRefreshWithoutClientAuthChecksOwner(t *testing.T) {
	e := bloqEnv(t)
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	id, secret := e.client(issuer.ClientSpec{OwnerAccount: a.ID})
	rec := e.do(jsonReq("/auth/token", jsonf(`{"grantType":"clientCredentials","clientId":%q,"clientSecret":%q}`, id, secret)))
	var pair struct{ AccessToken, RefreshToken string }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &pair) != nil {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	refresh := jsonf(`{"grantType":"refreshToken","refreshToken":%q}`, pair.RefreshToken)
	if err := e.iss.DisableAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	if rec := e.do(jsonReq("/auth/token", refresh)); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_grant") {
		t.Errorf("refresh of a disabled account's key: %d %s", rec.Code, rec.Body)
	}
	if err := e.iss.EnableAccount(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	if rec := e.do(jsonReq("/auth/token", refresh)); rec.Code != http.StatusOK {
		t.Errorf("refresh after enabling the account: %d %s", rec.Code, rec.Body)
	}
}

func TestKeyFormatCheck(t *testing.T) {
	id := issuer.KeyMember{Name: "id", Field: issuer.KeyClientID}
	secret := issuer.KeyMember{Name: "secret", Field: issuer.KeyClientSecret}
	for _, tc := range []struct {
		name string
		keys issuer.KeyFormat
		want string
	}{
		{"status", issuer.KeyFormat{CreatedStatus: 202}, "200 or 201"},
		{"created without secret", issuer.KeyFormat{Created: []issuer.KeyMember{id}}, "no KeyClientSecret"},
		{"created without id", issuer.KeyFormat{Created: []issuer.KeyMember{secret}}, "no KeyClientID"},
		{"listed secret", issuer.KeyFormat{Listed: []issuer.KeyMember{id, secret}}, "never shows a secret"},
		{"listed without id", issuer.KeyFormat{Listed: []issuer.KeyMember{{Name: "at", Field: issuer.KeyCreatedAt}}}, "no KeyClientID"},
		{"unnamed", issuer.KeyFormat{Listed: []issuer.KeyMember{id, {Field: issuer.KeyName}}}, "has no name"},
		{"unknown field", issuer.KeyFormat{Listed: []issuer.KeyMember{id, {Name: "x", Field: 9}}}, "unknown Field"},
		{"field twice", issuer.KeyFormat{Listed: []issuer.KeyMember{id, {Name: "x", Field: issuer.KeyClientID}}}, "one Field in two"},
		{"name twice", issuer.KeyFormat{Listed: []issuer.KeyMember{id, {Name: "id", Field: issuer.KeyName}}}, `"id" is named twice`},
		{"array and list", issuer.KeyFormat{Array: true, List: "keys"}, "Keys.Array"},
		{"secret format", issuer.KeyFormat{Secret: "base64"}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := issuer.Generic()
			d.Keys = tc.keys
			_, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: newFaultStore(), Dialect: d})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
