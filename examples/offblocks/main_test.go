package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/internal/dbtest"
)

const (
	demoKey    = "partner-key-1"
	demoSecret = "s3cret+with/odd%chars & spaces, long enough"
	newSecret  = "another secret of at least 32 characters"
)

func start(t *testing.T, args ...string) *demotest.Server {
	t.Helper()
	return demotest.Start(t, run, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

func body(key, secret string) string {
	b, _ := json.Marshal(struct {
		APIKey    string `json:"apiKey"`
		APISecret string `json:"apiSecret"`
	}{key, secret})
	return string(b)
}

// postToken replays POST /v1/auth/token with {"apiKey","apiSecret"}.
func postToken(t *testing.T, s *demotest.Server, key, secret string) demotest.Response {
	return demotest.Do(t, "POST", s.URL+"/v1/auth/token", strings.NewReader(body(key, secret)), "Content-Type", "application/json")
}

// getToken gets a token and checks the response: exactly token,
// expiresAt and tokenType, expiresAt equal to the JWT's exp, 1 h ahead.
func getToken(t *testing.T, s *demotest.Server, key, secret string) string {
	t.Helper()
	m := demotest.WantJSON(t, postToken(t, s, key, secret), 200, "token", "expiresAt", "tokenType")
	tok, _ := m["token"].(string)
	if m["tokenType"] != "Bearer" {
		t.Errorf("tokenType %v", m["tokenType"])
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Exp, Iat int64 }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if exp := int64(m["expiresAt"].(float64)); exp != claims.Exp || exp-claims.Iat != 3600 {
		t.Errorf("expiresAt %d, JWT exp %d iat %d", exp, claims.Exp, claims.Iat)
	}
	if d := time.Until(time.Unix(claims.Exp, 0)); d < 59*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("token expires in %v", d)
	}
	return tok
}

type principal struct {
	Sub      string `json:"sub"`
	ClientID string `json:"client_id"`
}

func callWhoami(t *testing.T, s *demotest.Server, tok string) (int, principal) {
	t.Helper()
	r := demotest.Do(t, "GET", s.URL+"/v1/whoami", nil, "Authorization", "Bearer "+tok)
	var p principal
	if r.Status == 200 {
		json.Unmarshal([]byte(r.Body), &p)
	}
	return r.Status, p
}

// sendCredentials replays PUT or DELETE /v1/auth/credentials with the token.
func sendCredentials(t *testing.T, s *demotest.Server, method, tok, b string) demotest.Response {
	var r io.Reader
	if b != "" {
		r = strings.NewReader(b)
	}
	return demotest.Do(t, method, s.URL+"/v1/auth/credentials", r, "Authorization", "Bearer "+tok, "Content-Type", "application/json")
}

func wantNoContent(t *testing.T, r demotest.Response) {
	t.Helper()
	if r.Status != 204 || r.Body != "" {
		t.Fatalf("%d %s, want 204", r.Status, r.Body)
	}
}

func TestReplay(t *testing.T) {
	s := start(t, "-client-id", demoKey, "-client-secret", demoSecret)

	tok := getToken(t, s, demoKey, demoSecret)
	if code, p := callWhoami(t, s, tok); code != 200 || p.Sub != demoKey || p.ClientID != demoKey {
		t.Fatalf("whoami: %d %+v", code, p)
	}

	// PUT the same key with a new secret: the old token and pair die.
	wantNoContent(t, sendCredentials(t, s, "PUT", tok, body(demoKey, newSecret)))
	if code, _ := callWhoami(t, s, tok); code != 401 {
		t.Errorf("token after the change: %d", code)
	}
	if r := postToken(t, s, demoKey, demoSecret); r.Status != 401 {
		t.Errorf("old pair: %d", r.Status)
	}
	tok = getToken(t, s, demoKey, newSecret)

	// PUT a new key too: the identity stays.
	const key2, secret2 = "partner-key-2", "yet another secret, 32 characters or more"
	wantNoContent(t, sendCredentials(t, s, "PUT", tok, body(key2, secret2)))
	if code, _ := callWhoami(t, s, tok); code != 401 {
		t.Errorf("token after the key change: %d", code)
	}
	for _, pair := range [][2]string{{demoKey, newSecret}, {demoKey, secret2}, {key2, newSecret}} {
		if r := postToken(t, s, pair[0], pair[1]); r.Status != 401 {
			t.Errorf("pair %q: %d", pair, r.Status)
		}
	}
	tok2 := getToken(t, s, key2, secret2)
	if code, p := callWhoami(t, s, tok2); code != 200 || p.Sub != demoKey || p.ClientID != key2 {
		t.Errorf("whoami after the key change: %d %+v", code, p)
	}

	// DELETE: the pair and every token of it die.
	other := getToken(t, s, key2, secret2)
	wantNoContent(t, sendCredentials(t, s, "DELETE", tok2, ""))
	for _, tk := range []string{tok2, other} {
		if code, _ := callWhoami(t, s, tk); code != 401 {
			t.Errorf("token after DELETE: %d", code)
		}
	}
	if r := postToken(t, s, key2, secret2); r.Status != 401 {
		t.Errorf("pair after DELETE: %d", r.Status)
	}
	if r := sendCredentials(t, s, "DELETE", tok2, ""); r.Status != 401 {
		t.Errorf("DELETE with a dead token: %d", r.Status)
	}
}

func TestRefusals(t *testing.T) {
	s := start(t, "-client-id", demoKey, "-client-secret", demoSecret, "-store", "sqlite:"+filepath.Join(t.TempDir(), "ob.db"))
	unknown := postToken(t, s, "nobody", demoSecret)
	wrong := postToken(t, s, demoKey, demoSecret+"x")
	demotest.WantJSON(t, unknown, 401, "error", "error_description")
	demotest.SameRefusal(t, unknown, wrong)

	tok := getToken(t, s, demoKey, demoSecret)
	// A weak secret or a malformed body: 400, and nothing changes.
	for name, b := range map[string]string{
		"31 characters": body(demoKey, strings.Repeat("x", 31)),
		"empty secret":  body(demoKey, ""),
		"empty key":     body("", newSecret),
		"key w/ space":  body("a key", newSecret),
		"malformed":     `{"apiKey":`,
		"not an object": `["x"]`,
		"number":        `{"apiKey":"k","apiSecret":12345678901234567890123456789012345}`,
		"repeated":      `{"apiKey":"a","apiKey":"b","apiSecret":"` + newSecret + `"}`,
	} {
		r := sendCredentials(t, s, "PUT", tok, b)
		demotest.WantJSON(t, r, 400, "error", "error_description")
		if !strings.Contains(r.Body, `"invalid_request"`) {
			t.Errorf("%s: %s", name, r.Body)
		}
	}
	r := demotest.Do(t, "PUT", s.URL+"/v1/auth/credentials", strings.NewReader("apiKey=k&apiSecret="+strings.Repeat("y", 40)),
		"Authorization", "Bearer "+tok, "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != 400 {
		t.Errorf("form body: %d", r.Status)
	}
	if code, _ := callWhoami(t, s, tok); code != 200 {
		t.Errorf("token after refused changes: %d", code)
	}
	getToken(t, s, demoKey, demoSecret)

	// Without a token, with a bad one, with another method.
	if r := demotest.Do(t, "PUT", s.URL+"/v1/auth/credentials", strings.NewReader(body("k", newSecret)), "Content-Type", "application/json"); r.Status != 401 || r.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("no token: %d %v", r.Status, r.Header)
	}
	if r := sendCredentials(t, s, "PUT", "eyJ.bad.token", body("k", newSecret)); r.Status != 401 {
		t.Errorf("bad token: %d", r.Status)
	}
	if r := sendCredentials(t, s, "GET", tok, ""); r.Status != 405 || r.Header.Get("Allow") != "PUT, DELETE" {
		t.Errorf("GET: %d %v", r.Status, r.Header)
	}
	// Malformed token requests: 4xx, never 5xx.
	for name, r := range map[string]demotest.Response{
		"form":      demotest.Do(t, "POST", s.URL+"/v1/auth/token", strings.NewReader("apiKey=a&apiSecret=b"), "Content-Type", "application/x-www-form-urlencoded"),
		"repeated":  demotest.Do(t, "POST", s.URL+"/v1/auth/token", strings.NewReader(`{"apiKey":"a","apiKey":"a"}`), "Content-Type", "application/json"),
		"truncated": demotest.Do(t, "POST", s.URL+"/v1/auth/token", strings.NewReader(`{"apiKey"`), "Content-Type", "application/json"),
		"query":     demotest.Do(t, "POST", s.URL+"/v1/auth/token?apiSecret=x", strings.NewReader(body(demoKey, demoSecret)), "Content-Type", "application/json"),
		"GET":       demotest.Do(t, "GET", s.URL+"/v1/auth/token", nil),
	} {
		if r.Status < 400 || r.Status >= 500 || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v", name, r.Status, r.Header)
		}
	}
}

