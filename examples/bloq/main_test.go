package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

func init() { gin.SetMode(gin.ReleaseMode) }

const (
	user      = "satoshi"
	email     = "Satoshi@Example.com"
	password  = "correct horse battery staple"
	keyID     = "0123456789abcdef0123456789abcdef"
	keySecret = "89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
)

func start(t *testing.T, args ...string) *demotest.Server {
	t.Helper()
	return demotest.Start(t, run, append([]string{"-addr", "127.0.0.1:0", "-user", user, "-email", email, "-password", password,
		"-client-id", keyID, "-client-secret", keySecret}, args...)...)
}

func basicAuth(login, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+pass))
}

// login replays the page's `curl -u username:password -X POST …/auth/login`:
// HTTP Basic, no body, no Content-Type.
func login(t *testing.T, s *demotest.Server, path, login, pass string) demotest.Response {
	return demotest.Do(t, "POST", s.URL+path, nil, "Authorization", basicAuth(login, pass))
}

// accountToken logs in and checks the response: exactly {"accessToken"},
// a JWT of 12 hours.
func accountToken(t *testing.T, r demotest.Response) string {
	t.Helper()
	m := demotest.WantJSON(t, r, 200, "accessToken")
	tok := m["accessToken"].(string)
	if ttl := jwtTTL(t, tok); ttl != 12*3600 {
		t.Errorf("account token lives %d s", ttl)
	}
	return tok
}

// jwtTTL is exp - iat of a JWT.
func jwtTTL(t *testing.T, tok string) int64 {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Exp, Iat int64 }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Exp - c.Iat
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func credentials(id, secret string) string {
	return `{"grantType":"clientCredentials","clientId":` + quote(id) + `,"clientSecret":` + quote(secret) + `}`
}

func refreshBody(rt string) string {
	return `{"grantType":"refreshToken","refreshToken":` + quote(rt) + `}`
}

// postToken replays POST /auth/token with a JSON body, and the headers
// (Bloq's CLI adds its account token).
func postToken(t *testing.T, s *demotest.Server, body string, header ...string) demotest.Response {
	return demotest.Do(t, "POST", s.URL+"/auth/token", strings.NewReader(body), append([]string{"Content-Type", "application/json"}, header...)...)
}

type pair struct{ access, refresh string }

// wantPair checks a token response: exactly {"accessToken","refreshToken"},
// a JWT of 1 hour and an opaque refresh token.
func wantPair(t *testing.T, r demotest.Response) pair {
	t.Helper()
	m := demotest.WantJSON(t, r, 200, "accessToken", "refreshToken")
	p := pair{m["accessToken"].(string), m["refreshToken"].(string)}
	if ttl := jwtTTL(t, p.access); ttl != 3600 || !strings.HasPrefix(p.refresh, "pcr_") {
		t.Errorf("pair %+v, access token lives %d s", p, ttl)
	}
	return p
}

// wantError checks a refusal in Bloq's error shape.
func wantError(t *testing.T, r demotest.Response, status int, code string) {
	t.Helper()
	m := demotest.WantJSON(t, r, status, "code", "message")
	if m["code"] != code {
		t.Errorf("code %v, want %s", m["code"], code)
	}
}

// bearer sends a request with a bearer token.
func bearer(t *testing.T, s *demotest.Server, method, path, tok string) demotest.Response {
	return demotest.Do(t, method, s.URL+path, nil, "Authorization", "Bearer "+tok)
}

func status(t *testing.T, s *demotest.Server, method, path, tok string) int {
	return bearer(t, s, method, path, tok).Status
}

type key struct {
	ClientID  string `json:"clientId"`
	CreatedAt string `json:"createdAt"`
}

// listKeys replays GET /users/me/client-keys: a top-level array of keys,
// each exactly {"clientId","createdAt"}.
func listKeys(t *testing.T, s *demotest.Server, acct string) []string {
	t.Helper()
	r := bearer(t, s, "GET", "/users/me/client-keys", acct)
	if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Body, "[") {
		t.Fatalf("list: %d %v %s", r.Status, r.Header, r.Body)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(r.Body), &raw); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range raw {
		names, m := demotest.Members(t, string(k))
		if !slices.Equal(names, []string{"clientId", "createdAt"}) {
			t.Errorf("listed key %s", k)
		}
		ids = append(ids, m["clientId"].(string))
	}
	return ids
}

