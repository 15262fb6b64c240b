// Package demostore opens the store that an example's -store flag names:
// memory, SQLite, PostgreSQL, MySQL or Redis (the syntax is
// internal/storespec's, shared with the portcullis command). It is apart
// from package demo so that the examples that keep everything in memory do
// not link the SQL drivers and the Redis client.
package demostore

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/portcullis/portcullis/internal/storespec"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/redisstore"
)

// Flags are the -store and -redis-prefix flags of the examples that
// can keep their state in a database.
type Flags struct {
	Spec        string // -store: memory, sqlite:PATH, postgres://…, mysql://…, redis://…
	RedisPrefix string // -redis-prefix
}

// Register adds the flags to fs.
func (s *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&s.Spec, "store", "memory", storespec.Syntax)
	fs.StringVar(&s.RedisPrefix, "redis-prefix", redisstore.DefaultPrefix, "key prefix in Redis")
}

// Open opens the store the flags name. Persistent stores are migrated; the
// returned func closes what Open opened.
func (s Flags) Open(ctx context.Context) (store.Store, func(), error) {
	o, err := storespec.Open(ctx, s.Spec, storespec.Options{RedisPrefix: s.RedisPrefix, Migrate: true})
	if errors.Is(err, storespec.ErrUnknown) {
		return nil, func() {}, fmt.Errorf("unknown -store %q: want %s", s.Label(), storespec.Syntax)
	}
	if err != nil {
		return nil, func() {}, fmt.Errorf("-store: %w", err)
	}
	return o.Store, o.Close, nil
}

// Label names the store for printing without its DSN, which may hold a
// password.
func (s Flags) Label() string { return storespec.Label(s.Spec) }
