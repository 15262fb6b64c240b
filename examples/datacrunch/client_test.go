package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/tokensource"
)

// TestClientLibrary: a customer's Go program, with the client library's
// DataCrunch dialect, calls the API; it refreshes with the refresh token
// the API issues, and falls back to its credentials when that is refused.
func TestClientLibrary(t *testing.T) {
	demotest.CheckClient(t, demotest.ClientCheck{
		Run:  run,
		Args: []string{"-client-id", pageID, "-client-secret", pageSecret},
		ID:   pageID, Secret: pageSecret,
		Dialect:   tokensource.DataCrunch(),
		TokenPath: "/v1/oauth2/token",
		API:       "/v1/balance",
		Refresh:   true,
	})
}
