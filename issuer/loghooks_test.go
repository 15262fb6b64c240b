package issuer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// syncBuffer is a bytes.Buffer that handlers may write from several
// goroutines (a background sweep).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// records decodes the JSON lines of a slog.JSONHandler.
func records(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestLogHooks runs every lifecycle event through LogHooks at debug level,
// with the issuer's and the guard's own logs in the same output, and checks
// that each is there with its level and that no secret, password or token
// of the run appears anywhere in it.
func TestLogHooks(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newAccountEnv(t, func(c *issuer.Config) {
		c.Hooks = issuer.LogHooks(logger)
		c.Logger = logger
		c.Refresh.Enabled = true
	})
	ctx := t.Context()
	var secrets []string
	keep := func(s ...string) { secrets = append(secrets, s...) }

	id, secret := e.client(issuer.ClientSpec{Name: "billing"})
	keep(secret)
	tok := e.getToken(id, secret)
	keep(tok.AccessToken, tok.RefreshToken)
	const wrongSecret = "pcs_this-is-not-the-secret-but-must-not-be-logged"
	keep(wrongSecret)
	if rec := e.do(req{body: form("grant_type", "client_credentials"),
		header: map[string]string{"Authorization": basic(id, wrongSecret)}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", rec.Code)
	}
	r1 := e.refresh(id, secret, tok.RefreshToken).token(t)
	keep(r1.AccessToken, r1.RefreshToken)
	if rec := e.refresh(id, secret, tok.RefreshToken); rec.code != http.StatusBadRequest {
		t.Fatalf("reuse: %d", rec.code)
	}
	if rec := e.do(req{path: "/oauth/revoke", body: form("token", r1.AccessToken),
		header: map[string]string{"Authorization": basic(id, secret)}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d", rec.Code)
	}
	newSecret, err := e.iss.RotateClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	keep(newSecret)
	for _, f := range []func(context.Context, string) error{e.iss.DisableClient, e.iss.EnableClient, e.iss.DeleteClient} {
		if err := f(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	const password, wrongPassword, newPassword = "correct horse battery", "incorrect horse battery", "another long password"
	keep(password, wrongPassword, newPassword)
	a := e.account(issuer.AccountSpec{Username: "alice", Password: password})
	login := decodeToken(t, e.login("alice", password))
	keep(login.AccessToken)
	if rec := e.login("alice", wrongPassword); rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", rec.Code)
	}
	if err := e.iss.SetAccountPassword(ctx, a.ID, newPassword); err != nil {
		t.Fatal(err)
	}
	if err := e.iss.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.iss.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}

	// A guard that logs its refusals, given a revoked and a forged token.
	guard, err := middleware.New(middleware.Config{Verifier: e.iss.Verifier(), Logger: logger, LogRefusals: true})
	if err != nil {
		t.Fatal(err)
	}
	const forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.forged-token-must-not-be-logged"
	keep(forged)
	for _, raw := range []string{r1.AccessToken, forged} {
		r, _ := http.NewRequest(http.MethodGet, "/v1/things", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		if _, err := guard.Authenticate(r); err == nil {
			t.Fatalf("guard accepted %q", raw)
		}
	}

	logged := out.String()
	for _, s := range secrets {
		if strings.Contains(logged, s) {
			t.Errorf("the log holds a secret, password or token %q:\n%s", s, logged)
		}
	}
	levels := map[string]string{}
	for _, r := range records(t, logged) {
		if ev, ok := r["event"].(string); ok {
			if lv, seen := levels[ev]; seen && lv != r["level"] {
				t.Errorf("event %s logged at %s and %s", ev, lv, r["level"])
			}
			levels[ev] = r["level"].(string)
		}
		if r["msg"] == "portcullis: access token rejected" && r["level"] != "INFO" {
			t.Errorf("guard refusal at %s, want INFO with LogRefusals", r["level"])
		}
	}
	want := map[string]string{
		"client.created": "INFO", "client.rotated": "INFO", "client.disabled": "INFO",
		"client.enabled": "INFO", "client.deleted": "INFO",
		"account.created": "INFO", "account.rotated": "INFO", "account.disabled": "INFO",
		"account.deleted": "INFO",
		"auth.failed":     "INFO", "login": "INFO", "token.revoked": "INFO",
		"refresh.reused":      "WARN",
		"token.issued":        "DEBUG",
		"signing_key.created": "INFO", "signing_key.rotated": "INFO",
	}
	for ev, lv := range want {
		if levels[ev] != lv {
			t.Errorf("event %s logged at %q, want %s", ev, levels[ev], lv)
		}
	}
	for _, has := range []string{`"reason":"wrong_secret"`, `"id":"alice"`, `"id":"` + id + `"`, `"reason":"invalid_token"`} {
		if !strings.Contains(logged, has) {
			t.Errorf("the log lacks %s", has)
		}
	}
}

// At info level, issuance is not logged and costs no record.
func TestLogHooksInfo(t *testing.T) {
	var out syncBuffer
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Hooks = issuer.LogHooks(slog.New(slog.NewJSONHandler(&out, nil)))
	})
	id, secret := e.client(issuer.ClientSpec{})
	e.getToken(id, secret)
	if strings.Contains(out.String(), "token.issued") {
		t.Errorf("token issuance logged at info level:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "client.created") {
		t.Errorf("client creation not logged:\n%s", out.String())
	}
}

func TestJoinHooks(t *testing.T) {
	var a, b hookLog
	var out syncBuffer
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Hooks = issuer.JoinHooks(a.hooks(), issuer.Hooks{}, b.hooks(),
			issuer.LogHooks(slog.New(slog.NewJSONHandler(&out, nil))))
	})
	id, secret := e.client(issuer.ClientSpec{})
	e.getToken(id, secret)
	ga, gb := a.take(), b.take()
	if len(ga) != 2 || len(gb) != 2 || ga[0] != gb[0] || ga[1] != gb[1] {
		t.Errorf("joined hooks saw %q and %q, want the creation and the issue each", ga, gb)
	}
	if !strings.Contains(out.String(), "client.created") {
		t.Errorf("the joined LogHooks did not log")
	}
}

func ExampleLogHooks() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		// Drop what changes from run to run, so that the output is stable.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "kid", "active_at":
				return slog.Attr{}
			}
			return a
		},
	}))
	iss, err := issuer.New(issuer.Config{
		Issuer: "https://auth.example.com",
		Store:  memory.New(),
		// Audit events at info level (token issuance at debug); combine
		// with other hooks through JoinHooks.
		Hooks: issuer.LogHooks(logger),
	})
	if err != nil {
		log.Fatal(err)
	}
	// The secret is returned here, once, and never reaches the log.
	if _, _, err := iss.CreateClient(context.Background(), issuer.ClientSpec{ID: "billing"}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"level":"INFO","msg":"portcullis: signing key created","event":"signing_key.created","algorithm":"ES256","seq":1}
	// {"level":"INFO","msg":"portcullis: client created","event":"client.created","id":"billing"}
}
