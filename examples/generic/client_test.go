package main

import (
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/tokensource"
)

// TestClientLibrary: a customer's Go program, with the client library's
// generic dialect, calls the API with the opaque tokens it issues.
func TestClientLibrary(t *testing.T) {
	demotest.CheckClient(t, demotest.ClientCheck{
		Run:  run,
		Args: []string{"-client-id", pageID, "-client-secret", pageSecret},
		ID:   pageID, Secret: pageSecret,
		Dialect:   tokensource.Generic(),
		TokenPath: "/token",
		API:       "/api/collections",
	})
}
