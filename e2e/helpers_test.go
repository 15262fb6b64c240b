package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/redisstore"
	"github.com/portcullis/portcullis/store/sqlstore"
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch"
)

// issuerID is the issuer identifier of every test server: replicas behind a
// load balancer share one, whatever their own addresses.
const issuerID = "https://auth.e2e.example"

// scopes the test servers know.
var scopes = []string{"read", "write"}

// server is one replica: an issuer, a guard over its verifier, and an
// httptest server with the issuer's endpoints and GET /v1/whoami.
type server struct {
	iss *issuer.Issuer
	srv *httptest.Server
}

// newServer starts a replica over st until t ends. mod adjusts its Config.
func newServer(t *testing.T, st store.Store, clk *tokentest.Clock, mod ...func(*issuer.Config)) *server {
	t.Helper()
	cfg := issuer.Config{Issuer: issuerID, Store: st, Scopes: scopes}
	if clk != nil {
		cfg.Now = clk.Now
	}
	for _, m := range mod {
		m(&cfg)
	}
	iss, err := issuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("GET /v1/whoami", httpauth.Protect(guard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpauth.Principal(r)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p)
	})))
	s := &server{iss: iss, srv: httptest.NewServer(mux)}
	t.Cleanup(s.srv.Close)
	return s
}

// client creates a client at s and returns its id and secret.
func (s *server) client(t *testing.T, spec issuer.ClientSpec) (string, string) {
	t.Helper()
	c, secret, err := s.iss.CreateClient(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

func (s *server) cc(id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     id,
		ClientSecret: secret,
		TokenURL:     s.srv.URL + s.iss.Paths().Token,
		AuthStyle:    style,
		Scopes:       scopes,
	}
}

// token gets an access token from s with x/oauth2, or fails the test.
func (s *server) token(t *testing.T, id, secret string) string {
	t.Helper()
	tok, err := s.cc(id, secret, oauth2.AuthStyleInHeader).Token(context.Background())
	if err != nil {
		t.Fatalf("token for %q: %v", id, err)
	}
	return tok.AccessToken
}

// result is what the guarded route answered.
type result struct {
	status    int
	challenge string // WWW-Authenticate
	principal middleware.Principal
}

func (r result) refused() bool {
	return r.status == http.StatusUnauthorized && strings.Contains(r.challenge, `error="invalid_token"`)
}

// whoami calls the guarded route of s with tok.
func (s *server) whoami(t *testing.T, tok string) result {
	t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	if r.status == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&r.principal); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// mustAccept fails the test unless s's guard accepts tok for client id.
func (s *server) mustAccept(t *testing.T, tok, id string) {
	t.Helper()
	if r := s.whoami(t, tok); r.status != http.StatusOK || r.principal.ClientID != id {
		t.Fatalf("guard refused a valid token: %d %q", r.status, r.challenge)
	}
}

// mustRefuse fails the test unless s's guard answers 401 invalid_token.
func (s *server) mustRefuse(t *testing.T, tok, why string) {
	t.Helper()
	if r := s.whoami(t, tok); !r.refused() {
		t.Fatalf("%s: guard answered %d %q, want 401 invalid_token", why, r.status, r.challenge)
	}
}

// revoke revokes tok at s with RFC 7009, authenticating as the client.
func (s *server) revoke(t *testing.T, id, secret, tok string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+s.iss.Paths().Revocation,
		strings.NewReader(url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// invalidClient reports whether err is the token endpoint's invalid_client.
func invalidClient(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_client"
}

// A backend makes fresh, isolated stores for one test.
type backend struct {
	name string
	// fresh makes an empty, migrated store for t and returns a func that
	// opens a new handle on it, as another replica would (its own
	// connection pool or client). Everything goes away when t ends.
	fresh func(t testing.TB) func() store.Store
	// pushes is true when the store implements store.Watcher across
	// handles, so that changes reach other replicas at once.
	pushes bool
}

var backends = []backend{
	{"memory", freshMemory, true},
	{"postgres", freshPostgres, false},
	{"postgres-listen", freshPostgresListen, true},
	{"redis", freshRedis, true},
	{"redis-cluster", freshRedisCluster, true},
	{"mysql", freshMySQL, false},
	{"sqlite", freshSQLite, false},
}

// forEachBackend runs f as a subtest per backend, named after it.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// freshMemory shares one in-memory store among all "replicas" of the test,
// the only way several issuers can share memory.
func freshMemory(t testing.TB) func() store.Store {
	st := memory.New()
	return func() store.Store { return st }
}

// openSQL returns a func that opens a new *sql.DB on dsn and a sqlstore
// over it, closed when t ends; the first one is migrated.
func openSQL(t testing.TB, driver, dsn string, d sqlstore.Dialect) func() store.Store {
	open := func() store.Store {
		db := dbtest.Open(t, driver, dsn)
		// database/sql keeps 2 idle connections by default: with more
		// requests in flight (BenchmarkStoreEndpoint has 32), every
		// other query would open a connection, as sqlstore.OpenDB's
		// doc explains; what tests and benchmarks measure is the store.
		db.SetMaxIdleConns(32)
		st, err := sqlstore.Open(db, d)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if err := open().(*sqlstore.Store).Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return open
}

// freshPostgres, freshMySQL and freshSQLite make a schema, database or file
// of their own (see dbtest).
func freshPostgres(t testing.TB) func() store.Store {
	return openSQL(t, "pgx", dbtest.PostgresDSN(t), sqlstore.Postgres)
}

// freshPostgresListen is freshPostgres through pgwatch, which adds Watch
// over LISTEN/NOTIFY.
func freshPostgresListen(t testing.TB) func() store.Store {
	dsn := dbtest.PostgresDSN(t)
	open := func() *pgwatch.Store {
		st, err := pgwatch.Open(dbtest.Open(t, "pgx", dsn))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if err := open().Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return func() store.Store { return open() }
}

func freshMySQL(t testing.TB) func() store.Store {
	return openSQL(t, "mysql", dbtest.MySQLDSN(t), sqlstore.MySQL)
}

func freshSQLite(t testing.TB) func() store.Store {
	return openSQL(t, "sqlite", dbtest.SQLiteDSN(t), sqlstore.SQLite)
}

// freshRedis uses a key prefix of its own, whose keys dbtest deletes
// afterwards. Each handle has its own client, as each replica would.
func freshRedis(t testing.TB) func() store.Store {
	opts := dbtest.RedisOptions(t)
	prefix := dbtest.RedisPrefix(t)
	return func() store.Store {
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { rdb.Close() })
		st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

// freshRedisCluster is freshRedis on the Redis Cluster of
// PORTCULLIS_TEST_REDIS_CLUSTER, each handle with a cluster client of its
// own.
func freshRedisCluster(t testing.TB) func() store.Store {
	opts := dbtest.RedisClusterOptions(t)
	prefix := dbtest.RedisClusterPrefix(t)
	return func() store.Store {
		rdb := redis.NewClusterClient(opts)
		t.Cleanup(func() { rdb.Close() })
		st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}
