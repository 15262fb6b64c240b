package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// The page's example credentials (seeds/002).
const (
	pageID     = "Ibk5bdxV64lKAWOqYnvSi"
	pageSecret = "Z4CZq02rdwdB7ISV0k4Z2gtwAFKiyvr2U1l0KDIeYi"
)

var pairMembers = []string{"access_token", "token_type", "expires_in", "refresh_token", "scope"}

func start(t *testing.T, args ...string) *demotest.Server {
	t.Helper()
	return demotest.Start(t, run, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

// post replays a request of the page: POST /v1/oauth2/token with
// "Content-Type: application/json" and the body as written.
func post(t *testing.T, s *demotest.Server, body string) demotest.Response {
	return demotest.Do(t, "POST", s.URL+"/v1/oauth2/token", strings.NewReader(body), "Content-Type", "application/json")
}

type pair struct{ access, refresh string }

// wantPair checks a token response member by member and returns the pair.
func wantPair(t *testing.T, r demotest.Response) pair {
	t.Helper()
	m := demotest.WantJSON(t, r, 200, pairMembers...)
	if m["token_type"] != "Bearer" || m["expires_in"] != 3600.0 || m["scope"] != "fullAccess" {
		t.Errorf("response %v", m)
	}
	p := pair{m["access_token"].(string), m["refresh_token"].(string)}
	if strings.Count(p.access, ".") != 2 || !strings.HasPrefix(p.refresh, "pcr_") {
		t.Errorf("pair %+v", p)
	}
	return p
}

// credentials is the page's token request body, members in its order.
func credentials(id, secret string) string {
	return `{"grant_type":"client_credentials","client_id":` + quote(id) + `,"client_secret":` + quote(secret) + `}`
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func refreshBody(rt string, extra ...string) string {
	body := `{"grant_type":"refresh_token","refresh_token":` + quote(rt)
	for i := 0; i+1 < len(extra); i += 2 {
		body += `,` + quote(extra[i]) + `:` + quote(extra[i+1])
	}
	return body + `}`
}

func getBalance(t *testing.T, s *demotest.Server, tok string) int {
	return demotest.Do(t, "GET", s.URL+"/v1/balance", nil, "Authorization", "Bearer "+tok).Status
}

func TestReplay(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)

	// How to generate Access & Refresh tokens.
	p1 := wantPair(t, post(t, s, credentials(pageID, pageSecret)))
	// How to add the access token to an API call.
	if code := getBalance(t, s, p1.access); code != 200 {
		t.Fatalf("balance: %d", code)
	}
	// How to refresh an Access token using the refresh token: the refresh
	// token alone (the Python SDK's way) …
	p2 := wantPair(t, post(t, s, refreshBody(p1.refresh)))
	if p2.refresh == p1.refresh || p2.access == p1.access {
		t.Error("refresh returned the same tokens")
	}
	// … or with the client's credentials (the Go SDK's way).
	p3 := wantPair(t, post(t, s, refreshBody(p2.refresh, "client_id", pageID, "client_secret", pageSecret)))
	if code := getBalance(t, s, p3.access); code != 200 {
		t.Errorf("balance with a refreshed token: %d", code)
	}
	// With the id alone it must be this client's token.
	if r := post(t, s, refreshBody(p3.refresh, "client_id", "someone-else")); r.Status != 400 {
		t.Errorf("another client's id: %d %s", r.Status, r.Body)
	}

	// A reused refresh token: invalid_grant, and its family dies, the
	// newest refresh token included.
	r := post(t, s, refreshBody(p1.refresh))
	demotest.WantJSON(t, r, 400, "error", "error_description")
	if !strings.Contains(r.Body, `"error":"invalid_grant"`) {
		t.Errorf("reuse: %s", r.Body)
	}
	if r := post(t, s, refreshBody(p3.refresh)); r.Status != 400 || !strings.Contains(r.Body, "invalid_grant") {
		t.Errorf("newest refresh token after a reuse: %d %s", r.Status, r.Body)
	}
	// A new login starts a new family.
	wantPair(t, post(t, s, refreshBody(wantPair(t, post(t, s, credentials(pageID, pageSecret))).refresh)))
}

// TestOAuth2Client: golang.org/x/oauth2/clientcredentials works unchanged
// (form body, HTTP Basic or credentials in the body).
func TestOAuth2Client(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)
	ctx := context.Background()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleAutoDetect, oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := &clientcredentials.Config{ClientID: pageID, ClientSecret: pageSecret, TokenURL: s.URL + "/v1/oauth2/token", AuthStyle: style}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if tok.RefreshToken == "" || tok.Extra("scope") != "fullAccess" || tok.Expiry.IsZero() {
			t.Errorf("style %d: %+v", style, tok)
		}
		resp, err := cc.Client(ctx).Get(s.URL + "/v1/balance")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("style %d: balance %d", style, resp.StatusCode)
		}
	}
	// x/oauth2's refresh: a form body with Basic.
	conf := &oauth2.Config{ClientID: pageID, ClientSecret: pageSecret, Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/v1/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	first, err := (&clientcredentials.Config{ClientID: pageID, ClientSecret: pageSecret, TokenURL: s.URL + "/v1/oauth2/token"}).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first.Expiry = first.Expiry.Add(-2 * 3600e9) // expired: the source refreshes
	next, err := conf.TokenSource(ctx, first).Token()
	if err != nil || next.RefreshToken == first.RefreshToken || next.AccessToken == first.AccessToken {
		t.Errorf("x/oauth2 refresh: %v %+v", err, next)
	}

	var re *oauth2.RetrieveError
	wrong := &clientcredentials.Config{ClientID: pageID, ClientSecret: "wrong", TokenURL: s.URL + "/v1/oauth2/token"}
	if _, err := wrong.Token(ctx); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)
	unknown := post(t, s, credentials("nobody", pageSecret))
	wrong := post(t, s, credentials(pageID, pageSecret+"x"))
	demotest.WantJSON(t, unknown, 401, "error", "error_description")
	demotest.SameRefusal(t, unknown, wrong)
	if unknown.Header.Get("WWW-Authenticate") == "" {
		t.Error("invalid_client without a Basic challenge")
	}

	// One-way separation of what the issuer hands out: a refresh token is
	// no bearer token, an access token no refresh token.
	p := wantPair(t, post(t, s, credentials(pageID, pageSecret)))
	if code := getBalance(t, s, p.refresh); code != 401 {
		t.Errorf("refresh token as a bearer: %d", code)
	}
	if r := post(t, s, refreshBody(p.access)); r.Status != 400 || !strings.Contains(r.Body, "invalid_grant") {
		t.Errorf("access token as a refresh token: %d %s", r.Status, r.Body)
	}
	if code := getBalance(t, s, p.access); code != 200 {
		t.Errorf("balance: %d", code)
	}

	for name, r := range map[string]demotest.Response{
		"repeated":       post(t, s, `{"grant_type":"client_credentials","grant_type":"refresh_token"}`),
		"number":         post(t, s, `{"grant_type":"client_credentials","client_id":1}`),
		"truncated":      post(t, s, `{"grant_type":`),
		"no grant type":  post(t, s, `{"client_id":"`+pageID+`","client_secret":"`+pageSecret+`"}`),
		"other grant":    post(t, s, `{"grant_type":"password"}`),
		"empty refresh":  post(t, s, `{"grant_type":"refresh_token"}`),
		"bogus refresh":  post(t, s, refreshBody("pcr_nonsense")),
		"in the query":   demotest.Do(t, "POST", s.URL+"/v1/oauth2/token?client_secret=x", strings.NewReader(credentials(pageID, pageSecret)), "Content-Type", "application/json"),
		"text body":      demotest.Do(t, "POST", s.URL+"/v1/oauth2/token", strings.NewReader("x"), "Content-Type", "text/plain"),
		"GET":            demotest.Do(t, "GET", s.URL+"/v1/oauth2/token", nil),
		"two auth":       demotest.Do(t, "POST", s.URL+"/v1/oauth2/token", strings.NewReader(credentials(pageID, pageSecret)), "Content-Type", "application/json", "Authorization", "Basic SWJrNWJkeFY2NGxLQVdPcVludlNpOng="),
		"huge":           post(t, s, `{"grant_type":"`+strings.Repeat("x", 100<<10)+`"}`),
		"no credentials": post(t, s, `{"grant_type":"client_credentials"}`),
	} {
		if r.Status < 400 || r.Status >= 500 || strings.Contains(r.Body, "access_token") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, r.Header.Get("Cache-Control"))
		}
	}
	if code := getBalance(t, s, ""); code == 200 {
		t.Error("balance without a token")
	}
}

