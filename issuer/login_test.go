package issuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
)

// plainBasic is HTTP Basic as RFC 7617 has it (no form-encoding), as
// browsers and curl -u send it for a login.
func plainBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func (e *env) login(user, pass string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(req{path: "/account/login", ct: "-", header: map[string]string{"Authorization": plainBasic(user, pass)}})
}

func (e *env) bearerDo(method, path, tok string, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := req{method: method, path: path, body: body, ct: "-", header: map[string]string{}}
	if tok != "" {
		r.header["Authorization"] = "Bearer " + tok
	}
	if body != "" {
		r.ct = "application/json"
	}
	return e.do(r)
}

func TestLogin(t *testing.T) {
	var log hookLog
	e := newAccountEnv(t, func(c *issuer.Config) { c.Hooks = log.hooks() })
	a := e.account(issuer.AccountSpec{Username: "alice", Email: "alice+ops@example.com", Password: alicePassword})
	ctx := context.Background()
	for _, user := range []string{"alice", "alice+ops@example.com", "Alice+Ops@Example.com"} {
		rec := e.login(user, alicePassword)
		tok := decodeToken(t, rec)
		if tok.ExpiresIn != 12*3600 || tok.TokenType != "Bearer" || tok.RefreshToken != "" ||
			rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("login as %q: %+v %v", user, tok, rec.Header())
		}
		p, err := e.iss.Verifier().Verify(ctx, tok.AccessToken)
		if err != nil || p.Kind != issuer.KindAccount || p.AccountID != a.ID || p.Subject != a.ID || p.ClientID != "" {
			t.Fatalf("account token verifies as %+v, %v", p, err)
		}
	}
	// The body is ignored, whatever its type.
	rec := e.do(req{path: "/account/login", ct: "application/json", body: `{"not":`,
		header: map[string]string{"Authorization": plainBasic("alice", alicePassword)}})
	if rec.Code != http.StatusOK {
		t.Errorf("login with a junk body: %d %s", rec.Code, rec.Body)
	}

	// Every failure is the same 401, byte for byte.
	want := e.login("alice", "wrong password here")
	if want.Code != http.StatusUnauthorized || !strings.HasPrefix(want.Header().Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("wrong password: %d %v", want.Code, want.Header())
	}
	for name, got := range map[string]*httptest.ResponseRecorder{
		"unknown login":   e.login("bob", alicePassword),
		"malformed login": e.login("al\x00ice", alicePassword),
		"no password":     e.login("alice", ""),
		"no credentials":  e.do(req{path: "/account/login", ct: "-"}),
	} {
		if got.Code != want.Code || got.Body.String() != want.Body.String() ||
			got.Header().Get("WWW-Authenticate") != want.Header().Get("WWW-Authenticate") {
			t.Errorf("%s: %d %v %s, want the wrong password's %d %s", name, got.Code, got.Header(), got.Body, want.Code, want.Body)
		}
	}
	if rec := e.do(req{method: http.MethodGet, path: "/account/login"}); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET login: %d", rec.Code)
	}
	if rec := e.do(req{path: "/account/login?user=alice", header: map[string]string{"Authorization": plainBasic("alice", alicePassword)}}); rec.Code != http.StatusBadRequest {
		t.Errorf("login with a query: %d", rec.Code)
	}
	var logins, failures int
	for _, ev := range log.take() {
		switch {
		case strings.HasPrefix(ev, "login "):
			logins++
		case strings.HasPrefix(ev, "authfailed "):
			failures++
			if !strings.Contains(ev, `"Subject":"account"`) || strings.Contains(ev, alicePassword) || strings.Contains(ev, "wrong password here") {
				t.Errorf("hook %s", ev)
			}
		}
	}
	if logins != 4 || failures != 5 {
		t.Errorf("%d login and %d failure hook calls, want 4 and 5", logins, failures)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newAccountEnv(t, func(c *issuer.Config) {
		c.RateLimit = issuer.RateLimit{PerClient: 2, PerAddress: 5, Window: time.Minute}
	})
	e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	for range 2 {
		if rec := e.login("alice", "not the password"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure: %d", rec.Code)
		}
	}
	rec := e.login("alice", alicePassword)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("third try: %d %v, want 429 with Retry-After", rec.Code, rec.Header())
	}
	// The limit is per login: another account logs in, until the address
	// has used up its own.
	e.account(issuer.AccountSpec{Username: "bob", Password: alicePassword})
	if rec := e.login("bob", alicePassword); rec.Code != http.StatusOK {
		t.Fatalf("another login: %d %s", rec.Code, rec.Body)
	}
	for _, who := range []string{"carol", "dave", "erin"} {
		e.login(who, alicePassword)
	}
	if rec := e.login("bob", alicePassword); rec.Code != http.StatusTooManyRequests {
		t.Errorf("after the address's failures: %d, want 429", rec.Code)
	}
	e.clock.Advance(time.Minute)
	if rec := e.login("alice", alicePassword); rec.Code != http.StatusOK {
		t.Errorf("next window: %d", rec.Code)
	}
}

