package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/tokensource"
)

// TestClientLibrary: a Go program with the client library's default
// dialect (OAuth 2.0: a form body, HTTP Basic with form-encoded
// credentials) calls the guarded route.
func TestClientLibrary(t *testing.T) {
	demotest.CheckClient(t, demotest.ClientCheck{
		Run:  run,
		Args: []string{"-client-id", demoID, "-client-secret", demoSecret},
		ID:   demoID, Secret: demoSecret,
		Dialect:   tokensource.OAuth2(),
		TokenPath: "/oauth/token",
		API:       "/v1/whoami",
	})
}
