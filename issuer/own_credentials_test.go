package issuer_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

const ownPath = "/v1/auth/credentials"

// offblocksEnv is an issuer with the OffBlocks dialect and the
// own-credentials endpoint.
func offblocksEnv(t testing.TB, withFaults bool, mod func(*issuer.Config)) *env {
	return newEnv(t, withFaults, func(c *issuer.Config) {
		c.Dialect = issuer.OffBlocks()
		c.Paths = issuer.Paths{Token: "/v1/auth/token", OwnCredentials: ownPath}
		if mod != nil {
			mod(c)
		}
	})
}

// obToken gets an OffBlocks token, or returns "" and the status.
func (e *env) obToken(key, secret string) (string, int) {
	e.t.Helper()
	rec := e.do(jsonReq("/v1/auth/token", jsonf(`{"apiKey":%q,"apiSecret":%q}`, key, secret)))
	if rec.Code != http.StatusOK {
		return "", rec.Code
	}
	var body struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Token == "" {
		e.t.Fatalf("token response %s", rec.Body)
	}
	return body.Token, rec.Code
}

func (e *env) mustOBToken(key, secret string) string {
	e.t.Helper()
	tok, code := e.obToken(key, secret)
	if tok == "" {
		e.t.Fatalf("token for %q: %d", key, code)
	}
	return tok
}

func (e *env) own(method, tok, body string) *httpResult {
	e.t.Helper()
	r := jsonReq(ownPath, body)
	r.method = method
	if tok != "" {
		r.header["Authorization"] = "Bearer " + tok
	}
	return result(e.do(r))
}

// strong is a secret that passes the default strength rule.
const strong = "correct horse battery staple 4ever"

func TestOwnCredentialsSameKey(t *testing.T) {
	e := offblocksEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.mustOBToken(id, secret)
	wantResponse(t, e.own(http.MethodPut, tok, jsonf(`{"apiKey":%q,"apiSecret":%q}`, id, strong)), 204,
		map[string]string{"Cache-Control": "no-store"}, "")
	if _, err := e.iss.Verifier().Verify(t.Context(), tok); err == nil {
		t.Error("the token used for the change still verifies")
	}
	if _, code := e.obToken(id, secret); code != 401 {
		t.Errorf("old secret: %d", code)
	}
	p, err := e.iss.Verifier().Verify(t.Context(), e.mustOBToken(id, strong))
	if err != nil || p.Subject != id || p.ClientID != id {
		t.Errorf("new token: %+v %v", p, err)
	}
}

