// Package demotest runs the examples in-process for their smoke tests.
//
// Every example has a run(ctx, args, stdout) func that is main without the
// process; [Start] calls it in a goroutine, waits for the "listening on URL"
// line that package demo prints, and stops it when the test ends.
// [CheckIssuer] drives an example that issues tokens as a client would,
// with golang.org/x/oauth2/clientcredentials.
package demotest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/middleware"
)

// RunFunc is an example's run: it serves until ctx is done.
type RunFunc func(ctx context.Context, args []string, stdout io.Writer) error

// Server is one in-process run of an example.
type Server struct {
	URL string // from the "listening on" line

	stop func() error
	mu   sync.Mutex
	out  strings.Builder
}

// Output returns everything the run printed so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Stop ends the run and returns its error; later calls return the same.
func (s *Server) Stop() error { return s.stop() }

// Start runs run with args until the test ends (or Stop is called) and
// waits for its "listening on" line. A run that ends before it listens
// fails the test; so does one that fails after it did.
func Start(t *testing.T, run RunFunc, args ...string) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &Server{}
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
		if err := s.stop(); err != nil && s.URL != "" {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case s.URL = <-listening:
		return s
	case <-done:
		t.Fatalf("run ended before listening: %v\n%s", runErr, s.Output())
	case <-time.After(60 * time.Second):
		t.Fatalf("no listening line after 60s:\n%s", s.Output())
	}
	return nil
}

// CheckIssuer drives the example at base, which issues tokens and guards
// GET /v1/whoami with the "read" scope, as a Go client would: it reads the
// RFC 8414 metadata and the JWKS, gets a token for the client id with
// secret (granted "read" and "write") and calls the route, then checks
// that a missing or bad token gets 401, a token without "read" 403, and a
// wrong secret no token at all.
func CheckIssuer(t *testing.T, base, id, secret string) {
	t.Helper()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("listening on %q: want the real address", base)
	}
	var meta struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	getJSON(t, http.DefaultClient, base+"/.well-known/oauth-authorization-server", http.StatusOK, &meta)
	if meta.Issuer != base || meta.TokenEndpoint != base+"/oauth/token" {
		t.Errorf("metadata %+v, want issuer %q and its /oauth/token", meta, base)
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
	cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: meta.TokenEndpoint}
	var p middleware.Principal
	getJSON(t, cc.Client(context.Background()), base+"/v1/whoami", http.StatusOK, &p)
	if p.Kind != middleware.KindClient || p.Subject != id || p.ClientID != id || p.Issuer != base {
		t.Errorf("principal %+v", p)
	}
	if !slices.Equal(p.Scopes, []string{"read", "write"}) {
		t.Errorf("scopes %v, want [read write]", p.Scopes)
	}

	resp, err := http.Get(base + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("without a token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code, _ := Whoami(t, base, "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("whoami with a bad token: %d, want 401", code)
	}
	writeOnly := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: meta.TokenEndpoint, Scopes: []string{"write"}}
	getJSON(t, writeOnly.Client(context.Background()), base+"/v1/whoami", http.StatusForbidden, nil)
	wrong := &clientcredentials.Config{ClientID: id, ClientSecret: secret + "x", TokenURL: meta.TokenEndpoint}
	if _, err := wrong.Token(context.Background()); err == nil {
		t.Error("a wrong secret got a token")
	}
}

// Whoami calls GET /v1/whoami at base with tok (none when empty) and
// returns the status and, on 200, the principal it answered with.
func Whoami(t *testing.T, base, tok string) (int, middleware.Principal) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/whoami", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p middleware.Principal
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, p
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