func TestReplay(t *testing.T) {
	s := start(t)

	// Using Accounts HTTP REST API: HTTP Basic with the username or the
	// email, at /auth/login as the page writes it and at /auth as Bloq's
	// CLI sends it (with a JSON Content-Type and no body).
	acct := accountToken(t, login(t, s, "/auth/login", user, password))
	accountToken(t, login(t, s, "/auth/login", "satoshi@example.com", password))
	cli := demotest.Do(t, "POST", s.URL+"/auth", nil, "Content-Type", "application/json", "Authorization", basicAuth(email, password))
	accountToken(t, cli)

	// The Account Access Token reaches the Nodes and the Accounts services.
	r := demotest.Do(t, "GET", s.URL+"/nodes/v1/status", nil, "Authorization", "Bearer "+acct)
	if r.Status != 200 || !strings.Contains(r.Body, `"tokenKind":"account"`) {
		t.Fatalf("nodes with the account token: %d %s", r.Status, r.Body)
	}
	r = bearer(t, s, "GET", "/users/me", acct)
	if r.Status != 200 || !strings.Contains(r.Body, `"username":"satoshi","email":"satoshi@example.com"`) {
		t.Fatalf("users/me: %d %s", r.Status, r.Body)
	}

	// Create client keys, as Bloq's CLI does: POST with the account token
	// and nothing else. 200 {"clientId","clientSecret"}, lowercase hex.
	m := demotest.WantJSON(t, bearer(t, s, "POST", "/users/me/client-keys", acct), 200, "clientId", "clientSecret")
	newID, newSecret := m["clientId"].(string), m["clientSecret"].(string)
	for v, n := range map[string]int{newID: 32, newSecret: 64} {
		if _, err := hex.DecodeString(v); err != nil || len(v) != n || strings.ToLower(v) != v {
			t.Errorf("%q is not %d lowercase hex digits", v, n)
		}
	}
	if ids := listKeys(t, s, acct); !slices.Equal(ids, []string{keyID, newID}) {
		t.Errorf("keys %v, want the demo key and the new one", ids)
	}

	// Client Access and Refresh Tokens, with the account token beside the
	// body as Bloq's CLI sends it, and without.
	p := wantPair(t, postToken(t, s, credentials(newID, newSecret), "Authorization", "Bearer "+acct))
	demo := wantPair(t, postToken(t, s, credentials(keyID, keySecret)))
	r = demotest.Do(t, "GET", s.URL+"/nodes/v1/status", nil, "Authorization", "Bearer "+p.access)
	if r.Status != 200 || !strings.Contains(r.Body, `"tokenKind":"client"`) {
		t.Fatalf("nodes with the client token: %d %s", r.Status, r.Body)
	}

	// One way only: a client token never reaches the Accounts services.
	for _, c := range []struct{ method, path string }{
		{"GET", "/users/me"}, {"GET", "/users/me/client-keys"}, {"POST", "/users/me/client-keys"},
		{"DELETE", "/users/me/client-keys/" + newID},
	} {
		if code := status(t, s, c.method, c.path, p.access); code != 401 {
			t.Errorf("%s %s with a client token: %d", c.method, c.path, code)
		}
	}
	// Nor is a refresh token a bearer token, or an access token a refresh
	// token.
	if code := status(t, s, "GET", "/nodes/v1/status", p.refresh); code != 401 {
		t.Errorf("refresh token as a bearer: %d", code)
	}
	for _, tok := range []string{p.access, acct} {
		wantError(t, postToken(t, s, refreshBody(tok)), 400, "invalid_grant")
	}

	// Refreshing the Client Access Token: a new pair, the refresh token
	// alone; a reused one is refused and its family dies.
	p2 := wantPair(t, postToken(t, s, refreshBody(p.refresh)))
	if p2.access == p.access || p2.refresh == p.refresh {
		t.Error("refresh returned the same tokens")
	}
	p3 := wantPair(t, postToken(t, s, refreshBody(p2.refresh)))
	wantError(t, postToken(t, s, refreshBody(p.refresh)), 400, "invalid_grant")
	wantError(t, postToken(t, s, refreshBody(p3.refresh)), 400, "invalid_grant")
	// Its access tokens die with it (RFC 9700 §4.14.2).
	if code := status(t, s, "GET", "/nodes/v1/status", p3.access); code != 401 {
		t.Errorf("the access token of a revoked family: %d, want 401", code)
	}

	// Deleting the key: 204, and every token of it dies at once.
	p4 := wantPair(t, postToken(t, s, credentials(newID, newSecret)))
	r = bearer(t, s, "DELETE", "/users/me/client-keys/"+newID, acct)
	if r.Status != 204 || r.Body != "" {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, tok := range []string{p.access, p3.access, p4.access} {
		if code := status(t, s, "GET", "/nodes/v1/status", tok); code != 401 {
			t.Errorf("a deleted key's token: %d", code)
		}
	}
	wantError(t, postToken(t, s, refreshBody(p4.refresh)), 400, "invalid_grant")
	wantError(t, postToken(t, s, credentials(newID, newSecret)), 401, "invalid_client")
	wantError(t, bearer(t, s, "DELETE", "/users/me/client-keys/"+newID, acct), 404, "not_found")
	if ids := listKeys(t, s, acct); !slices.Equal(ids, []string{keyID}) {
		t.Errorf("keys after the deletion: %v", ids)
	}
	// The other key and the account token live on.
	if status(t, s, "GET", "/nodes/v1/status", demo.access) != 200 || status(t, s, "GET", "/users/me", acct) != 200 {
		t.Error("the deletion reached other tokens")
	}
}

func TestRefusals(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "bloq.db")
	s := start(t, "-store", db)
	// An unknown login and a wrong password: byte-identical, at both paths.
	for _, path := range []string{"/auth/login", "/auth"} {
		unknown := login(t, s, path, "nobody", password)
		wrong := login(t, s, path, user, password+"x")
		wantError(t, unknown, 401, "invalid_client")
		demotest.SameRefusal(t, unknown, wrong)
		demotest.SameRefusal(t, unknown, login(t, s, path, "satoshi@example.com", "wrong password"))
		demotest.SameRefusal(t, unknown, demotest.Do(t, "POST", s.URL+path, nil))
	}
	// An unknown client id and a wrong secret: byte-identical.
	unknown := postToken(t, s, credentials("0000", keySecret))
	wantError(t, unknown, 401, "invalid_client")
	demotest.SameRefusal(t, unknown, postToken(t, s, credentials(keyID, keySecret[1:])))
	if unknown.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("a challenge without HTTP authentication: %v", unknown.Header)
	}

	acct := accountToken(t, login(t, s, "/auth/login", user, password))
	p := wantPair(t, postToken(t, s, credentials(keyID, keySecret)))
	// Another account's key (a second server on the same database makes
	// that account and its key) answers exactly like an unknown one.
	const otherKey = "fedcba9876543210fedcba9876543210"
	demotest.Start(t, run, "-addr", "127.0.0.1:0", "-store", db, "-user", "other", "-email", "other@example.com",
		"-password", password, "-client-id", otherKey)
	unknownKey := bearer(t, s, "DELETE", "/users/me/client-keys/0123", acct)
	wantError(t, unknownKey, 404, "not_found")
	demotest.SameRefusal(t, unknownKey, bearer(t, s, "DELETE", "/users/me/client-keys/"+otherKey, acct))
	if slices.Contains(listKeys(t, s, acct), otherKey) {
		t.Error("another account's key is listed")
	}
	keysBefore := listKeys(t, s, acct)

	// Malformed input: 4xx, never 5xx, no-store, and nothing changes.
	tok := func(body string, header ...string) demotest.Response { return postToken(t, s, body, header...) }
	for name, r := range map[string]demotest.Response{
		"form body":        demotest.Do(t, "POST", s.URL+"/auth/token", strings.NewReader("grantType=clientCredentials&clientId="+keyID+"&clientSecret="+keySecret), "Content-Type", "application/x-www-form-urlencoded"),
		"truncated":        tok(`{"grantType":`),
		"repeated":         tok(`{"grantType":"clientCredentials","grantType":"refreshToken"}`),
		"number":           tok(`{"grantType":"clientCredentials","clientId":1}`),
		"array":            tok(`["clientCredentials"]`),
		"no grant type":    tok(`{"clientId":"` + keyID + `","clientSecret":"` + keySecret + `"}`),
		"OAuth grant type": tok(`{"grantType":"client_credentials","clientId":"` + keyID + `","clientSecret":"` + keySecret + `"}`),
		"password grant":   tok(`{"grantType":"password"}`),
		"empty refresh":    tok(`{"grantType":"refreshToken"}`),
		"bogus refresh":    tok(refreshBody("pcr_nonsense")),
		"no credentials":   tok(`{"grantType":"clientCredentials"}`),
		"Basic only":       tok(`{"grantType":"clientCredentials"}`, "Authorization", basicAuth(keyID, keySecret)),
		"huge":             tok(`{"grantType":"` + strings.Repeat("x", 100<<10) + `"}`),
		"in the query":     demotest.Do(t, "POST", s.URL+"/auth/token?clientSecret=x", strings.NewReader(credentials(keyID, keySecret)), "Content-Type", "application/json"),
		"GET token":        demotest.Do(t, "GET", s.URL+"/auth/token", nil),
		"GET login":        demotest.Do(t, "GET", s.URL+"/auth/login", nil, "Authorization", basicAuth(user, password)),
		"login query":      demotest.Do(t, "POST", s.URL+"/auth?user=x", nil, "Authorization", basicAuth(user, password)),
		"login bad Basic":  demotest.Do(t, "POST", s.URL+"/auth/login", nil, "Authorization", "Basic !!!"),
		"key name number":  demotest.Do(t, "POST", s.URL+"/users/me/client-keys", strings.NewReader(`{"name":1}`), "Authorization", "Bearer "+acct, "Content-Type", "application/json"),
		"key body cut":     demotest.Do(t, "POST", s.URL+"/users/me/client-keys", strings.NewReader(`{"name":`), "Authorization", "Bearer "+acct, "Content-Type", "application/json"),
		"PUT keys":         bearer(t, s, "PUT", "/users/me/client-keys", acct),
		"DELETE all keys":  bearer(t, s, "DELETE", "/users/me/client-keys", acct),
		"GET one key":      bearer(t, s, "GET", "/users/me/client-keys/"+keyID, acct),
		"keys query":       bearer(t, s, "GET", "/users/me/client-keys?all=1", acct),
		"unknown key":      bearer(t, s, "DELETE", "/users/me/client-keys/nope", acct),
	} {
		if r.Status < 400 || r.Status >= 500 || strings.Contains(r.Body, "accessToken") || strings.Contains(r.Body, "clientSecret") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, r.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/nodes/v1/status", "/users/me", "/users/me/client-keys"} {
		if r := demotest.Do(t, "GET", s.URL+path, nil); r.Status != 401 || r.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("GET %s without a token: %d %v", path, r.Status, r.Header)
		}
		for _, tk := range []string{"eyJ.bad.token", acct + "x", keySecret} {
			if code := status(t, s, "GET", path, tk); code != 401 {
				t.Errorf("GET %s with %q: %d", path, tk, code)
			}
		}
	}
	if got := listKeys(t, s, acct); !slices.Equal(got, keysBefore) {
		t.Errorf("keys %v after the refusals, were %v", got, keysBefore)
	}
	if status(t, s, "GET", "/nodes/v1/status", p.access) != 200 || status(t, s, "GET", "/users/me", acct) != 200 {
		t.Error("a refusal reached live tokens")
	}
	wantPair(t, postToken(t, s, refreshBody(p.refresh)))
	// The other account's key was not touched.
	otherAcct := accountToken(t, login(t, s, "/auth/login", "other", password))
	if ids := listKeys(t, s, otherAcct); !slices.Equal(ids, []string{otherKey}) {
		t.Errorf("the other account's keys: %v", ids)
	}
}