func TestOwnCredentialsNewKey(t *testing.T) {
	var log hookLog
	e := offblocksEnv(t, false, func(c *issuer.Config) { c.Hooks = log.hooks() })
	ctx := t.Context()
	k1, s1 := e.client(issuer.ClientSpec{Scopes: nil, Name: "partner"})
	t1 := e.mustOBToken(k1, s1)
	log.take()

	// K1 → K2: the old token and pair die, the identity stays.
	wantResponse(t, e.own(http.MethodPut, t1, jsonf(`{"apiKey":"k2","apiSecret":%q}`, strong)), 204, nil, "")
	if got := log.take(); len(got) != 2 || !strings.Contains(got[0], `"ID":"k2","Action":"created"`) ||
		!strings.Contains(got[1], `"ID":"`+k1+`","Action":"disabled"`) {
		t.Errorf("hooks %q", got)
	}
	if _, err := e.iss.Verifier().Verify(ctx, t1); err == nil {
		t.Error("old token still verifies")
	}
	for _, pair := range [][2]string{{k1, s1}, {k1, strong}, {"k2", s1}} {
		if _, code := e.obToken(pair[0], pair[1]); code != 401 {
			t.Errorf("pair %q: %d", pair, code)
		}
	}
	t2 := e.mustOBToken("k2", strong)
	p, err := e.iss.Verifier().Verify(ctx, t2)
	if err != nil || p.Subject != k1 || p.ClientID != "k2" {
		t.Fatalf("new token: %+v %v", p, err)
	}
	c2, err := e.st.GetClient(ctx, "k2")
	if err != nil || c2.Name != "partner" || c2.Metadata[issuer.MetaSubject] != k1 {
		t.Errorf("new record %+v %v", c2, err)
	}

	// The first id stays reserved: nobody can take it and speak for k1.
	if _, _, err := e.iss.CreateClient(ctx, issuer.ClientSpec{ID: k1}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateClient(%s): %v", k1, err)
	}
	if err := e.iss.EnableClient(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if _, code := e.obToken(k1, s1); code != 401 {
		t.Errorf("re-enabled retired record took its old secret: %d", code)
	}

	// K2 → K3: K2 goes, the subject stays k1.
	log.take()
	wantResponse(t, e.own(http.MethodPut, t2, jsonf(`{"apiKey":"k3","apiSecret":%q}`, strong+"!")), 204, nil, "")
	if got := log.take(); len(got) != 2 || !strings.Contains(got[1], `"ID":"k2","Action":"deleted"`) {
		t.Errorf("hooks %q", got)
	}
	if _, err := e.st.GetClient(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("k2 after moving on: %v", err)
	}
	p, err = e.iss.Verifier().Verify(ctx, e.mustOBToken("k3", strong+"!"))
	if err != nil || p.Subject != k1 || p.ClientID != "k3" {
		t.Errorf("k3 token: %+v %v", p, err)
	}
}

func TestOwnCredentialsRefusals(t *testing.T) {
	e := offblocksEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	other, _ := e.client(issuer.ClientSpec{})
	tok := e.mustOBToken(id, secret)
	jsonErr := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	for _, tc := range []struct {
		name   string
		method string
		tok    string
		ct     string
		body   string
		status int
		header map[string]string
		want   string
	}{
		{"weak secret", "PUT", tok, "", jsonf(`{"apiKey":%q,"apiSecret":%q}`, id, strings.Repeat("x", 31)), 400, jsonErr,
			errBody("invalid_request", "'apiSecret' must be at least 32 characters")},
		{"empty secret", "PUT", tok, "", jsonf(`{"apiKey":%q,"apiSecret":""}`, id), 400, jsonErr,
			errBody("invalid_request", "both 'apiKey' and 'apiSecret' are required")},
		{"no key", "PUT", tok, "", jsonf(`{"apiSecret":%q}`, strong), 400, jsonErr,
			errBody("invalid_request", "both 'apiKey' and 'apiSecret' are required")},
		{"key with a space", "PUT", tok, "", jsonf(`{"apiKey":"a b","apiSecret":%q}`, strong), 400, jsonErr,
			errBody("invalid_request", "'apiKey' must be 1 to 255 printable ASCII characters without spaces")},
		{"control character", "PUT", tok, "", jsonf(`{"apiKey":"k","apiSecret":%q}`, strong+"\x7f"), 400, jsonErr,
			errBody("invalid_request", "'apiSecret' must not contain control characters")},
		{"malformed JSON", "PUT", tok, "", `{"apiKey":`, 400, jsonErr, errBody("invalid_request", "malformed JSON")},
		{"repeated key", "PUT", tok, "", jsonf(`{"apiKey":"a","apiKey":"b","apiSecret":%q}`, strong), 400, jsonErr,
			errBody("invalid_request", "repeated parameter 'apiKey'")},
		{"form body", "PUT", tok, "application/x-www-form-urlencoded", "apiKey=a&apiSecret=" + strings.Repeat("y", 40), 400, jsonErr,
			errBody("invalid_request", "Content-Type must be application/json")},
		{"key taken", "PUT", tok, "", jsonf(`{"apiKey":%q,"apiSecret":%q}`, other, strong), 409, jsonErr,
			errBody("invalid_request", "that client id is taken")},
		{"no token", "PUT", "", "", "{}", 401, map[string]string{"WWW-Authenticate": "Bearer"}, ""},
		{"bad token", "DELETE", "eyJ.x.y", "", "", 401,
			map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="the access token is invalid"`},
			errBody("invalid_token", "the access token is invalid")},
		{"GET", "GET", tok, "", "", 405, map[string]string{"Allow": "PUT, DELETE"},
			errBody("invalid_request", "the method must be PUT or DELETE")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jsonReq(ownPath, tc.body)
			r.method = tc.method
			if tc.ct != "" {
				r.ct = tc.ct
			}
			if tc.tok != "" {
				r.header["Authorization"] = "Bearer " + tc.tok
			}
			wantResponse(t, e.do(r), tc.status, tc.header, tc.want)
		})
	}
	rec := e.do(req{method: "PUT", path: ownPath + "?apiKey=x", ct: "application/json", body: "{}",
		header: map[string]string{"Authorization": "Bearer " + tok}})
	if rec.Code != 400 {
		t.Errorf("query: %d", rec.Code)
	}
	// Nothing changed: the token and the pair still work.
	if _, err := e.iss.Verifier().Verify(t.Context(), tok); err != nil {
		t.Errorf("token after refusals: %v", err)
	}
	e.mustOBToken(id, secret)
}

func TestOwnCredentialsMinSecretLength(t *testing.T) {
	e := offblocksEnv(t, false, func(c *issuer.Config) { c.MinSecretLength = 8 })
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.mustOBToken(id, secret)
	if r := e.own("PUT", tok, jsonf(`{"apiKey":%q,"apiSecret":"1234567"}`, id)); r.code != 400 {
		t.Errorf("7 characters: %d", r.code)
	}
	// Characters, not bytes: eight of them in 16 bytes pass.
	if r := e.own("PUT", tok, jsonf(`{"apiKey":%q,"apiSecret":"ééééééé€"}`, id)); r.code != 204 {
		t.Errorf("8 characters: %d %s", r.code, r.body)
	}
	e.mustOBToken(id, "ééééééé€")
}

func TestOwnCredentialsDelete(t *testing.T) {
	e := offblocksEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.mustOBToken(id, secret)
	wantResponse(t, e.own(http.MethodDelete, tok, ""), 204, map[string]string{"Cache-Control": "no-store"}, "")
	if _, err := e.iss.Verifier().Verify(t.Context(), tok); err == nil {
		t.Error("token survived the deletion")
	}
	if _, code := e.obToken(id, secret); code != 401 {
		t.Errorf("pair after deletion: %d", code)
	}
	if _, err := e.st.GetClient(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client after deletion: %v", err)
	}
	if r := e.own(http.MethodDelete, tok, ""); r.code != 401 {
		t.Errorf("second deletion: %d", r.code)
	}
}

// Two changes made with one token: exactly one wins, and only its id
// exists afterwards.
func TestOwnCredentialsRace(t *testing.T) {
	// The losers' failed token requests must not lock the address out.
	e := offblocksEnv(t, false, func(c *issuer.Config) { c.RateLimit = issuer.RateLimit{PerClient: -1, PerAddress: -1} })
	for round := range 20 {
		id, secret := e.client(issuer.ClientSpec{})
		tok := e.mustOBToken(id, secret)
		keys := []string{id + "-a", id + "-b", id}
		codes := make([]int, len(keys))
		var wg sync.WaitGroup
		for n, k := range keys {
			wg.Go(func() {
				codes[n] = e.own("PUT", tok, jsonf(`{"apiKey":%q,"apiSecret":%q}`, k, strong)).code
			})
		}
		wg.Go(func() { e.own("DELETE", tok, "") })
		wg.Wait()
		wins := 0
		for n, k := range keys {
			_, code := e.obToken(k, strong)
			if codes[n] == 204 {
				wins++
				if code != 200 {
					t.Errorf("round %d: winner %q cannot get a token: %d", round, k, code)
				}
			} else if codes[n] != 401 || code == 200 {
				t.Errorf("round %d: loser %q answered %d, token %d", round, k, codes[n], code)
			}
		}
		if wins > 1 {
			t.Errorf("round %d: %d winners %v", round, wins, codes)
		}
	}
}

func TestOwnCredentialsUndo(t *testing.T) {
	e := offblocksEnv(t, true, nil)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.mustOBToken(id, secret)
	e.fault.set("UpdateClient", errInjected)
	if r := e.own("PUT", tok, jsonf(`{"apiKey":"new","apiSecret":%q}`, strong)); r.code != 503 {
		t.Errorf("store failure: %d %s", r.code, r.body)
	}
	e.fault.set("UpdateClient", nil)
	if _, err := e.st.GetClient(t.Context(), "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the new id survived a failed change: %v", err)
	}
	if _, err := e.iss.Verifier().Verify(t.Context(), tok); err != nil {
		t.Errorf("token after a failed change: %v", err)
	}
	e.mustOBToken(id, secret)
}

func TestOwnCredentialsOffByDefault(t *testing.T) {
	e := newEnv(t, false, nil)
	for _, rt := range e.iss.Routes() {
		if rt.Name == "own_credentials" {
			t.Errorf("route %+v on by default", rt)
		}
	}
	if e.iss.Paths().OwnCredentials != "-" {
		t.Errorf("path %q", e.iss.Paths().OwnCredentials)
	}
	// With the OAuth2 dialect, the fields are client_id and client_secret,
	// in a form or JSON body.
	o := newEnv(t, false, func(c *issuer.Config) { c.Paths.OwnCredentials = "/oauth/own" })
	id, secret := o.client(issuer.ClientSpec{})
	tok := o.getToken(id, secret).AccessToken
	rec := o.do(req{method: "PUT", path: "/oauth/own", body: form("client_id", "renamed", "client_secret", strong),
		header: map[string]string{"Authorization": "Bearer " + tok}})
	if rec.Code != 204 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	o.getToken("renamed", strong)
}

// FuzzOwnCredentials throws arbitrary requests at the own-credentials
// endpoint with a valid token: never a panic, never a 5xx, never a body
// that is not JSON, and nothing cached.
func FuzzOwnCredentials(f *testing.F) {
	e := offblocksEnv(f, false, func(c *issuer.Config) { c.MaxBodyBytes = 4 << 10 })
	for _, s := range []struct{ method, ct, body string }{
		{"PUT", "application/json", `{"apiKey":"k","apiSecret":"` + strong + `"}`},
		{"PUT", "application/json", `{"apiKey":"k","apiSecret":"short"}`},
		{"PUT", "application/x-www-form-urlencoded", "apiKey=k"},
		{"DELETE", "", ""},
		{"PATCH", "application/json", `{"apiKey":1}`},
		{"PUT", "application/json; charset=latin1", `{"apiKey":"\u0000"}`},
	} {
		f.Add(s.method, s.ct, s.body)
	}
	f.Fuzz(func(t *testing.T, method, ct, body string) {
		c, secret, err := e.iss.CreateClient(t.Context(), issuer.ClientSpec{})
		if err != nil {
			t.Fatal(err)
		}
		tr := httptest.NewRequest(http.MethodPost, "/v1/auth/token", strings.NewReader(jsonf(`{"apiKey":%q,"apiSecret":%q}`, c.ID, secret)))
		tr.Header.Set("Content-Type", "application/json")
		trec := httptest.NewRecorder()
		e.iss.Handler().ServeHTTP(trec, tr)
		var got struct{ Token string }
		if err := json.Unmarshal(trec.Body.Bytes(), &got); err != nil || got.Token == "" {
			t.Fatalf("token: %d %s", trec.Code, trec.Body)
		}
		tok := got.Token
		r := httptest.NewRequest(http.MethodPut, ownPath, strings.NewReader(body))
		if validMethod(method) {
			r.Method = method
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.iss.Handler().ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%d %s for %q %q %q", rec.Code, rec.Body, method, ct, body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", rec.Header())
		}
		if rec.Code != http.StatusNoContent && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%d body %q", rec.Code, rec.Body)
		}
	})
}
