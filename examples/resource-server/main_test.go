package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// testIssuer is a Portcullis issuer on ln (a fresh address when nil) with
// one client allowed "read" and "write".
type testIssuer struct {
	url, id, secret string
	iss             *issuer.Issuer
}

func startIssuer(t *testing.T, ln net.Listener) *testIssuer {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	iss, err := issuer.New(issuer.Config{
		Issuer: srv.URL, Store: memory.New(), Scopes: []string{"read", "write"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", iss.Handler())
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{url: srv.URL, id: c.ID, secret: secret, iss: iss}
}

func (ti *testIssuer) credentials(scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: ti.id, ClientSecret: ti.secret, TokenURL: ti.url + ti.iss.Paths().Token, Scopes: scopes}
}

func TestResourceServer(t *testing.T) {
	ti := startIssuer(t, nil)
	s := demotest.Start(t, run, "-addr", "127.0.0.1:0", "-issuer", ti.url)
	if !strings.Contains(s.Output(), ti.url+"/.well-known/jwks.json") {
		t.Errorf("output does not name the JWKS URL:\n%s", s.Output())
	}

	// The oauth2 client gets a token from the issuer and calls this server.
	resp, err := ti.credentials().Client(context.Background()).Get(s.URL + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	var p middleware.Principal
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("whoami: %d %v", resp.StatusCode, err)
	}
	if p.Kind != token.KindClient || p.Subject != ti.id || p.Issuer != ti.url || !p.HasScope("read") {
		t.Errorf("principal %+v", p)
	}

	if code, _ := demotest.Whoami(t, s.URL, ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	writeOnly, err := ti.credentials("write").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := demotest.Whoami(t, s.URL, writeOnly.AccessToken); code != http.StatusForbidden {
		t.Errorf("token without read: %d, want 403", code)
	}

	// A token with the issuer's claims and kid, signed by another key.
	issued, err := ti.credentials().Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := demotest.Whoami(t, s.URL, forge(t, issued.AccessToken)); code != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", code)
	}
	if code, _ := demotest.Whoami(t, s.URL, issued.AccessToken); code != http.StatusOK {
		t.Errorf("the real token after the forgery: %d", code)
	}
}

// TestPrintedCommands pastes the printed commands into bash after the
// export line the quickstart prints, with credentials that need quoting:
// they get a token from the issuer and call this server with it. Without
// the export line, the token command says what is missing; with wrong
// credentials it shows the issuer's invalid_client, and $TOKEN stays unset.
func TestPrintedCommands(t *testing.T) {
	const id, secret = "odd:id/1%'q'", `s3cret+with/odd%chars & "spaces" $HOME`
	ti := startIssuer(t, nil)
	if _, _, err := ti.iss.CreateClient(context.Background(), issuer.ClientSpec{ID: id, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	s := demotest.Start(t, run, "-addr", "127.0.0.1:0", "-issuer", ti.url)
	cmds := demotest.Commands(s.Output())
	if len(cmds) != 2 {
		t.Fatalf("commands %q in\n%s", cmds, s.Output())
	}
	export := "export CLIENT_ID=" + demo.ShellQuote(id) + " CLIENT_SECRET=" + demo.ShellQuote(secret)
	stdout, stderr := demotest.Shell(t, append([]string{export}, cmds...))
	if !strings.Contains(stdout, `"access_token":"`) || !strings.Contains(stdout, `"client_id":"odd:id/1%'q'"`) {
		t.Errorf("printed commands:\nstdout %s\nstderr %s", stdout, stderr)
	}

	_, stderr = demotest.Shell(t, []string{"unset CLIENT_ID CLIENT_SECRET", cmds[0], `echo "TOKEN=${TOKEN-unset}" >&2`})
	if !strings.Contains(stderr, "CLIENT_ID: paste the export line the quickstart prints") || !strings.Contains(stderr, "TOKEN=unset") {
		t.Errorf("without the export line:\n%s", stderr)
	}
	_, stderr = demotest.Shell(t, []string{"export CLIENT_ID=x CLIENT_SECRET=y", cmds[0], `echo "TOKEN=${TOKEN-unset}" >&2`})
	if !strings.Contains(stderr, `request failed: {"error":"invalid_client"`) || !strings.Contains(stderr, "TOKEN=unset") {
		t.Errorf("wrong credentials:\n%s", stderr)
	}
}

// forge re-signs raw's claims with a new ES256 key that takes raw's kid.
func forge(t *testing.T, raw string) string {
	t.Helper()
	var claims token.Claims
	parsed, _, err := jwt.NewParser().ParseUnverified(raw, &claims)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	sk, err := token.GenerateKey(token.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sk.ID = kid
	k, err := token.ParseKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet([]*token.Key{k}, kid)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := ks.Sign(&claims)
	if err != nil {
		t.Fatal(err)
	}
	head := func(s string) string { return s[:strings.IndexByte(s, '.')] }
	if head(forged) != head(raw) {
		h1, _ := base64.RawURLEncoding.DecodeString(head(forged))
		h2, _ := base64.RawURLEncoding.DecodeString(head(raw))
		t.Fatalf("forged header %s differs from the real %s", h1, h2)
	}
	return forged
}

// The resource server may start before the issuer: once the issuer
// answers, the first request fetches the keys.
func TestIssuerStartsLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the start-up fetch is refused
	s := demotest.Start(t, run, "-addr", "127.0.0.1:0", "-issuer", "http://"+addr)
	if !strings.Contains(s.Output(), "cannot fetch the issuer's JWKS") {
		t.Errorf("no failed start-up fetch logged:\n%s", s.Output())
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the issuer's address was taken meanwhile: %v", err)
	}
	ti := startIssuer(t, ln)
	tok, err := ti.credentials().Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if code, p := demotest.Whoami(t, s.URL, tok.AccessToken); code != http.StatusOK || p.Subject != ti.id {
		t.Errorf("after the issuer came up: %d %+v\n%s", code, p, s.Output())
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-issuer", "ftp://x"},
		{"-issuer", "not a url"},
		{"-nope"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
