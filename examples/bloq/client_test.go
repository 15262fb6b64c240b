package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/tokensource"
)

// TestClientLibrary: a customer's Go program, with the client library's
// Bloq dialect and the account's demo key, calls the Nodes API; it reads
// the token's lifetime from the JWT (the answer gives none), refreshes
// with the refresh token alone, and falls back to the key when that is
// refused.
func TestClientLibrary(t *testing.T) {
	demotest.CheckClient(t, demotest.ClientCheck{
		Run: run,
		Args: []string{"-user", user, "-email", email, "-password", password,
			"-client-id", keyID, "-client-secret", keySecret},
		ID: keyID, Secret: keySecret,
		Dialect:   tokensource.Bloq(),
		TokenPath: "/auth/token",
		API:       "/nodes/v1/status",
		Refresh:   true,
	})
}
