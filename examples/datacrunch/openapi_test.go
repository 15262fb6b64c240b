package main

import (
	"net/url"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// TestOpenAPI checks the committed openapi.json against the document the
// example serves, and the example's flows, refusals included, against it.
func TestOpenAPI(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)
	c := demotest.CheckOpenAPI(t, s, "datacrunch")
	want := demotest.WantStatus
	tokenURL := s.URL + "/v1/oauth2/token"
	credentials := `{"grant_type":"client_credentials","client_id":"` + pageID + `","client_secret":"` + pageSecret + `"}`
	r := want(t, "token", c.Do(demotest.Req("POST", tokenURL, credentials)), 200)
	refresh := demotest.Member(t, r, "refresh_token")
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"fullAccess"}}.Encode()
	basic := func(id, secret string) string {
		req := demotest.Req("POST", tokenURL, "")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return req.Header.Get("Authorization")
	}
	formCT := "application/x-www-form-urlencoded"
	want(t, "token, form and Basic", c.Do(demotest.Req("POST", tokenURL, form, "Content-Type", formCT, "Authorization", basic(pageID, pageSecret))), 200)
	refreshBody := `{"grant_type":"refresh_token","refresh_token":"` + refresh + `"}`
	want(t, "refresh", c.Do(demotest.Req("POST", tokenURL, refreshBody)), 200)
	want(t, "refresh again", c.Do(demotest.Req("POST", tokenURL, refreshBody)), 400)
	want(t, "wrong secret", c.Do(demotest.Req("POST", tokenURL, form, "Content-Type", formCT, "Authorization", basic(pageID, "wrong"))), 401)
	want(t, "unknown scope", c.Do(demotest.Req("POST", tokenURL,
		`{"grant_type":"client_credentials","client_id":"`+pageID+`","client_secret":"`+pageSecret+`","scope":"admin"}`)), 400)
	want(t, "unknown grant type", c.Nonconforming(demotest.Req("POST", tokenURL, `{"grant_type":"password"}`)), 400)
}
