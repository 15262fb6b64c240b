// Package dbtest gives each test a database of its own on the servers that
// [testenv] names: a fresh PostgreSQL schema, MySQL database, SQLite file or
// Redis key prefix, removed when the test ends. Only tests import it: it
// links the pgx, MySQL and SQLite drivers and go-redis.
//
// # Isolation
//
// PostgreSQL tests get a schema of their own, reached through search_path
// in the DSN (pgx sends unknown DSN keys to the server as run-time
// parameters, so every connection of a pool lands in it). MySQL tests get a
// database of their own, SQLite tests a file in t.TempDir(), Redis tests a
// key prefix whose keys are deleted afterwards (from every master of the
// Redis Cluster that PORTCULLIS_TEST_REDIS_CLUSTER names). Handles a test opens after
// asking for its DSN are closed first: cleanups run last-in, first-out.
//
// # Missing or unreachable servers
//
// Without its variable, a server's tests skip, and fail under CI=true (see
// [testenv.Require]); benchmarks always just skip. A server that does not
// answer is asked once per test binary: later tests skip (or fail under
// CI=true) at once instead of trying to connect again.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/portcullis/portcullis/internal/testenv"
)

// PostgresDSN creates an empty schema and returns a DSN whose connections
// use it; the schema is dropped with everything in it when tb ends.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := require(tb, testenv.Postgres)
	adm := sqlAdmin(tb, testenv.Postgres, "pgx", dsn)
	schema := Name(tb)
	if _, err := adm.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := adm.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Error(err)
		}
	})
	if !strings.Contains(dsn, "://") { // keyword/value form
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres opens a *sql.DB (driver "pgx") on a fresh schema, see
// [PostgresDSN].
func Postgres(tb testing.TB) *sql.DB {
	tb.Helper()
	return Open(tb, "pgx", PostgresDSN(tb))
}

// MySQLDSN creates an empty database and returns a DSN that uses it; the
// database is dropped when tb ends.
func MySQLDSN(tb testing.TB) string {
	tb.Helper()
	dsn := require(tb, testenv.MySQL)
	adm := sqlAdmin(tb, testenv.MySQL, "mysql", dsn)
	name := Name(tb)
	if _, err := adm.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := adm.Exec("DROP DATABASE " + name); err != nil {
			tb.Error(err)
		}
	})
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MySQL opens a *sql.DB (driver "mysql") on a fresh database, see
// [MySQLDSN].
func MySQL(tb testing.TB) *sql.DB {
	tb.Helper()
	return Open(tb, "mysql", MySQLDSN(tb))
}

// SQLiteDSN returns the DSN of a new database file in tb.TempDir(). WAL and
// busy_timeout let several handles on it (replicas, concurrent migrations)
// write without "database is locked".
func SQLiteDSN(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "portcullis.db")
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// SQLite opens a *sql.DB (driver "sqlite") on a new file, see [SQLiteDSN].
func SQLite(tb testing.TB) *sql.DB {
	tb.Helper()
	return Open(tb, "sqlite", SQLiteDSN(tb))
}

// Open opens dsn with driver and closes it when tb ends, before the schema
// or database it uses is dropped.
func Open(tb testing.TB, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// RedisURL returns the Redis server's URL from PORTCULLIS_TEST_REDIS, once
// it has answered.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	u, _ := redisAdmin(tb)
	return u
}

// RedisOptions returns the options of [RedisURL], a copy of its own that
// the caller may change, to open clients with.
func RedisOptions(tb testing.TB) *redis.Options {
	tb.Helper()
	u := RedisURL(tb)
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("%s: %v", testenv.Redis.EnvVar, err)
	}
	return opt
}

// RedisPrefix returns a new key prefix, "pctest:" + 16 hex digits + ":",
// and deletes every key under it when tb ends. It holds no glob or hash-tag
// characters, so it can go into SCAN patterns and redisstore.WithPrefix as
// it is.
func RedisPrefix(tb testing.TB) string {
	tb.Helper()
	_, rdb := redisAdmin(tb)
	return redisPrefix(tb, func(ctx context.Context, fn func(context.Context, *redis.Client) error) error {
		return fn(ctx, rdb)
	})
}

// redisPrefix makes a new prefix and deletes its keys on every node that
// each visits when tb ends.
func redisPrefix(tb testing.TB, each func(context.Context, func(context.Context, *redis.Client) error) error) string {
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "pctest:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		err := each(context.Background(), func(ctx context.Context, rdb *redis.Client) error {
			iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				if err := rdb.Unlink(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		})
		if err != nil {
			tb.Errorf("clean up %s: %v", prefix, err)
		}
	})
	return prefix
}

// Redis opens a client of its own, closed when tb ends, and returns it with
// a fresh key prefix (see [RedisPrefix]).
func Redis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	prefix := RedisPrefix(tb) // first, so that its keys go after the client closes
	rdb := redis.NewClient(RedisOptions(tb))
	tb.Cleanup(func() { rdb.Close() })
	return rdb, prefix
}

// RedisClusterOptions returns options for a client of the Redis Cluster
// that PORTCULLIS_TEST_REDIS_CLUSTER names (see [ParseClusterAddrs]), once
// it has answered; a copy of its own that the caller may change.
func RedisClusterOptions(tb testing.TB) *redis.ClusterOptions {
	tb.Helper()
	opt, _ := redisClusterAdmin(tb)
	return &redis.ClusterOptions{Addrs: slices.Clone(opt.Addrs)}
}