type createdKey struct {
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
}

func (e *env) accountLogin(user string) string {
	e.t.Helper()
	return decodeToken(e.t, e.login(user, alicePassword)).AccessToken
}

func (e *env) createKey(acct, body string) createdKey {
	e.t.Helper()
	rec := e.bearerDo(http.MethodPost, "/account/keys", acct, body)
	if rec.Code != http.StatusCreated || rec.Header().Get("Cache-Control") != "no-store" {
		e.t.Fatalf("create key: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var k createdKey
	if err := json.Unmarshal(rec.Body.Bytes(), &k); err != nil {
		e.t.Fatal(err)
	}
	return k
}

func TestAccountKeys(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := context.Background()
	alice := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	e.account(issuer.AccountSpec{Username: "bob", Password: alicePassword})
	acct := e.accountLogin("alice")
	bobAcct := e.accountLogin("bob")

	k1 := e.createKey(acct, `{"name":"ci deploys"}`)
	e.clock.Advance(time.Second)
	k2 := e.createKey(acct, "")
	if k1.ClientSecret == "" || k1.Name != "ci deploys" || k2.ClientID == k1.ClientID {
		t.Fatalf("keys %+v %+v", k1, k2)
	}
	bobKey := e.createKey(bobAcct, "")

	// Listing: the caller's keys, oldest first, never a secret.
	rec := e.bearerDo(http.MethodGet, "/account/keys", acct, "")
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	var list struct {
		Keys []createdKey `json:"keys"`
	}
	json.Unmarshal(rec.Body.Bytes(), &list)
	if len(list.Keys) != 2 || list.Keys[0].ClientID != k1.ClientID || list.Keys[1].ClientID != k2.ClientID {
		t.Errorf("list %+v", list.Keys)
	}

	// A key gets client tokens that name their owner, and those never
	// reach the account endpoints.
	ct := e.getToken(k1.ClientID, k1.ClientSecret)
	p, err := e.iss.Verifier().Verify(ctx, ct.AccessToken)
	if err != nil || p.Kind != issuer.KindClient || p.ClientID != k1.ClientID || p.AccountID != alice.ID {
		t.Fatalf("client token: %+v %v", p, err)
	}
	// Disabling the account stops its keys and their tokens; enabling it
	// brings the keys back (their tokens were not rotated).
	if err := e.iss.DisableAccount(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(ctx, ct.AccessToken); err == nil {
		t.Error("a disabled account's key token still verifies")
	}
	if rec := e.do(req{body: form("grant_type", "client_credentials"),
		header: map[string]string{"Authorization": basic(k1.ClientID, k1.ClientSecret)}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("a disabled account's key authenticates: %d", rec.Code)
	}
	if err := e.iss.EnableAccount(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	acct = e.accountLogin("alice")
	if _, err := e.iss.Verifier().Verify(ctx, ct.AccessToken); err != nil {
		t.Errorf("after enabling the account: %v", err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if rec := e.bearerDo(method, "/account/keys", ct.AccessToken, ""); rec.Code != http.StatusUnauthorized ||
			!strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s with a client token: %d %v", method, rec.Code, rec.Header())
		}
	}
	if rec := e.bearerDo(http.MethodDelete, "/account/keys/"+k1.ClientID, ct.AccessToken, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("DELETE with a client token: %d", rec.Code)
	}
	if rec := e.bearerDo(http.MethodGet, "/account/keys", "", ""); rec.Code != http.StatusUnauthorized ||
		rec.Header().Get("WWW-Authenticate") != "Bearer" || rec.Body.Len() != 0 {
		t.Errorf("no token: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}

	// Another account's key answers exactly like an unknown one.
	unknown := e.bearerDo(http.MethodDelete, "/account/keys/nope", acct, "")
	other := e.bearerDo(http.MethodDelete, "/account/keys/"+bobKey.ClientID, acct, "")
	if unknown.Code != http.StatusNotFound || other.Code != unknown.Code || other.Body.String() != unknown.Body.String() {
		t.Errorf("unknown %d %s, other's %d %s", unknown.Code, unknown.Body, other.Code, other.Body)
	}
	if _, err := e.iss.Verifier().Verify(ctx, e.getToken(bobKey.ClientID, bobKey.ClientSecret).AccessToken); err != nil {
		t.Errorf("bob's key was touched: %v", err)
	}

	// Deleting a key kills its tokens at once.
	if rec := e.bearerDo(http.MethodDelete, "/account/keys/"+k1.ClientID, acct, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.iss.Verifier().Verify(ctx, ct.AccessToken); err == nil {
		t.Error("a deleted key's token still verifies")
	}
	if rec := e.do(req{body: form("grant_type", "client_credentials"),
		header: map[string]string{"Authorization": basic(k1.ClientID, k1.ClientSecret)}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("a deleted key authenticates: %d", rec.Code)
	}

	// Bad input changes nothing.
	for name, c := range map[string]struct{ method, path, body string }{
		"name not a string": {http.MethodPost, "/account/keys", `{"name":1}`},
		"name too long":     {http.MethodPost, "/account/keys", `{"name":"` + strings.Repeat("n", 256) + `"}`},
		"control in name":   {http.MethodPost, "/account/keys", `{"name":"a\u0007"}`},
		"duplicate name":    {http.MethodPost, "/account/keys", `{"name":"a","name":"b"}`},
	} {
		if rec := e.bearerDo(c.method, c.path, acct, c.body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	for name, c := range map[string]struct {
		method, path string
		want         int
	}{
		"PUT":         {http.MethodPut, "/account/keys", http.StatusMethodNotAllowed},
		"DELETE all":  {http.MethodDelete, "/account/keys", http.StatusMethodNotAllowed},
		"GET one":     {http.MethodGet, "/account/keys/" + k2.ClientID, http.StatusMethodNotAllowed},
		"query":       {http.MethodGet, "/account/keys?all=1", http.StatusBadRequest},
		"nested path": {http.MethodDelete, "/account/keys/" + k2.ClientID + "/x", http.StatusNotFound},
	} {
		if rec := e.bearerDo(c.method, c.path, acct, ""); rec.Code != c.want {
			t.Errorf("%s: %d %s, want %d", name, rec.Code, rec.Body, c.want)
		}
	}
	rec = e.bearerDo(http.MethodGet, "/account/keys", acct, "")
	json.Unmarshal(rec.Body.Bytes(), &list)
	if len(list.Keys) != 1 || list.Keys[0].ClientID != k2.ClientID {
		t.Errorf("after the bad requests: %s", rec.Body)
	}

	// Deleting the account deletes its keys; their tokens die with them.
	ct2 := e.getToken(k2.ClientID, k2.ClientSecret)
	if err := e.iss.DeleteAccount(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{ct2.AccessToken, acct} {
		if _, err := e.iss.Verifier().Verify(ctx, tok); err == nil {
			t.Error("a token of a deleted account still verifies")
		}
	}
}

// TestLoginEndpointRacesPasswordChange: no account token minted before a password
// change survives it, however the logins and the change interleave.
func TestLoginEndpointRacesPasswordChange(t *testing.T) {
	e := newAccountEnv(t, nil)
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	ctx := context.Background()
	var (
		mu     sync.Mutex
		tokens []string
		wg     sync.WaitGroup
		stop   = make(chan struct{})
		first  = make(chan struct{}, 1)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := e.login("alice", alicePassword)
				if rec.Code != http.StatusOK {
					// The change is made. Stopping at the first
					// refusal keeps the failures under the rate
					// limit, which this test does not exercise.
					return
				}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				json.Unmarshal(rec.Body.Bytes(), &tok)
				mu.Lock()
				tokens = append(tokens, tok.AccessToken)
				mu.Unlock()
				select {
				case first <- struct{}{}:
				default:
				}
			}
		}()
	}
	<-first // logins are under way, however slow the machine
	if err := e.iss.SetAccountPassword(ctx, a.ID, "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) == 0 {
		t.Fatal("no login succeeded before the change")
	}
	for _, tok := range tokens {
		if _, err := e.iss.Verifier().Verify(ctx, tok); err == nil {
			t.Fatal("an account token minted with the old password survived the change")
		}
	}
	if rec := e.login("alice", alicePassword); rec.Code != http.StatusUnauthorized {
		t.Errorf("old password after the change: %d", rec.Code)
	}
	if rec := e.login("alice", "a brand new passphrase"); rec.Code != http.StatusOK {
		t.Errorf("new password: %d", rec.Code)
	}
}
