package redisstore_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/redisstore"
)

// A store over one Redis server, shared by every replica of the issuer.
// (No Output: it needs a server.)
func Example() {
	ctx := context.Background()
	// The application owns the client, its pool, TLS and credentials, and
	// closes it; the store never does.
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()

	// Give each application (or tenant) its own prefix: stores with
	// different prefixes share nothing, not even events.
	st, err := redisstore.New(rdb, redisstore.WithPrefix("myapp:auth:"))
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		// Fail closed: without the store, no token can be checked.
		log.Fatal(err)
	}

	// Two replicas refreshing with one token at once: exactly one wins.
	now := time.Now()
	rt := &store.RefreshToken{
		Hash:     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", // store hashes, never tokens
		FamilyID: "family-1",
		Grant:    store.Grant{Kind: "account", Subject: "acct-1", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
	}
	if err := st.CreateRefreshToken(ctx, rt); err != nil {
		log.Fatal(err)
	}
	if _, err := st.ConsumeRefreshToken(ctx, rt.Hash, now); errors.Is(err, store.ErrTokenReused) {
		// Someone presented a used token: treat the family as stolen.
		_ = st.RevokeRefreshFamily(ctx, rt.FamilyID)
	}

	// Drop cached verifications as soon as any replica revokes or rotates.
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	err = st.Watch(watchCtx, func(e store.Event) {
		log.Printf("invalidate %s %s (generation %d)", e.Kind, e.ID, e.Generation)
	})
	if err != nil {
		log.Fatal(err)
	}
}

// On Redis Cluster the same code runs unchanged: keys that one script
// touches share a hash tag, so every script stays within one slot.
func Example_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
	})
	defer rdb.Close()
	st, err := redisstore.New(rdb)
	if err != nil {
		log.Fatal(err)
	}
	_ = st // hand st to the issuer and the middleware
}