// TestPasswordAndSecretChangeKillTokens restarts on a persistent store
// with another password and another key secret: the tokens of the old
// ones die, access and refresh alike.
func TestPasswordAndSecretChangeKillTokens(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "bloq.db")
	s := start(t, "-store", db)
	acct := accountToken(t, login(t, s, "/auth/login", user, password))
	p := wantPair(t, postToken(t, s, credentials(keyID, keySecret)))
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	const newPassword, newSecret = "another passphrase, long enough", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	addr := strings.TrimPrefix(s.URL, "http://") // the same issuer URL, so old tokens would verify
	s = demotest.Start(t, run, "-addr", addr, "-store", db, "-user", user, "-email", email, "-password", newPassword,
		"-client-id", keyID, "-client-secret", newSecret)
	for path, tk := range map[string]string{"/users/me": acct, "/nodes/v1/status": p.access} {
		if code := status(t, s, "GET", path, tk); code != 401 {
			t.Errorf("%s with a token of before the change: %d", path, code)
		}
	}
	wantError(t, postToken(t, s, refreshBody(p.refresh)), 400, "invalid_grant")
	wantError(t, login(t, s, "/auth/login", user, password), 401, "invalid_client")
	wantError(t, postToken(t, s, credentials(keyID, keySecret)), 401, "invalid_client")
	acct = accountToken(t, login(t, s, "/auth/login", user, newPassword))
	wantPair(t, postToken(t, s, credentials(keyID, newSecret)))
	if ids := listKeys(t, s, acct); !slices.Equal(ids, []string{keyID}) {
		t.Errorf("keys after the restart: %v", ids)
	}
}