// TestPrintedCommands pastes what the example prints into bash and
// follows the whole flow.
func TestPrintedCommands(t *testing.T) {
	s := start(t, "-client-id", `k"ey\1`, "-client-secret", `it's $HOME "quoted", 32+ characters long`)
	cmds := demotest.Commands(s.Output())
	if len(cmds) != 9 {
		t.Fatalf("commands %q in\n%s", cmds, s.Output())
	}
	out, errOut := demotest.Shell(t, cmds)
	subs := regexp.MustCompile(`"sub":"((?:[^"\\]|\\.)*)","client_id":"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(out, -1)
	if len(subs) != 2 || subs[0][1] != `k\"ey\\1` || subs[1][1] != subs[0][1] || subs[1][2] == subs[0][2] {
		t.Errorf("whoami answers %q in\n%s", subs, out)
	}
	if strings.Count(out, "204\n") != 2 || !strings.Contains(errOut, "401") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

// TestRestartAfterKeyChange: on each persistent store, a changed key and
// its identity survive a restart, and the old key cannot be brought back
// as the demo client.
func TestRestartAfterKeyChange(t *testing.T) {
	for _, b := range []struct {
		name  string
		store func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string {
			return []string{"-store", "sqlite:" + filepath.Join(t.TempDir(), "ob.db")}
		}},
		{"postgres", func(t *testing.T) []string { return []string{"-store", dbtest.PostgresDSN(t)} }},
		{"mysql", func(t *testing.T) []string { return []string{"-store", "mysql://" + dbtest.MySQLDSN(t)} }},
		{"redis", func(t *testing.T) []string {
			return []string{"-store", dbtest.RedisURL(t), "-redis-prefix", dbtest.RedisPrefix(t)}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			st := b.store(t)
			s := start(t, append(st, "-client-id", demoKey, "-client-secret", demoSecret)...)
			wantNoContent(t, sendCredentials(t, s, "PUT", getToken(t, s, demoKey, demoSecret), body("moved", newSecret)))
			tok := getToken(t, s, "moved", newSecret)
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr := strings.TrimPrefix(s.URL, "http://") // the same issuer URL, so old tokens verify
			err := run(ctx, append([]string{"-addr", addr, "-client-id", demoKey, "-client-secret", demoSecret}, st...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "disabled") {
				t.Errorf("restart with the old key: %v", err)
			}
			s = demotest.Start(t, run, append([]string{"-addr", addr, "-client-id", "moved", "-client-secret", newSecret}, st...)...)
			if code, p := callWhoami(t, s, tok); code != 200 || p.Sub != demoKey || p.ClientID != "moved" {
				t.Errorf("token from before the restart: %d %+v", code, p)
			}
			wantNoContent(t, sendCredentials(t, s, "DELETE", tok, ""))
			if code, _ := callWhoami(t, s, tok); code != 401 {
				t.Errorf("token after DELETE: %d", code)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-client-secret", "x"}, {"-store", "nope"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
