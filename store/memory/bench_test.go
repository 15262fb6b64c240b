package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

var benchNow = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// benchClients returns a store holding n realistic clients and their ids.
func benchClients(b *testing.B, n int) (*memory.Store, []string) {
	b.Helper()
	s := memory.New()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i)
		err := s.CreateClient(context.Background(), &store.Client{
			ID:         ids[i],
			SecretHash: make([]byte, 32),
			Name:       "client",
			Scopes:     []string{"read", "write"},
			Audiences:  []string{"https://api.example.com"},
			Generation: 1,
			CreatedAt:  benchNow,
			UpdatedAt:  benchNow,
			Metadata:   map[string]string{"team": "payments"},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

func BenchmarkGetClient(b *testing.B) {
	s, ids := benchClients(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GetClient(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetClientParallel(b *testing.B) {
	s, ids := benchClients(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetClient(ctx, ids[i%len(ids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkConsumeRefreshToken consumes fresh tokens from a store of a few
// thousand; refilling the store is left out of the timing.
func BenchmarkConsumeRefreshToken(b *testing.B) {
	const batch = 4096
	hashes := make([]string, batch)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("%064x", i)
	}
	ctx := context.Background()
	var s *memory.Store
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			s = memory.New()
			for _, h := range hashes {
				err := s.CreateRefreshToken(ctx, &store.RefreshToken{
					Hash:     h,
					FamilyID: h[:16],
					Grant: store.Grant{
						Kind: "account", Subject: "acct", ClientID: "client",
						Scopes: []string{"read", "offline_access"}, Audience: []string{"https://api.example.com"},
						IssuedAt: benchNow, ExpiresAt: benchNow.Add(time.Hour),
					},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		if _, err := s.ConsumeRefreshToken(ctx, hashes[i%batch], benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRevoked returns a store with n revocations and ids to look up: half
// revoked, half not, as a guard sees them.
func benchRevoked(b *testing.B, n int) (*memory.Store, []string) {
	b.Helper()
	s := memory.New()
	ids := make([]string, 2*n)
	for i := range ids {
		ids[i] = fmt.Sprintf("jti-%d", i)
		if i%2 == 0 {
			if err := s.Revoke(context.Background(), ids[i], benchNow.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return s, ids
}

func BenchmarkIsRevoked(b *testing.B) {
	s, ids := benchRevoked(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.IsRevoked(ctx, ids[i%len(ids)], benchNow); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkIsRevokedParallel(b *testing.B) {
	s, ids := benchRevoked(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.IsRevoked(ctx, ids[i%len(ids)], benchNow); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
