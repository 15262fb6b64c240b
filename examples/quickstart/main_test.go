package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/token"
)

// server is one in-process run of the quickstart.
type server struct {
	base string // from the "listening on" line
	stop func() error

	mu  sync.Mutex
	out strings.Builder
}

// output returns everything the run printed so far.
func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// start runs the quickstart with args until the test ends (or stop is
// called) and waits for its "listening on" line.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				listening <- u
			}
		}
		io.Copy(io.Discard, pr)
	}()
	done := make(chan struct{})
	var runErr error
	go func() {
		runErr = run(ctx, args, pw)
		pw.Close()
		close(done)
	}()
	s.stop = func() error {
		cancel()
		<-done
		return runErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil && s.base != "" {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case s.base = <-listening:
		return s
	case <-done:
		t.Fatalf("run ended before listening: %v\n%s", runErr, s.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("no listening line after 60s:\n%s", s.output())
	}
	return nil
}

// restart stops s and starts the quickstart again on the same address.
func (s *server) restart(t *testing.T, args ...string) *server {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	return start(t, append([]string{"-addr", strings.TrimPrefix(s.base, "http://")}, args...)...)
}

func (s *server) clientCredentials(id, secret string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.base + "/oauth/token"}
}

// whoami calls the guarded route with tok and returns the status and the
// decoded principal.
func (s *server) whoami(t *testing.T, tok string) (int, token.Principal) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/v1/whoami", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p token.Principal
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, p
}

func getToken(t *testing.T, cc *clientcredentials.Config) string {
	t.Helper()
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("token for %q: %v", cc.ClientID, err)
	}
	return tok.AccessToken
}

// Client credentials with characters that must be form-encoded in Basic
// auth: the demo client takes any strings.
const (
	demoID     = "demo:client/1%"
	demoSecret = "s3cret+with/odd%chars & spaces"
)

func TestQuickstart(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret)
	if !strings.HasPrefix(s.base, "http://127.0.0.1:") || strings.HasSuffix(s.base, ":0") {
		t.Fatalf("listening on %q: want the real address", s.base)
	}

	resp, err := http.Get(s.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d %v", resp.StatusCode, err)
	}
	if meta.Issuer != s.base {
		t.Errorf("metadata issuer %q, want the base URL %q", meta.Issuer, s.base)
	}
	if meta.TokenEndpoint != s.base+"/oauth/token" {
		t.Errorf("token_endpoint %q", meta.TokenEndpoint)
	}

	cc := &clientcredentials.Config{ClientID: demoID, ClientSecret: demoSecret, TokenURL: meta.TokenEndpoint}
	// The oauth2 client calls the guarded route as any Go program would.
	resp, err = cc.Client(context.Background()).Get(s.base + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	var p token.Principal
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("whoami: %d %v", resp.StatusCode, err)
	}
	if p.Kind != token.KindClient || p.ClientID != demoID || p.Subject != demoID || p.Issuer != s.base {
		t.Errorf("principal %+v", p)
	}
	if !slices.Equal(p.Scopes, []string{"read", "write"}) {
		t.Errorf("scopes %v, want [read write]", p.Scopes)
	}

	if code, _ := s.whoami(t, ""); code != http.StatusUnauthorized {
		t.Errorf("whoami without a token: %d, want 401", code)
	}
	if code, _ := s.whoami(t, "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("whoami with a bad token: %d, want 401", code)
	}
	wrong := &clientcredentials.Config{ClientID: demoID, ClientSecret: demoSecret + "x", TokenURL: meta.TokenEndpoint}
	if _, err := wrong.Token(context.Background()); err == nil {
		t.Error("a wrong secret got a token")
	}
}

