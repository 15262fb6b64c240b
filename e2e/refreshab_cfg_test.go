package e2e

// This tree's side of refreshab_test.go: its issuer.Config. The client
// cache is on (its default), as a deployment would have it.

import (
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

const abTree = "main"

func abIssuer(tb testing.TB, st store.Store) *issuer.Issuer {
	iss, err := issuer.New(issuer.Config{
		Issuer: issuerID, Store: st, Scopes: scopes, Algorithm: issuer.EdDSA,
		Logger: abLogger(), SweepInterval: -1,
		Refresh: issuer.RefreshConfig{Enabled: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}
