package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/token"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// server is one in-process run of the example.
type server struct {
	base string // from the "listening on" line
	mu   sync.Mutex
	out  strings.Builder
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// start runs the example with args until the test ends and waits for its
// "listening on" line.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.out.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				listening <- u
			}
		}
		io.Copy(io.Discard, pr)
	}()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case s.base = <-listening:
		return s
	case err := <-done:
		done <- err
		t.Fatalf("run ended before listening: %v\n%s", err, s.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("no listening line after 60s:\n%s", s.output())
	}
	return nil
}

const (
	demoID     = "demo:gin/1"
	demoSecret = "s3cret+with/odd%chars & spaces"
)

func TestServer(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret)
	if !strings.HasPrefix(s.base, "http://127.0.0.1:") || strings.HasSuffix(s.base, ":0") {
		t.Fatalf("listening on %q: want the real address", s.base)
	}
	for _, want := range []string{demoID, demoSecret, "curl -s -u 'demo%3Agin%2F1:", s.base + "/oauth/token", s.base + "/v1/whoami"} {
		if !strings.Contains(s.output(), want) {
			t.Errorf("output lacks %q:\n%s", want, s.output())
		}
	}

	var meta struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	getJSON(t, http.DefaultClient, s.base+"/.well-known/oauth-authorization-server", http.StatusOK, &meta)
	if meta.Issuer != s.base || meta.TokenEndpoint != s.base+"/oauth/token" {
		t.Errorf("metadata %+v", meta)
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, http.DefaultClient, meta.JWKSURI, http.StatusOK, &jwks)
	if len(jwks.Keys) != 1 {
		t.Errorf("JWKS holds %d keys", len(jwks.Keys))
	}

	// The oauth2 client gets a token and calls the guarded route as any Go
	// program would.
	cc := &clientcredentials.Config{ClientID: demoID, ClientSecret: demoSecret, TokenURL: meta.TokenEndpoint}
	var p token.Principal
	getJSON(t, cc.Client(context.Background()), s.base+"/v1/whoami", http.StatusOK, &p)
	if p.Kind != token.KindClient || p.Subject != demoID || p.ClientID != demoID || p.Issuer != s.base || !p.HasScopes("read", "write") {
		t.Errorf("principal %+v", p)
	}

	resp, err := http.Get(s.base + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("without a token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	writeOnly := &clientcredentials.Config{ClientID: demoID, ClientSecret: demoSecret, TokenURL: meta.TokenEndpoint, Scopes: []string{"write"}}
	getJSON(t, writeOnly.Client(context.Background()), s.base+"/v1/whoami", http.StatusForbidden, nil)
	wrong := &clientcredentials.Config{ClientID: demoID, ClientSecret: demoSecret + "x", TokenURL: meta.TokenEndpoint}
	if _, err := wrong.Token(context.Background()); err == nil {
		t.Error("a wrong secret got a token")
	}
}

// getJSON GETs url, checks the status and decodes the body into v (unless
// v is nil).
func getJSON(t *testing.T, c *http.Client, url string, status int, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, status)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-client-secret", "x"},
		{"-nope"},
		{"extra"},
		{"-addr", "256.0.0.1:http"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