// TestPrintedCommands pastes what the example prints into bash and
// follows the whole flow.
func TestPrintedCommands(t *testing.T) {
	s := demotest.Start(t, run, "-addr", "127.0.0.1:0", "-password", `it's "quoted" $HOME`,
		"-client-id", `k"ey\1`, "-client-secret", `odd "secret" \ $PATH`)
	out := s.Output()
	for _, want := range []string{"user:     demo", "email:    demo@example.com", `password: it's "quoted" $HOME`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	cmds := demotest.Commands(out)
	if len(cmds) != 13 {
		t.Fatalf("commands %q in\n%s", cmds, out)
	}
	stdout, stderr := demotest.Shell(t, cmds)
	for want, n := range map[string]int{
		`"username":"demo"`:                    1,
		`{"status":"ok","tokenKind":"client"}`: 2,
		"401\n":                                2,
		"204\n":                                1,
		`"refreshToken":"pcr_`:                 3,
	} {
		if got := strings.Count(stdout, want); got != n {
			t.Errorf("%q %d times, want %d", want, got, n)
		}
	}
	if !regexp.MustCompile(`\[\{"clientId":"k\\"ey\\\\1","createdAt":"[^"]+"\},\{"clientId":"[0-9a-f]{32}","createdAt":"[^"]+"\}\]`).MatchString(stdout) ||
		stderr != "" {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	// A wrong password: the login fails visibly and sets nothing.
	_, stderr = demotest.Shell(t, []string{strings.Replace(cmds[0], "quoted", "wrong", 1), `echo "ACCOUNT_TOKEN=${ACCOUNT_TOKEN-unset}" >&2`})
	if !strings.Contains(stderr, `request failed: {"code":"invalid_client"`) || !strings.Contains(stderr, "ACCOUNT_TOKEN=unset") {
		t.Errorf("wrong password:\n%s", stderr)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-client-secret", "x"}, {"-store", "nope"}, {"extra"}, {"-user", "", "-email", ""},
		{"-password", "short"}, {"-user", "has space"},
	} {
		if err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestCredentialsPage(t *testing.T) {
	demotest.CheckCredentialsPage(t, start(t).URL, "/auth/login", "/users/me/client-keys")
}
