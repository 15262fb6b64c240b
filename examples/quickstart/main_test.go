package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/internal/token"
)

// start runs the quickstart with args until the test ends.
func start(t *testing.T, args ...string) *demotest.Server {
	t.Helper()
	return demotest.Start(t, run, args...)
}

// restart stops s and starts the quickstart again on the same address.
func restart(t *testing.T, s *demotest.Server, args ...string) *demotest.Server {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	return start(t, append([]string{"-addr", strings.TrimPrefix(s.URL, "http://")}, args...)...)
}

func clientCredentials(s *demotest.Server, id, secret string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/oauth/token"}
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
	demotest.CheckIssuer(t, s.URL, demoID, demoSecret)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestPrintedCurl checks that the printed curl commands carry credentials
// the server accepts: curl -u sends its argument as given, so the printed
// one must already be form-encoded.
func TestPrintedCurl(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret)
	out := s.Output()
	m := regexp.MustCompile(`(?m)^  curl -s -u ('(?:[^']|'\\'')*') -d grant_type=client_credentials (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token curl command in the output:\n%s", out)
	}
	user := strings.ReplaceAll(strings.Trim(m[1], "'"), `'\''`, "'")
	if m[2] != s.URL+"/oauth/token" {
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
	if code, p := demotest.Whoami(t, s.URL, body.AccessToken); code != http.StatusOK || p.ClientID != demoID {
		t.Errorf("whoami: %d %+v", code, p)
	}
	if !strings.Contains(out, `curl -s -H "Authorization: Bearer $TOKEN" `+s.URL+"/v1/whoami") {
		t.Errorf("no whoami curl command in the output:\n%s", out)
	}
}

// TestPrintedTokenCommand pastes the printed $TOKEN and whoami commands
// into bash: with the printed credentials they reach /v1/whoami; with a
// wrong secret the token request says "request failed:" with the
// server's invalid_client and leaves $TOKEN unset, instead of passing the
// error body on to the guard as a token. The printed export line sets the
// demo client's credentials as they are, odd characters and all.
func TestPrintedTokenCommand(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret)
	out := s.Output()
	var capture, whoami, export string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case capture == "" && strings.HasPrefix(line, "  RESP=$(") && strings.Contains(line, " TOKEN=$("):
			capture = strings.TrimSpace(line)
		case strings.HasPrefix(line, `  curl -s -H "Authorization: Bearer $TOKEN" `):
			whoami = strings.TrimSpace(line)
		case strings.HasPrefix(line, "  export CLIENT_ID="):
			export = strings.TrimSpace(line)
		}
	}
	if capture == "" || whoami == "" || export == "" {
		t.Fatalf("token, whoami or export line missing from the output:\n%s", out)
	}

	stdout, stderr := demotest.Shell(t, []string{capture, whoami})
	if !strings.Contains(stdout, `"access_token":"`) || !strings.Contains(stdout, `"client_id":"demo:client/1%"`) {
		t.Errorf("printed commands:\nstdout %s\nstderr %s", stdout, stderr)
	}

	wrong := strings.Replace(capture, url.QueryEscape(demoSecret), "wrong", 1)
	if wrong == capture {
		t.Fatalf("the token command does not carry the form-encoded secret: %s", capture)
	}
	_, stderr = demotest.Shell(t, []string{"TOKEN=stale", wrong, `echo "TOKEN=${TOKEN-unset}" >&2`})
	if !strings.Contains(stderr, `request failed: {"error":"invalid_client"`) || !strings.Contains(stderr, "TOKEN=unset") {
		t.Errorf("wrong secret:\n%s", stderr)
	}

	stdout, _ = demotest.Shell(t, []string{export, `printf '%s\n' "$CLIENT_ID" "$CLIENT_SECRET"`})
	if stdout != demoID+"\n"+demoSecret+"\n" {
		t.Errorf("export line %s sets %q", export, stdout)
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
			if !strings.Contains(s.Output(), "Demo client (created)") {
				t.Errorf("first run did not create the client:\n%s", s.Output())
			}
			old := getToken(t, clientCredentials(s, demoID, demoSecret))
			if code, _ := demotest.Whoami(t, s.URL, old); code != http.StatusOK {
				t.Fatalf("whoami: %d", code)
			}

			// Same id and secret: the client is reused and the token
			// signed by the stored key still verifies.
			s = restart(t, s, args...)
			if !strings.Contains(s.Output(), "Demo client (reused)") {
				t.Errorf("second run did not reuse the client:\n%s", s.Output())
			}
			if code, p := demotest.Whoami(t, s.URL, old); code != http.StatusOK || p.ClientID != demoID {
				t.Fatalf("token from before the restart: %d %+v", code, p)
			}
			getToken(t, clientCredentials(s, demoID, demoSecret))

			// Another secret replaces the stored one: the old token and
			// the old secret are refused, the new secret works.
			s = restart(t, s, append(slices.Clone(st), "-client-id", demoID, "-client-secret", "another secret")...)
			if !strings.Contains(s.Output(), "secret replaced") {
				t.Errorf("third run did not replace the secret:\n%s", s.Output())
			}
			if code, _ := demotest.Whoami(t, s.URL, old); code != http.StatusUnauthorized {
				t.Errorf("token of the replaced secret: %d, want 401", code)
			}
			if _, err := clientCredentials(s, demoID, demoSecret).Token(context.Background()); !isInvalidClient(err) {
				t.Errorf("old secret: %v, want invalid_client", err)
			}
			if code, _ := demotest.Whoami(t, s.URL, getToken(t, clientCredentials(s, demoID, "another secret"))); code != http.StatusOK {
				t.Errorf("new secret's token: %d", code)
			}

			// -client-id alone rotates: the stored secret cannot be shown,
			// so a new one is printed and the last one is refused.
			s = restart(t, s, append(slices.Clone(st), "-client-id", demoID)...)
			if !strings.Contains(s.Output(), "Demo client (rotated") {
				t.Errorf("fourth run did not rotate the client:\n%s", s.Output())
			}
			m := regexp.MustCompile(`(?m)^  client secret: (\S+)$`).FindStringSubmatch(s.Output())
			if m == nil || !token.WellFormed(m[1], token.PrefixClientSecret) {
				t.Fatalf("no new secret printed:\n%s", s.Output())
			}
			getToken(t, clientCredentials(s, demoID, m[1]))
			if _, err := clientCredentials(s, demoID, "another secret").Token(context.Background()); !isInvalidClient(err) {
				t.Errorf("secret before the rotation: %v, want invalid_client", err)
			}

			// Without -client-id, every start makes a new demo client.
			s = restart(t, s, st...)
			first := printedClientID(t, s.Output())
			s = restart(t, s, st...)
			if second := printedClientID(t, s.Output()); second == first || second == demoID {
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

// freshPostgres, freshMySQL and freshRedis point -store at a schema,
// database or key prefix of their own, removed when t ends (see dbtest).
func freshPostgres(t *testing.T) []string {
	return []string{"-store", dbtest.PostgresDSN(t)}
}

func freshMySQL(t *testing.T) []string {
	return []string{"-store", "mysql://" + dbtest.MySQLDSN(t)}
}

func freshRedis(t *testing.T) []string {
	return []string{"-store", dbtest.RedisURL(t), "-redis-prefix", dbtest.RedisPrefix(t)}
}

// TestPrintedAccountFlow runs the printed account commands as a newcomer
// pastes them, in a shell with curl: log in, make a client key, get a
// client token with it, and see that only the account token reaches the
// account-only route.
func TestPrintedAccountFlow(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the printed commands need it")
	}
	s := start(t, "-addr", "127.0.0.1:0", "-account", "newcomer", "-account-password", "a long enough passphrase")
	out := s.Output()
	first := strings.Index(out, "\nAs the account:")
	last := strings.Index(out, "\nThe last one answers 401")
	if first < 0 || last < first {
		t.Fatalf("no account commands in the output:\n%s", out)
	}
	script := out[first:last]
	lines := demotest.Commands(script)
	if len(lines) != 5 {
		t.Fatalf("account commands %q", lines)
	}
	// Run all but the last command, then the last one alone, so each
	// answer can be checked.
	cmd := exec.Command("bash", "-e", "-c", strings.Join(lines[:len(lines)-1], "\n")+"\necho\necho KEY_TOKEN=$KEY_TOKEN")
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed commands failed: %v\n%s\n%s", err, script, got)
	}
	if !strings.Contains(string(got), `"kind":"account"`) {
		t.Errorf("GET /v1/me with the account token: %s", got)
	}
	m := regexp.MustCompile(`KEY_TOKEN=(\S+)`).FindSubmatch(got)
	if m == nil {
		t.Fatalf("no client token from the key:\n%s", got)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+string(m[1]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/me with the key's client token: %d, want 401", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+string(m[1]))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/whoami with the key's client token: %d, want 200", resp.StatusCode)
	}

	// A refused login says so and sets nothing for the next steps.
	wrong := strings.Replace(lines[0], "a long enough passphrase", "wrong", 1)
	_, stderr := demotest.Shell(t, []string{wrong, `echo "ACCOUNT_TOKEN=${ACCOUNT_TOKEN-unset}" >&2`})
	if !strings.Contains(stderr, `request failed: {"error":"invalid_client"`) || !strings.Contains(stderr, "ACCOUNT_TOKEN=unset") {
		t.Errorf("wrong password:\n%s", stderr)
	}
}