// TestPrintedCurl checks that the printed curl commands carry credentials
// the server accepts: curl -u sends its argument as given, so the printed
// one must already be form-encoded.
func TestPrintedCurl(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret)
	out := s.output()
	m := regexp.MustCompile(`(?m)^  curl -s -u ('(?:[^']|'\\'')*') -d grant_type=client_credentials (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token curl command in the output:\n%s", out)
	}
	user := strings.ReplaceAll(strings.Trim(m[1], "'"), `'\''`, "'")
	if m[2] != s.base+"/oauth/token" {
		t.Errorf("curl posts to %q", m[2])
	}
	id, secret, _ := strings.Cut(user, ":")
	req, _ := http.NewRequest("POST", m[2], strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("printed credentials: %d", resp.StatusCode)
	}
	if code, p := s.whoami(t, body.AccessToken); code != http.StatusOK || p.ClientID != demoID {
		t.Errorf("whoami: %d %+v", code, p)
	}
	if !strings.Contains(out, `curl -s -H "Authorization: Bearer $TOKEN" `+s.base+"/v1/whoami") {
		t.Errorf("no whoami curl command in the output:\n%s", out)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-store", "oracle://x"},
		{"-store", "sqlite:"},
		{"-client-secret", "s"},
		{"-addr", "127.0.0.1:0", "extra"},
		{"-no-such-flag"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// TestRestart runs the quickstart on a persistent store, restarts it, and
// checks that state survived: the client, the signing keys, and so the
// token from the first run.
func TestRestart(t *testing.T) {
	for _, b := range []struct {
		name  string
		store func(t *testing.T) []string // -store and friends for a fresh store
	}{
		{"sqlite", func(t *testing.T) []string { return []string{"-store", "sqlite:" + t.TempDir() + "/qs.db"} }},
		{"postgres", freshPostgres},
		{"redis", freshRedis},
		{"mysql", freshMySQL},
	} {
		t.Run(b.name, func(t *testing.T) {
			st := b.store(t)
			args := append(slices.Clone(st), "-client-id", demoID, "-client-secret", demoSecret)
			s := start(t, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
			if !strings.Contains(s.output(), "Demo client (created)") {
				t.Errorf("first run did not create the client:\n%s", s.output())
			}
			old := getToken(t, s.clientCredentials(demoID, demoSecret))
			if code, _ := s.whoami(t, old); code != http.StatusOK {
				t.Fatalf("whoami: %d", code)
			}

			// Same id and secret: the client is reused and the token
			// signed by the stored key still verifies.
			s = s.restart(t, args...)
			if !strings.Contains(s.output(), "Demo client (reused)") {
				t.Errorf("second run did not reuse the client:\n%s", s.output())
			}
			if code, p := s.whoami(t, old); code != http.StatusOK || p.ClientID != demoID {
				t.Fatalf("token from before the restart: %d %+v", code, p)
			}
			getToken(t, s.clientCredentials(demoID, demoSecret))

			// Another secret replaces the stored one: the old token and
			// the old secret are refused, the new secret works.
			s = s.restart(t, append(slices.Clone(st), "-client-id", demoID, "-client-secret", "another secret")...)
			if !strings.Contains(s.output(), "secret replaced") {
				t.Errorf("third run did not replace the secret:\n%s", s.output())
			}
			if code, _ := s.whoami(t, old); code != http.StatusUnauthorized {
				t.Errorf("token of the replaced secret: %d, want 401", code)
			}
			if _, err := s.clientCredentials(demoID, demoSecret).Token(context.Background()); !isInvalidClient(err) {
				t.Errorf("old secret: %v, want invalid_client", err)
			}
			if code, _ := s.whoami(t, getToken(t, s.clientCredentials(demoID, "another secret"))); code != http.StatusOK {
				t.Errorf("new secret's token: %d", code)
			}

			// -client-id alone rotates: the stored secret cannot be shown,
			// so a new one is printed and the last one is refused.
			s = s.restart(t, append(slices.Clone(st), "-client-id", demoID)...)
			if !strings.Contains(s.output(), "Demo client (rotated") {
				t.Errorf("fourth run did not rotate the client:\n%s", s.output())
			}
			m := regexp.MustCompile(`(?m)^  client secret: (\S+)$`).FindStringSubmatch(s.output())
			if m == nil || !token.WellFormed(m[1], token.PrefixClientSecret) {
				t.Fatalf("no new secret printed:\n%s", s.output())
			}
			getToken(t, s.clientCredentials(demoID, m[1]))
			if _, err := s.clientCredentials(demoID, "another secret").Token(context.Background()); !isInvalidClient(err) {
				t.Errorf("secret before the rotation: %v, want invalid_client", err)
			}

			// Without -client-id, every start makes a new demo client.
			s = s.restart(t, st...)
			first := printedClientID(t, s.output())
			s = s.restart(t, st...)
			if second := printedClientID(t, s.output()); second == first || second == demoID {
				t.Errorf("client ids %q then %q: want a new one per start", first, second)
			}
		})
	}
}

func isInvalidClient(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_client"
}

func printedClientID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  client id:\s+(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no client id printed:\n%s", out)
	}
	return m[1]
}

func randomName(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "pc_qs_" + hex.EncodeToString(b)
}

// freshPostgres makes a schema of its own and points the DSN's search_path
// at it (pgx passes unknown DSN parameters to the server as run-time
// settings).
func freshPostgres(t *testing.T) []string {
	dsn := testenv.Require(t, testenv.Postgres)
	adm, err := sql.Open("pgx", dsn)
	if err == nil {
		err = adm.Ping()
	}
	if err != nil {
		testenv.Unreachable(t, testenv.Postgres, err)
	}
	schema := randomName(t)
	if _, err := adm.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := adm.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Error(err)
		}
		adm.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return []string{"-store", u.String()}
}

// freshMySQL makes a database of its own.
func freshMySQL(t *testing.T) []string {
	dsn := testenv.Require(t, testenv.MySQL)
	adm, err := sql.Open("mysql", dsn)
	if err == nil {
		err = adm.Ping()
	}
	if err != nil {
		testenv.Unreachable(t, testenv.MySQL, err)
	}
	name := randomName(t)
	if _, err := adm.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := adm.Exec("DROP DATABASE " + name); err != nil {
			t.Error(err)
		}
		adm.Close()
	})
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return []string{"-store", "mysql://" + cfg.FormatDSN()}
}

// freshRedis uses a key prefix of its own and deletes its keys afterwards.
func freshRedis(t *testing.T) []string {
	u := testenv.Require(t, testenv.Redis)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		testenv.Unreachable(t, testenv.Redis, err)
	}
	prefix := randomName(t) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Error(err)
		}
		rdb.Close()
	})
	return []string{"-store", u, "-redis-prefix", prefix}
}
