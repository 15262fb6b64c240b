package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
)

// resendHook sends every command twice and keeps the second reply, as
// go-redis does when the first reply is lost to a read timeout (it re-sends
// the command, MaxRetries times by default, and the server runs it again).
type resendHook struct{}

func (resendHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (resendHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := next(ctx, cmd); err != nil {
			return err // NOSCRIPT and the like: go-redis does not re-send those either
		}
		return next(ctx, cmd)
	}
}

func (resendHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestResentRefresh: with every command run twice, a create and a rotation
// of refresh tokens still succeed once and change nothing more, on a single
// server (one script) and as on a Cluster (the index claimed first). A bare
// consume does not survive it, which shows the hook does what a retry does.
func TestResentRefresh(t *testing.T) {
	for _, oneServer := range []bool{true, false} {
		name := "one server"
		if !oneServer {
			name = "cluster path"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			opt := dbtest.RedisOptions(t)
			rdb := newClient(t, opt)
			rdb.AddHook(resendHook{})
			s := newStore(t, rdb, dbtest.RedisPrefix(t))
			s.oneServer = oneServer
			now := time.Now()
			exp := now.Add(time.Hour)

			a := refreshToken("a", "fam", exp)
			if err := s.CreateRefreshToken(ctx, a); err != nil {
				t.Fatalf("CreateRefreshToken, sent twice: %v", err)
			}
			b := refreshToken("b", "fam", exp)
			if err := s.RotateRefreshToken(ctx, "a", b, now); err != nil {
				t.Fatalf("RotateRefreshToken, sent twice: %v", err)
			}
			old, err := s.GetRefreshToken(ctx, "a", now)
			if err != nil || old.UsedAt.IsZero() || old.ReplacedBy != "b" {
				t.Fatalf("rotated token: %+v, %v; want used, replaced by b", old, err)
			}
			if got, err := s.GetRefreshToken(ctx, "b", now); err != nil || !got.UsedAt.IsZero() {
				t.Fatalf("successor: %+v, %v; want it stored and unused", got, err)
			}
			// Another successor is still reuse, and stores nothing.
			c := refreshToken("c", "fam", exp)
			if err := s.RotateRefreshToken(ctx, "a", c, now); !errors.Is(err, store.ErrTokenReused) {
				t.Fatalf("RotateRefreshToken to another successor, sent twice: %v, want ErrTokenReused", err)
			}
			if n, _ := rdb.Exists(ctx, s.refreshIndexKey("c"), s.refreshTokenKey("fam", "c")).Result(); n != 0 {
				t.Errorf("a refused rotation left %d keys of its successor", n)
			}
			// An exchange sent twice answers as its first run did, and
			// stores its successor once.
			d := refreshToken("d", "fam", exp)
			if err := s.CreateRefreshToken(ctx, d); err != nil {
				t.Fatal(err)
			}
			x := &store.RefreshExchange{Hash: "d", Next: "e", Now: now, Kind: d.Kind, ClientID: d.ClientID,
				Scopes: d.Scopes, ExpiresAt: exp}
			got, err := s.ExchangeRefreshToken(ctx, x)
			if err != nil || got.UsedAt.IsZero() || got.ReplacedBy != "e" {
				t.Fatalf("ExchangeRefreshToken, sent twice: %+v, %v; want d used, replaced by e", got, err)
			}
			if got, err := s.GetRefreshToken(ctx, "e", now); err != nil || !got.UsedAt.IsZero() || got.FamilyID != "fam" {
				t.Fatalf("exchanged successor: %+v, %v; want it stored and unused", got, err)
			}
			// Later, the same exchange is a used token's: not found.
			x.Now = now.Add(time.Second)
			if _, err := s.ExchangeRefreshToken(ctx, x); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("ExchangeRefreshToken again, later: %v, want ErrNotFound", err)
			}
			// The consume script is not idempotent: its first use, sent
			// twice, reads as reuse. Rotation is what the issuer uses.
			if _, err := s.ConsumeRefreshToken(ctx, "b", now); !errors.Is(err, store.ErrTokenReused) {
				t.Errorf("ConsumeRefreshToken, sent twice: %v; want ErrTokenReused (is the hook re-sending?)", err)
			}
		})
	}
}

// TestResentChangeLog: with every command run twice, a revocation and a
// rotation are each logged once, on a single server (one script appends
// with the change) and as on a Cluster (a second script appends, guarded
// by its request marker).
func TestResentChangeLog(t *testing.T) {
	for _, oneServer := range []bool{true, false} {
		name := "one server"
		if !oneServer {
			name = "cluster path"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			rdb := newClient(t, dbtest.RedisOptions(t))
			rdb.AddHook(resendHook{})
			s := newStore(t, rdb, dbtest.RedisPrefix(t))
			s.oneServer = oneServer
			exp := time.Now().Add(time.Hour)
			if err := s.Revoke(ctx, "jti-1", exp); err != nil {
				t.Fatalf("Revoke, sent twice: %v", err)
			}
			c := &store.Client{ID: "c", SecretHash: []byte("h"), Generation: 1}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatalf("CreateClient, sent twice: %v", err)
			}
			rot := *c
			rot.Generation = 2
			if err := s.UpdateClient(ctx, &rot, 1); err != nil {
				t.Fatalf("UpdateClient, sent twice: %v", err)
			}
			log, _, err := s.Changes(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) != 2 || log[0].ID != "jti-1" || log[1].ID != "c" || log[1].Generation != 2 || log[1].Seq != log[0].Seq+1 {
				t.Errorf("change log = %+v; want jti-1 then c at generation 2, once each", log)
			}
		})
	}
}
