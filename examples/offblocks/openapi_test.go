package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// TestOpenAPI checks the committed openapi.json against the document the
// example serves, and the example's flows, refusals included, against it.
func TestOpenAPI(t *testing.T) {
	s := start(t, "-client-id", demoKey, "-client-secret", demoSecret)
	c := demotest.CheckOpenAPI(t, s, "offblocks")
	want := demotest.WantStatus
	tokenURL, credsURL := s.URL+"/v1/auth/token", s.URL+"/v1/auth/credentials"
	token := func(key, secret string) string {
		t.Helper()
		return demotest.Member(t, want(t, "token", c.Do(demotest.Req("POST", tokenURL, body(key, secret))), 200), "token")
	}
	tok := token(demoKey, demoSecret)
	want(t, "wrong secret", c.Do(demotest.Req("POST", tokenURL, body(demoKey, "wrong"))), 401)
	want(t, "no secret", c.Nonconforming(demotest.Req("POST", tokenURL, `{"apiKey":"`+demoKey+`"}`)), 401)
	want(t, "a form", c.Nonconforming(demotest.Req("POST", tokenURL, "apiKey=a&apiSecret=b",
		"Content-Type", "application/x-www-form-urlencoded")), 400)
	want(t, "PUT without a token", c.Nonconforming(demotest.Req("PUT", credsURL, body("k2", newSecret))), 401)
	want(t, "PUT a weak secret", c.Nonconforming(demotest.Req("PUT", credsURL, body("k2", "short"), "Authorization", "Bearer "+tok)), 400)
	want(t, "PUT", c.Do(demotest.Req("PUT", credsURL, body("k2", newSecret), "Authorization", "Bearer "+tok)), 204)
	want(t, "PUT with a dead token", c.Do(demotest.Req("PUT", credsURL, body("k3", newSecret), "Authorization", "Bearer "+tok)), 401)
	want(t, "DELETE", c.Do(demotest.Req("DELETE", credsURL, "", "Authorization", "Bearer "+token("k2", newSecret))), 204)
}
