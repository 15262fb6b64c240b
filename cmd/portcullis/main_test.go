package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/dbtest"
)

// The tests build the command once, as go install would, and drive the
// binary through its command line against real stores.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portcullis-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "portcullis")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cli runs the binary with one store, given through PORTCULLIS_STORE.
type cli struct {
	t      *testing.T
	env    []string
	args   []string // global flags put before every command
	stderr bytes.Buffer
}

func newCLI(t *testing.T, spec string, extra ...string) *cli {
	return &cli{t: t, env: append([]string{"PORTCULLIS_STORE=" + spec}, extra...)}
}

// run runs args with stdin and returns stdout and the exit code; stderr
// is kept for the no-secret check.
func (c *cli) run(stdin string, args ...string) (string, int) {
	c.t.Helper()
	cmd := exec.Command(binary(c.t), append(slicesClone(c.args), args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	c.stderr.Write(errOut.Bytes())
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.t.Fatalf("%v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), code
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// ok runs args and fails unless the exit code is 0.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("portcullis %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, c.stderr.String())
	}
	return out
}

// okJSON runs args with --json and decodes stdout into v.
func (c *cli) okJSON(v any, stdin string, args ...string) {
	c.t.Helper()
	out := c.ok(stdin, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("portcullis %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// code runs args and fails unless the exit code is want.
func (c *cli) code(want int, args ...string) {
	c.t.Helper()
	out, code := c.run("", args...)
	if code != want {
		c.t.Errorf("portcullis %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, c.stderr.String())
	}
}

// backend is a store for the CLI tests: its spec and extra environment.
type backend struct {
	name string
	open func(t *testing.T) (spec string, env []string)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (string, []string) {
		return "sqlite:" + filepath.Join(t.TempDir(), "portcullis.db"), nil
	}},
	{"postgres", func(t *testing.T) (string, []string) { return dbtest.PostgresDSN(t), nil }},
	{"mysql", func(t *testing.T) (string, []string) { return "mysql://" + dbtest.MySQLDSN(t), nil }},
	{"redis", func(t *testing.T) (string, []string) {
		return dbtest.RedisURL(t), []string{"PORTCULLIS_REDIS_PREFIX=" + dbtest.RedisPrefix(t)}
	}},
}

type clientOut struct {
	Client struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Scopes     []string `json:"scopes"`
		Generation int64    `json:"generation"`
		Disabled   bool     `json:"disabled"`
	} `json:"client"`
	Secret string `json:"secret"`
}

type listOut struct {
	Clients []struct {
		ID       string `json:"id"`
		Disabled bool   `json:"disabled"`
	} `json:"clients"`
	Accounts []struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"accounts"`
	Next string `json:"next"`
}

// TestLifecycle creates, lists, rotates, disables and deletes clients and
// accounts, rotates the signing key, migrates and sweeps, on every backend,
// and checks that no secret or password reaches stderr (the log), even at
// debug level.
func TestLifecycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			spec, env := b.open(t)
			c := newCLI(t, spec, env...)
			c.args = []string{"--log-level", "debug"}
			var secrets []string

			c.ok("", "migrate")
			c.ok("", "migrate") // again: nothing to do

			var a, bb clientOut
			c.okJSON(&a, "", "clients", "create", "--name", "billing", "--scope", "read,write", "--meta", "team=payments")
			c.okJSON(&bb, "", "clients", "create", "--id", "client-b", "--owner", "acct-x")
			secrets = append(secrets, a.Secret, bb.Secret)
			if !strings.HasPrefix(a.Secret, "pcs_") || a.Client.Name != "billing" || len(a.Client.Scopes) != 2 {
				t.Fatalf("clients create: %+v", a)
			}
			c.code(exitConflict, "clients", "create", "--id", "client-b")
			c.code(exitUsage, "clients", "create", "--grant-type", "password")

			var l listOut
			c.okJSON(&l, "", "clients", "list")
			if len(l.Clients) != 2 || l.Next != "" {
				t.Fatalf("clients list: %+v", l)
			}
			c.okJSON(&l, "", "clients", "list", "--limit", "1")
			if len(l.Clients) != 1 || l.Next != l.Clients[0].ID {
				t.Fatalf("clients list --limit 1: %+v", l)
			}
			var rest listOut
			c.okJSON(&rest, "", "clients", "list", "--limit", "1", "--after", l.Next)
			if len(rest.Clients) != 1 || rest.Clients[0].ID == l.Clients[0].ID {
				t.Fatalf("second page: %+v after %+v", rest, l)
			}
			c.okJSON(&l, "", "clients", "list", "--limit", "1", "--all")
			if len(l.Clients) != 2 {
				t.Fatalf("clients list --all: %+v", l)
			}
			c.okJSON(&l, "", "clients", "list", "--owner", "acct-x")
			if len(l.Clients) != 1 || l.Clients[0].ID != "client-b" {
				t.Fatalf("clients list --owner: %+v", l)
			}
			if out := c.ok("", "clients", "show", a.Client.ID); !strings.Contains(out, "billing") || !strings.Contains(out, "metadata team:") {
				t.Errorf("clients show: %s", out)
			}

			var rot struct {
				Secret     string `json:"secret"`
				Generation int64  `json:"generation"`
			}
			c.okJSON(&rot, "", "clients", "rotate", a.Client.ID)
			secrets = append(secrets, rot.Secret)
			if rot.Secret == a.Secret || rot.Generation != a.Client.Generation+1 {
				t.Errorf("rotate: %+v after %+v", rot, a.Client)
			}
			const chosen = "pcs_a-secret-of-my-own-choosing-long-enough"
			secrets = append(secrets, chosen)
			c.ok(chosen+"\n", "clients", "rotate", "client-b", "--secret-stdin")

			c.ok("", "clients", "disable", a.Client.ID)
			var shown struct{ Disabled bool }
			c.okJSON(&shown, "", "clients", "show", a.Client.ID)
			if !shown.Disabled {
				t.Error("disabled client shown enabled")
			}
			c.ok("", "clients", "enable", a.Client.ID)
			c.ok("", "clients", "delete", a.Client.ID)
			c.code(exitNotFound, "clients", "show", a.Client.ID)
			c.code(exitNotFound, "clients", "rotate", a.Client.ID)
			c.code(exitNotFound, "clients", "delete", a.Client.ID)

			// Accounts: a password from stdin, one generated.
			const password = "correct horse battery staple"
			secrets = append(secrets, password)
			var acct struct {
				Account  struct{ ID, Username string }
				Password string
			}
			c.okJSON(&acct, password+"\n", "accounts", "create", "--username", "alice", "--email", "Alice@Example.com", "--password-stdin")
			if acct.Password != "" || acct.Account.Username != "alice" {
				t.Errorf("accounts create with --password-stdin: %+v", acct)
			}
			var gen struct{ Password string }
			c.okJSON(&gen, "", "accounts", "create", "--username", "bob", "--role", "admin")
			secrets = append(secrets, gen.Password)
			if len(gen.Password) < 32 {
				t.Errorf("generated password %q", gen.Password)
			}
			c.code(exitConflict, "accounts", "create", "--username", "bob")
			if _, code := c.run("short\n", "accounts", "create", "--username", "carol", "--password-stdin"); code != exitUsage {
				t.Errorf("short password: exit %d, want %d", code, exitUsage)
			}
			c.okJSON(&l, "", "accounts", "list")
			if len(l.Accounts) != 2 {
				t.Fatalf("accounts list: %+v", l)
			}
			c.okJSON(&gen, "", "accounts", "passwd", "alice@example.com")
			secrets = append(secrets, gen.Password)
			c.ok("", "accounts", "disable", "alice")
			c.ok("", "accounts", "enable", acct.Account.ID)
			c.ok("", "accounts", "delete", "bob")
			c.code(exitNotFound, "accounts", "show", "bob")

			// Keys: one signing key, then a pending one.
			var keys struct {
				Keys []struct{ KID, State, Algorithm string }
			}
			c.okJSON(&keys, "", "keys", "list")
			if len(keys.Keys) != 1 || keys.Keys[0].State != "signing" {
				t.Fatalf("keys list: %+v", keys)
			}
			c.ok("", "keys", "rotate")
			c.okJSON(&keys, "", "keys", "list")
			if len(keys.Keys) != 2 || keys.Keys[1].State != "pending" || keys.Keys[0].State != "signing" {
				t.Fatalf("keys list after rotate: %+v", keys)
			}
			c.ok("", "keys", "rotate") // pending already: nothing changes
			c.okJSON(&keys, "", "keys", "list")
			if len(keys.Keys) != 2 {
				t.Fatalf("a second rotate added a key: %+v", keys)
			}
			c.ok("", "sweep")

			// Usage errors.
			c.code(exitUsage, "clients")
			c.code(exitUsage, "clients", "show")
			c.code(exitUsage, "clients", "frob")
			c.code(exitUsage, "clients", "list", "--limit", "0")
			c.code(exitUsage, "--no-such-flag")

			for _, s := range secrets {
				if s != "" && strings.Contains(c.stderr.String(), s) {
					t.Errorf("stderr holds the secret %q:\n%s", s, c.stderr.String())
				}
			}
			if !strings.Contains(c.stderr.String(), "client.rotated") {
				t.Errorf("no audit log at debug level on stderr:\n%s", c.stderr.String())
			}
		})
	}
}

// TestNoStore: without a store, a usage error that says how to give one;
// the memory store is refused to administrative commands.
func TestNoStore(t *testing.T) {
	c := newCLI(t, "")
	c.code(exitUsage, "clients", "list")
	if !strings.Contains(c.stderr.String(), "PORTCULLIS_STORE") {
		t.Errorf("stderr %q does not name the variable", c.stderr.String())
	}
	c.code(exitUsage, "--store", "memory", "clients", "list")
	c.code(exitUsage, "--store", "nosuch://x", "clients", "list")
}

// TestConfigFile: the pepper, scopes and kinds of the shared configuration
// file reach the administrative commands and serve alike.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	spec := "sqlite:" + filepath.Join(dir, "p.db")
	cfgPath := filepath.Join(dir, "portcullis.json")
	writeFile(t, cfgPath, `{"scopes": ["read"], "issuer": "http://127.0.0.1", "kinds": [{"name": "client", "ttl": "15m"}]}`)
	c := newCLI(t, spec, "PORTCULLIS_CONFIG="+cfgPath, "PORTCULLIS_PEPPER=pepper-of-the-test")
	c.ok("", "migrate")
	c.ok("", "clients", "create", "--scope", "read")
	c.code(exitUsage, "clients", "create", "--scope", "write") // not in the configuration's scopes

	writeFile(t, cfgPath, `{"scopes": ["read"], "sopes": []}`)
	c.code(exitUsage, "clients", "list")
}

// TestKEK: PORTCULLIS_KEK seals the keys; once sealed, a command without
// it, or with another, is refused as misconfigured.
func TestKEK(t *testing.T) {
	spec := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	kek := "PORTCULLIS_KEK=k1:" + strings.Repeat("A", 43)
	newCLI(t, spec).ok("", "migrate")
	newCLI(t, spec, kek).ok("", "clients", "create")
	newCLI(t, spec, kek).ok("", "clients", "list")
	newCLI(t, spec).code(exitUsage, "clients", "list")
	newCLI(t, spec, "PORTCULLIS_KEK=k1:"+strings.Repeat("B", 43)).code(exitUsage, "clients", "list")
	newCLI(t, spec, "PORTCULLIS_KEK=k1:short").code(exitUsage, "clients", "list")
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServe runs serve on SQLite and Redis: a client made with the CLI
// gets a token from it, the probes answer, rotation through the CLI kills
// the old secret, and SIGTERM stops it with exit code 0.
func TestServe(t *testing.T) {
	for _, b := range []backend{backends[0], backends[3]} {
		t.Run(b.name, func(t *testing.T) {
			spec, env := b.open(t)
			c := newCLI(t, spec, env...)
			srv := startServe(t, c, "--dialect", "datacrunch", "--scope", "read")

			c.ok("", "migrate")
			var cl clientOut
			c.okJSON(&cl, "", "clients", "create", "--scope", "read")
			body := fmt.Sprintf(`{"grant_type":"client_credentials","client_id":%q,"client_secret":%q}`, cl.Client.ID, cl.Secret)
			resp := srv.post(t, "/v1/oauth2/token", body)
			if resp.code != http.StatusOK || !strings.Contains(resp.body, `"refresh_token"`) {
				t.Fatalf("token: %d %s", resp.code, resp.body)
			}
			for _, p := range []string{"/healthz", "/readyz"} {
				if r := srv.get(t, p); r.code != http.StatusOK || !strings.Contains(r.body, `"ok"`) {
					t.Errorf("GET %s: %d %s", p, r.code, r.body)
				}
			}
			if r := srv.get(t, "/.well-known/jwks.json"); r.code != http.StatusOK {
				t.Errorf("jwks: %d", r.code)
			}
			c.ok("", "clients", "rotate", cl.Client.ID)
			// serve is another replica to the CLI: it watches Redis and
			// refuses the old secret at once there; on SQLite its client
			// cache may accept it for ClientCacheTTL (StateTTL, 5s). The
			// deadline only bounds a failing test.
			deadline := time.Now().Add(15 * time.Second)
			for {
				r := srv.post(t, "/v1/oauth2/token", body)
				if r.code == http.StatusUnauthorized {
					break
				}
				if r.code != http.StatusOK || time.Now().After(deadline) {
					t.Fatalf("token with the old secret after rotate: %d %s", r.code, r.body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			logs := srv.stop(t)
			if strings.Contains(logs, cl.Secret) {
				t.Errorf("serve logged a secret:\n%s", logs)
			}
			if !strings.Contains(logs, "auth.failed") {
				t.Errorf("serve did not log the failed authentication:\n%s", logs)
			}
		})
	}
}

// TestServeBloq: the bloq preset serves Bloq's token path with its wire
// format and refresh tokens.
// An issuer with a path serves its metadata where RFC 8414 §3 puts it
// (the well-known prefix between host and path) and below its own path.
func TestServePathIssuer(t *testing.T) {
	spec, env := backends[0].open(t)
	srv := startServeAt(t, newCLI(t, spec, env...), "/tenant1")
	issuer := `"issuer":"` + srv.base + `/tenant1"`
	for _, p := range []string{"/.well-known/oauth-authorization-server/tenant1", "/tenant1/.well-known/oauth-authorization-server"} {
		if r := srv.get(t, p); r.code != http.StatusOK || !strings.Contains(r.body, issuer) {
			t.Errorf("GET %s: %d %s", p, r.code, r.body)
		}
	}
	if r := srv.get(t, "/.well-known/oauth-authorization-server"); r.code != http.StatusNotFound {
		t.Errorf("metadata at the host root of a path issuer: %d, want 404", r.code)
	}
	srv.stop(t)
}

func TestServeBloq(t *testing.T) {
	spec, env := backends[0].open(t)
	c := newCLI(t, spec, env...)
	srv := startServe(t, c, "--dialect", "bloq")
	c.ok("", "migrate")
	var cl clientOut
	c.okJSON(&cl, "", "clients", "create")
	body := fmt.Sprintf(`{"grantType":"clientCredentials","clientId":%q,"clientSecret":%q}`, cl.Client.ID, cl.Secret)
	resp := srv.post(t, "/auth/token", body)
	if resp.code != http.StatusOK || !strings.Contains(resp.body, `"accessToken"`) || !strings.Contains(resp.body, `"refreshToken"`) {
		t.Fatalf("token: %d %s", resp.code, resp.body)
	}
	if r := srv.post(t, "/auth/login", ""); r.code != http.StatusUnauthorized {
		t.Errorf("login without credentials: %d %s", r.code, r.body)
	}
	srv.stop(t)
}

type server struct {
	cmd    *exec.Cmd
	base   string
	logs   *syncBuf
	exited chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var addrRE = regexp.MustCompile(`msg="portcullis: serving" addr=(\S+)`)

// startServe starts serve on a free port and waits until it serves.
func startServe(t *testing.T, c *cli, args ...string) *server {
	t.Helper()
	return startServeAt(t, c, "", args...)
}

// startServeAt is startServe with path at the end of the issuer URL.
func startServeAt(t *testing.T, c *cli, path string, args ...string) *server {
	t.Helper()
	// The issuer URL must be known before the port is: take a free one.
	addr := freeAddr(t)
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", addr, "--issuer", "http://" + addr + path}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	pr, pw := io.Pipe()
	s := &server{cmd: cmd, base: "http://" + addr, logs: &syncBuf{}, exited: make(chan error, 1)}
	cmd.Stderr = io.MultiWriter(s.logs, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.exited
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			if !found && addrRE.MatchString(sc.Text()) {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("serve exited before serving:\n%s", s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start within 30s:\n%s", s.logs.String())
	}
	return s
}

type response struct {
	code int
	body string
}

func (s *server) do(t *testing.T, req *http.Request) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b)}
}

func (s *server) get(t *testing.T, path string) response {
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	return s.do(t, req)
}

func (s *server) post(t *testing.T, path, body string) response {
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return s.do(t, req)
}

// stop sends SIGTERM and returns the logs; serve must exit with 0.
func (s *server) stop(t *testing.T) string {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s after SIGTERM")
	}
	return s.logs.String()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago (serve's issuer URL must name its port before it listens).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
