package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// TestOpenAPI checks the committed openapi.json against the document the
// example serves, and the example's flows, refusals included, against it.
func TestOpenAPI(t *testing.T) {
	s := start(t)
	c := demotest.CheckOpenAPI(t, s, "bloq")
	want := demotest.WantStatus
	loginURL, tokenURL, keysURL := s.URL+"/auth/login", s.URL+"/auth/token", s.URL+"/users/me/client-keys"

	want(t, "login, wrong password", c.Do(demotest.Req("POST", loginURL, "", "Authorization", basicAuth(user, "wrong password"))), 401)
	want(t, "login without credentials", c.Nonconforming(demotest.Req("POST", loginURL, "")), 401)
	acct := "Bearer " + demotest.Member(t, want(t, "login", c.Do(demotest.Req("POST", loginURL, "", "Authorization", basicAuth(email, password))), 200), "accessToken")

	creds := `{"grantType":"clientCredentials","clientId":"` + keyID + `","clientSecret":"` + keySecret + `"}`
	r := want(t, "token", c.Do(demotest.Req("POST", tokenURL, creds)), 200)
	refresh := `{"grantType":"refreshToken","refreshToken":"` + demotest.Member(t, r, "refreshToken") + `"}`
	want(t, "token beside the account token", c.Do(demotest.Req("POST", tokenURL, creds, "Authorization", acct)), 200)
	want(t, "refresh", c.Do(demotest.Req("POST", tokenURL, refresh)), 200)
	want(t, "refresh again", c.Do(demotest.Req("POST", tokenURL, refresh)), 400)
	want(t, "wrong secret", c.Do(demotest.Req("POST", tokenURL,
		`{"grantType":"clientCredentials","clientId":"`+keyID+`","clientSecret":"wrong"}`)), 401)
	want(t, "an OAuth grant type", c.Nonconforming(demotest.Req("POST", tokenURL,
		`{"grantType":"client_credentials","clientId":"`+keyID+`","clientSecret":"`+keySecret+`"}`)), 400)

	made := want(t, "make a key", c.Do(demotest.Req("POST", keysURL, "", "Authorization", acct)), 200)
	want(t, "make a named key", c.Do(demotest.Req("POST", keysURL, `{"name":"ci"}`, "Authorization", acct)), 200)
	want(t, "list the keys", c.Do(demotest.Req("GET", keysURL, "", "Authorization", acct)), 200)
	id := demotest.Member(t, made, "clientId")
	client := "Bearer " + demotest.Member(t, c.Do(demotest.Req("POST", tokenURL,
		`{"grantType":"clientCredentials","clientId":"`+id+`","clientSecret":"`+demotest.Member(t, made, "clientSecret")+`"}`)), "accessToken")
	want(t, "keys with a client token", c.Do(demotest.Req("GET", keysURL, "", "Authorization", client)), 401)
	want(t, "keys without a token", c.Nonconforming(demotest.Req("GET", keysURL, "")), 401)
	want(t, "delete a key", c.Do(demotest.Req("DELETE", keysURL+"/"+id, "", "Authorization", acct)), 204)
	want(t, "delete it again", c.Do(demotest.Req("DELETE", keysURL+"/"+id, "", "Authorization", acct)), 404)
}
