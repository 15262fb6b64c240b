package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
)

// replyErr is an error as Redis answers it (go-redis' redis.Error).
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

func TestEvictionProblem(t *testing.T) {
	for _, c := range []struct {
		name    string
		reply   map[string]string
		err     error
		problem string // substring; "" for none
		fails   bool
	}{
		{"noeviction", map[string]string{"maxmemory-policy": "noeviction"}, nil, "", false},
		{"volatile-lru", map[string]string{"maxmemory-policy": "volatile-lru"}, nil, `"volatile-lru"`, false},
		{"allkeys-lru", map[string]string{"maxmemory-policy": "allkeys-lru"}, nil, `"allkeys-lru"`, false},
		{"empty reply", map[string]string{}, nil, "returned nothing", false},
		{"CONFIG renamed", nil, replyErr("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory-policy'"), "unknown command", false},
		{"ACL", nil, replyErr("NOPERM User app has no permissions to run the 'config|get' command"), "NOPERM", false},
		{"down", nil, errors.New("dial tcp 127.0.0.1:1: connection refused"), "", true},
	} {
		p, err := evictionProblem(c.reply, c.err)
		if (err != nil) != c.fails || (c.problem == "") != (p == "") || !strings.Contains(p, c.problem) {
			t.Errorf("%s: problem %q, err %v", c.name, p, err)
		}
	}
}

// fakeConfig answers CONFIG GET with reply or err instead of asking the
// server, so that a test never changes the shared Redis' policy.
type fakeConfig struct {
	reply map[string]string
	err   error
}

func (fakeConfig) DialHook(next redis.DialHook) redis.DialHook { return next }
func (fakeConfig) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (f fakeConfig) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c, ok := cmd.(*redis.MapStringStringCmd)
		if !ok || cmd.Name() != "config" {
			return next(ctx, cmd)
		}
		if f.err != nil {
			c.SetErr(f.err)
			return f.err
		}
		c.SetVal(f.reply)
		return nil
	}
}

func TestCheckStart(t *testing.T) {
	ctx := t.Context()
	rdb, prefix := dbtest.Redis(t)

	// One real read: CheckStart agrees with the server's current policy.
	s := newStore(t, rdb, prefix)
	policy, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := s.CheckStart(ctx)
	if policy["maxmemory-policy"] == "noeviction" {
		if err != nil || warnings != nil {
			t.Errorf("noeviction: %v, %v", warnings, err)
		}
	} else if !errors.Is(err, ErrEviction) {
		t.Errorf("policy %q: %v, want ErrEviction", policy["maxmemory-policy"], err)
	}

	// The rest with faked replies, on a client of its own.
	for _, c := range []struct {
		name string
		fake fakeConfig
	}{
		{"volatile-lru", fakeConfig{reply: map[string]string{"maxmemory-policy": "volatile-lru"}}},
		{"CONFIG disabled", fakeConfig{err: replyErr("ERR unknown command 'CONFIG'")}},
	} {
		client := newClient(t, rdb.Options())
		client.AddHook(c.fake)
		refuse := newStore(t, client, prefix)
		if _, err := refuse.CheckStart(ctx); !errors.Is(err, ErrEviction) || !strings.Contains(err.Error(), "EvictionWarn") {
			t.Errorf("%s, default: %v, want ErrEviction naming the option", c.name, err)
		}
		warn, err := New(client, WithPrefix(prefix), WithEvictionCheck(EvictionWarn))
		if err != nil {
			t.Fatal(err)
		}
		if w, err := warn.CheckStart(ctx); err != nil || len(w) != 1 {
			t.Errorf("%s, EvictionWarn: %v, %v, want one warning", c.name, w, err)
		}
	}

	// A Redis that cannot be reached fails whatever the option.
	down := newClient(t, &redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	warn, _ := New(down, WithEvictionCheck(EvictionWarn))
	if _, err := warn.CheckStart(ctx); err == nil || errors.Is(err, ErrEviction) {
		t.Errorf("unreachable Redis: %v", err)
	}
	if _, err := New(rdb, WithEvictionCheck(EvictionCheck(7))); err == nil {
		t.Error("New accepted an unknown EvictionCheck")
	}
}
