package main

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// TestOpenAPI checks the committed openapi.json against the document the
// quickstart serves, and its endpoints' flows, refusals included, against
// it.
func TestOpenAPI(t *testing.T) {
	const accountPassword = "correct horse battery staple"
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret,
		"-account", "ada", "-account-password", accountPassword)
	c := demotest.CheckOpenAPI(t, s, "quickstart")
	want := demotest.WantStatus
	formCT := "application/x-www-form-urlencoded"
	basic := func(id, secret string) string {
		r := demotest.Req("GET", s.URL, "")
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r.Header.Get("Authorization")
	}
	post := func(path string, form url.Values, header ...string) *http.Request {
		return demotest.Req("POST", s.URL+path, form.Encode(), append([]string{"Content-Type", formCT}, header...)...)
	}
	creds := basic(demoID, demoSecret)

	want(t, "metadata", c.Do(demotest.Req("GET", s.URL+"/.well-known/oauth-authorization-server", "")), 200)
	want(t, "jwks", c.Do(demotest.Req("GET", s.URL+"/.well-known/jwks.json", "")), 200)
	r := want(t, "token", c.Do(post("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, "Authorization", creds)), 200)
	tok := demotest.Member(t, r, "access_token")
	want(t, "wrong secret", c.Do(post("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic(demoID, "wrong"))), 401)
	want(t, "unknown scope", c.Do(post("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, "Authorization", creds)), 400)
	want(t, "no grant type", c.Nonconforming(post("/oauth/token", url.Values{}, "Authorization", creds)), 400)
	in := want(t, "introspect", c.Do(post("/oauth/introspect", url.Values{"token": {tok}}, "Authorization", creds)), 200)
	if !strings.Contains(in.Body, `"active":true`) {
		t.Errorf("introspection: %s", in.Body)
	}
	want(t, "revoke", c.Do(post("/oauth/revoke", url.Values{"token": {tok}}, "Authorization", creds)), 200)
	// Self-rotation is off in the quickstart (Paths.Credentials), so the
	// document has no /oauth/credentials.

	acct := "Bearer " + demotest.Member(t, want(t, "login",
		c.Do(demotest.Req("POST", s.URL+"/account/login", "", "Authorization", "Basic "+b64("ada:"+accountPassword))), 200), "access_token")
	want(t, "login, wrong password", c.Do(demotest.Req("POST", s.URL+"/account/login", "", "Authorization", "Basic "+b64("ada:wrong"))), 401)
	made := want(t, "make a key", c.Do(demotest.Req("POST", s.URL+"/account/keys", `{"name":"laptop"}`, "Authorization", acct)), 201)
	want(t, "list the keys", c.Do(demotest.Req("GET", s.URL+"/account/keys", "", "Authorization", acct)), 200)
	id := demotest.Member(t, made, "client_id")
	want(t, "delete a key", c.Do(demotest.Req("DELETE", s.URL+"/account/keys/"+url.PathEscape(id), "", "Authorization", acct)), 204)
	want(t, "delete it again", c.Do(demotest.Req("DELETE", s.URL+"/account/keys/"+url.PathEscape(id), "", "Authorization", acct)), 404)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