// RedisClusterPrefix is [RedisPrefix] on the cluster: the keys under the
// prefix are deleted from every master when tb ends.
func RedisClusterPrefix(tb testing.TB) string {
	tb.Helper()
	_, rdb := redisClusterAdmin(tb)
	return redisPrefix(tb, func(ctx context.Context, fn func(context.Context, *redis.Client) error) error {
		return rdb.ForEachMaster(ctx, fn)
	})
}

// RedisCluster opens a cluster client of its own, closed when tb ends, and
// returns it with a fresh key prefix (see [RedisClusterPrefix]).
func RedisCluster(tb testing.TB) (*redis.ClusterClient, string) {
	tb.Helper()
	prefix := RedisClusterPrefix(tb)
	rdb := redis.NewClusterClient(RedisClusterOptions(tb))
	tb.Cleanup(func() { rdb.Close() })
	return rdb, prefix
}

// ParseClusterAddrs splits PORTCULLIS_TEST_REDIS_CLUSTER's value: host:port
// pairs separated by commas, where a bare port takes the host of the entry
// before it ("127.0.0.1:7000,7001,7002").
func ParseClusterAddrs(v string) ([]string, error) {
	var addrs []string
	host := ""
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if h, _, err := net.SplitHostPort(f); err == nil {
			host = h
			addrs = append(addrs, f)
			continue
		}
		if _, err := strconv.ParseUint(f, 10, 16); err != nil || host == "" {
			return nil, fmt.Errorf("%q is neither host:port nor a port after one", f)
		}
		addrs = append(addrs, net.JoinHostPort(host, f))
	}
	if len(addrs) == 0 {
		return nil, errors.New("no address")
	}
	return addrs, nil
}

// Name returns a new name for a schema or database: "pc_test_" and 16 hex
// digits, valid unquoted in every dialect.
func Name(tb testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "pc_test_" + hex.EncodeToString(b)
}

// require returns the server's connection string. Tests skip without it
// (and fail under CI=true, see testenv); benchmarks always just skip, as a
// measurement is never a gate.
func require(tb testing.TB, env testenv.Backend) string {
	tb.Helper()
	if _, ok := tb.(*testing.B); ok {
		v := os.Getenv(env.EnvVar)
		if v == "" {
			tb.Skip(env.Name + " benchmarks need " + env.EnvVar)
		}
		return v
	}
	return testenv.Require(tb, env)
}

// admins holds one administrative connection per server for the whole test
// binary, to create and drop schemas and databases and to delete Redis
// keys, or the error of a server that did not answer.
var admins struct {
	sync.Mutex
	conns map[string]any // *sql.DB or *redis.Client, by testenv.Backend.Name
	errs  map[string]error
}

// admin returns the administrative connection to env's server, opening it
// on first use. A server that did not answer makes the test skip (fail under
// CI=true), now and in every later test.
func admin[T any](tb testing.TB, env testenv.Backend, open func(context.Context) (T, error)) T {
	tb.Helper()
	admins.Lock()
	c, ok := admins.conns[env.Name].(T)
	err := admins.errs[env.Name]
	if !ok && err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err = open(ctx)
		cancel()
		if admins.conns == nil {
			admins.conns, admins.errs = map[string]any{}, map[string]error{}
		}
		if err != nil {
			admins.errs[env.Name] = err
		} else {
			admins.conns[env.Name] = c
		}
	}
	admins.Unlock()
	if err != nil {
		testenv.Unreachable(tb, env, err)
	}
	return c
}

func sqlAdmin(tb testing.TB, env testenv.Backend, driver, dsn string) *sql.DB {
	tb.Helper()
	return admin(tb, env, func(ctx context.Context) (*sql.DB, error) {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	})
}

// redisAdmin returns the server's URL and the administrative client.
func redisAdmin(tb testing.TB) (string, *redis.Client) {
	tb.Helper()
	u := require(tb, testenv.Redis)
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("%s: %v", testenv.Redis.EnvVar, err)
	}
	return u, admin(tb, testenv.Redis, func(ctx context.Context) (*redis.Client, error) {
		rdb := redis.NewClient(opt)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return nil, err
		}
		return rdb, nil
	})
}

// redisClusterAdmin returns the cluster's options and the administrative
// client. The cluster must answer with cluster_state:ok.
func redisClusterAdmin(tb testing.TB) (*redis.ClusterOptions, *redis.ClusterClient) {
	tb.Helper()
	v := require(tb, testenv.RedisCluster)
	addrs, err := ParseClusterAddrs(v)
	if err != nil {
		tb.Fatalf("%s: %v", testenv.RedisCluster.EnvVar, err)
	}
	opt := &redis.ClusterOptions{Addrs: addrs}
	return opt, admin(tb, testenv.RedisCluster, func(ctx context.Context) (*redis.ClusterClient, error) {
		rdb := redis.NewClusterClient(opt)
		info, err := rdb.ClusterInfo(ctx).Result()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = fmt.Errorf("not a healthy cluster: %q", info)
		}
		if err != nil {
			rdb.Close()
			return nil, err
		}
		return rdb, nil
	})
}
