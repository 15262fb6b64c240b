package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/tokensource"
)

// TestClientLibrary: a customer's Go program, with the client library's
// OffBlocks dialect, calls the API; it reads the token's end from
// expiresAt and asks again with the key and secret.
func TestClientLibrary(t *testing.T) {
	demotest.CheckClient(t, demotest.ClientCheck{
		Run:  run,
		Args: []string{"-client-id", demoKey, "-client-secret", demoSecret},
		ID:   demoKey, Secret: demoSecret,
		Dialect:   tokensource.OffBlocks(),
		TokenPath: "/v1/auth/token",
		API:       "/v1/whoami",
	})
}
