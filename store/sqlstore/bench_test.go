package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/portcullis/portcullis/store"
)

// The hot paths: a client lookup per token request, a revocation check per
// verified JWT (when not cached), a consume per refresh. Each sub-benchmark
// (postgres, mysql, sqlite) skips when its server variable is unset; sqlite
// always runs, on a file in a temporary directory.

func forEachB(b *testing.B, f func(b *testing.B, be backend)) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { f(b, be) })
	}
}

func BenchmarkGetClient(b *testing.B) {
	forEachB(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		st := newStore(b, be)
		c := &store.Client{
			ID: "3f2a9c0d1e", SecretHash: make([]byte, 32), Name: "reports",
			Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example.com"},
			Generation: 1, CreatedAt: now, UpdatedAt: now, Metadata: map[string]string{"team": "ops"},
		}
		if err := st.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.GetClient(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkIsRevoked(b *testing.B) {
	forEachB(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		st := newStore(b, be)
		for i := range 1000 {
			if err := st.Revoke(ctx, fmt.Sprintf("jti-%d", i), farFuture); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// Alternate a revoked and a clean id: both answers cost one lookup.
			id := "jti-500"
			if i++; i%2 == 0 {
				id = "jti-clean"
			}
			if _, err := st.IsRevoked(ctx, id, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkConsumeRefreshToken(b *testing.B) {
	forEachB(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		st := newStore(b, be)
		hashes := make([]string, b.N)
		for i := range hashes {
			hashes[i] = fmt.Sprintf("%064x", i)
			t := &store.RefreshToken{Hash: hashes[i], FamilyID: "family", Grant: store.Grant{
				Kind: "refresh", Subject: "client-1", ClientID: "client-1",
				Scopes: []string{"read"}, Audience: []string{"https://api.example.com"},
				Generation: 1, IssuedAt: now, ExpiresAt: farFuture,
			}}
			if err := st.CreateRefreshToken(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := st.ConsumeRefreshToken(ctx, hashes[i], now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