// TestSecretChangeKillsTokens restarts on a persistent store with another
// secret: the old access and refresh tokens die with the old secret.
func TestSecretChangeKillsTokens(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "dc.db")
	s := start(t, "-store", db, "-client-id", pageID, "-client-secret", pageSecret)
	p := wantPair(t, post(t, s, credentials(pageID, pageSecret)))
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = start(t, "-store", db, "-client-id", pageID, "-client-secret", "another-secret")
	if code := getBalance(t, s, p.access); code != 401 {
		t.Errorf("access token of the old secret: %d", code)
	}
	if r := post(t, s, refreshBody(p.refresh)); r.Status != 400 || !strings.Contains(r.Body, "invalid_grant") {
		t.Errorf("refresh token of the old secret: %d %s", r.Status, r.Body)
	}
	if r := post(t, s, credentials(pageID, pageSecret)); r.Status != 401 {
		t.Errorf("old secret: %d", r.Status)
	}
	wantPair(t, post(t, s, credentials(pageID, "another-secret")))
}

// TestPrintedCommands pastes what the example prints into bash.
func TestPrintedCommands(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", `it's "secret" $HOME`)
	cmds := demotest.Commands(s.Output())
	if len(cmds) != 5 {
		t.Fatalf("commands %q in\n%s", cmds, s.Output())
	}
	out, _ := demotest.Shell(t, append(cmds[1:], `echo "REFRESH=$REFRESH"`))
	if strings.Count(out, `"token_type":"Bearer"`) != 2 || strings.Count(out, `{"amount":100,"currency":"usd"}`) != 2 ||
		!regexp.MustCompile(`(?m)^REFRESH=pcr_\w+$`).MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
	// Replaying the refresh line with the spent token: refused, visibly.
	out, errOut := demotest.Shell(t, []string{cmds[1], "OLD=$REFRESH", cmds[3], "REFRESH=$OLD", cmds[3], `echo "TOKEN=${TOKEN-unset}"`})
	if !strings.Contains(errOut, `request failed: {"error":"invalid_grant"`) || !strings.Contains(out, "TOKEN=unset") {
		t.Errorf("reuse:\nstdout %s\nstderr %s", out, errOut)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-client-secret", "x"}, {"-store", "nope"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestCredentialsPage checks the page is served and replays what it does
// for the demo account, whose login it prints: log in, make a named key,
// use it, delete it (its tokens die at once).
func TestCredentialsPage(t *testing.T) {
	const password = "correct horse battery staple"
	s := start(t, "-password", password)
	if out := s.Output(); !strings.Contains(out, s.URL+"/account/credentials\n  login:    demo\n  password: "+password+"\n") {
		t.Errorf("the page and the demo login are not printed:\n%s", out)
	}
	demotest.CheckCredentialsPage(t, s.URL, "/account/login", "/account/keys")

	login := demotest.Do(t, "POST", s.URL+"/account/login", nil,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("demo:"+password)))
	acct := demotest.WantJSON(t, login, 200, "access_token", "token_type", "expires_in")["access_token"].(string)
	bearer := "Bearer " + acct
	made := demotest.Do(t, "POST", s.URL+"/account/keys", strings.NewReader(`{"name":"billing cron job"}`),
		"Content-Type", "application/json", "Authorization", bearer)
	key := demotest.WantJSON(t, made, 201, "client_id", "client_secret", "name", "created_at")
	id, secret := key["client_id"].(string), key["client_secret"].(string)
	tok := wantPair(t, post(t, s, credentials(id, secret))).access
	if code := getBalance(t, s, tok); code != 200 {
		t.Fatalf("balance with the new key's token: %d", code)
	}
	if r := demotest.Do(t, "DELETE", s.URL+"/account/keys/"+id, nil, "Authorization", bearer); r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	if code := getBalance(t, s, tok); code != 401 {
		t.Errorf("balance with a deleted key's token: %d", code)
	}
}
