package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// TestOpenAPI checks the committed openapi.json against the document the
// example serves, and the example's flows, refusals included, against it.
func TestOpenAPI(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)
	c := demotest.CheckOpenAPI(t, s, "generic")
	want := demotest.WantStatus
	tokenURL := s.URL + "/token"
	want(t, "token", c.Do(demotest.Req("POST", tokenURL, pageBody)), 200)
	want(t, "wrong secret", c.Do(demotest.Req("POST", tokenURL, `{"clientId":"`+pageID+`","secret":"wrong"}`)), 401)
	want(t, "no secret", c.Nonconforming(demotest.Req("POST", tokenURL, `{"clientId":"`+pageID+`"}`)), 401)
	want(t, "HTTP Basic only", c.Nonconforming(demotest.Req("POST", tokenURL, `{}`, "Authorization", "Basic dGVzdENsaWVudDpzdXBlclNlY3JldA==")), 401)
}
