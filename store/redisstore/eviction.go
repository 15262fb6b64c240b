package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// EvictionCheck says what [Store.CheckStart] does when Redis may evict
// keys, or will not say whether it may. Revocations, rotated generations and
// used refresh tokens are keys with a TTL: a policy such as volatile-lru or
// allkeys-lru drops them under memory pressure, and a revoked token is
// accepted again, a used refresh token is taken as new. Only noeviction
// (writes fail instead, and the issuer answers 503) is safe.
type EvictionCheck int

const (
	// EvictionRefuse, the default, makes CheckStart fail unless every
	// master's maxmemory-policy is noeviction, or when the policy cannot be
	// read (CONFIG disabled or renamed, as on many managed services, or
	// forbidden by ACL).
	EvictionRefuse EvictionCheck = iota
	// EvictionWarn makes CheckStart return warnings instead: for a Redis
	// whose policy you have set to noeviction by other means (a managed
	// service's parameter group) but that hides CONFIG, or when you accept
	// the risk.
	EvictionWarn
)

// WithEvictionCheck sets what [Store.CheckStart] does about Redis' eviction
// policy (default [EvictionRefuse]).
func WithEvictionCheck(c EvictionCheck) Option {
	return optionFunc(func(o *options) { o.eviction = c })
}

// ErrEviction is returned, wrapped, by [Store.CheckStart] when Redis may
// evict keys, or when its policy cannot be read, under [EvictionRefuse].
var ErrEviction = errors.New("redisstore: Redis may evict keys")

// CheckStart implements store.StartChecker: the issuer calls it once in
// issuer.New. It reads maxmemory-policy (with CONFIG GET, on every master
// of a Cluster) and, unless it is noeviction, fails with [ErrEviction] or,
// under [WithEvictionCheck](EvictionWarn), returns a warning. A Redis that
// cannot be reached is an error either way.
func (s *Store) CheckStart(ctx context.Context) (warnings []string, err error) {
	var problems []string
	check := func(ctx context.Context, c redis.Cmdable) error {
		p, err := evictionProblem(c.ConfigGet(ctx, "maxmemory-policy").Result())
		if p != "" {
			problems = append(problems, p)
		}
		return err
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs fn concurrently
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return check(ctx, c)
		})
	} else {
		err = check(ctx, s.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: reading maxmemory-policy: %w", err)
	}
	if len(problems) == 0 {
		return nil, nil
	}
	if s.eviction == EvictionWarn {
		return problems, nil
	}
	return nil, fmt.Errorf("%w: %s (set maxmemory-policy noeviction; or, if it is set by other means, pass redisstore.WithEvictionCheck(redisstore.EvictionWarn))",
		ErrEviction, strings.Join(problems, "; "))
}

// evictionProblem reads the reply to CONFIG GET maxmemory-policy: "" when
// the policy is noeviction, else what is wrong. err is only a failure to
// talk to Redis; a reply that refuses CONFIG is a problem, not an error.
func evictionProblem(reply map[string]string, err error) (problem string, _ error) {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return fmt.Sprintf("maxmemory-policy cannot be read (%v), so eviction cannot be ruled out", err), nil
	}
	if err != nil {
		return "", err
	}
	policy, ok := reply["maxmemory-policy"]
	switch {
	case !ok:
		return "maxmemory-policy cannot be read (CONFIG GET returned nothing), so eviction cannot be ruled out", nil
	case policy != "noeviction":
		return fmt.Sprintf("maxmemory-policy is %q: revocations and used refresh tokens may be evicted, and revoked tokens accepted again", policy), nil
	}
	return "", nil
}
