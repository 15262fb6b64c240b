// Command resource-server is an API that trusts a Portcullis issuer it
// shares nothing with but the issuer's URL: it fetches the issuer's public
// keys from its JWKS (middleware.NewJWKSVerifier) and verifies access tokens
// locally, with no store and no call to the issuer per request.
//
//	go run ./examples/quickstart          # the issuer, on 127.0.0.1:8080
//	go run ./examples/resource-server     # this API, on 127.0.0.1:8087
//
// GET /v1/whoami answers with the caller's principal as JSON; it requires a
// client token with the "read" scope. It prints the commands that get a
// token from the issuer and call it; they read CLIENT_ID and CLIENT_SECRET,
// which the quickstart prints as an export line.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8087; port 0 picks a free one)
//	-issuer URL           the issuer's identifier (default http://127.0.0.1:8080); its
//	                      keys are read from URL/.well-known/jwks.json
//	-follow-client ID     follow the issuer's change feed as the resource-server
//	                      client ID, whose secret is read from the environment
//	                      variable FOLLOW_CLIENT_SECRET (kept off the command line)
//	-poll DURATION        how often the change feed is polled (default 2s)
//
// # Revocation and rotation
//
// Revocation and credential rotation live in the issuer's store, which this
// server never reads. Without -follow-client, a revoked token, or one issued
// before its client rotated its secret, is accepted here until it expires
// (1h by default). With -follow-client, the server polls the issuer's
// change feed (middleware.FollowConfig) every -poll and refuses such tokens
// within about that time; it answers 503 until it has read the feed once,
// and again if it cannot read it for a minute. The client must be one the
// issuer made to introspect any token (a resource server: the quickstart
// prints one). Otherwise, share the issuer's store and use
// middleware.NewLocalVerifier, or ask the issuer with
// middleware.NewIntrospectionVerifier.
//
// The server starts even when the issuer is down: it answers 503 until it
// has fetched the keys, and then keeps them through later outages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. It is main
// without the process: tests call it in-process. Listening and serving are
// the same in every example (package demo); what is this one's is the JWKS
// verifier and the guard over it.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("resource-server", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", demo.DefaultAddr("resource-server"), "listen address; port 0 picks a free port")
	issuerURL := fs.String("issuer", "http://"+demo.DefaultAddr("quickstart"), "the issuer's identifier (its base URL)")
	followID := fs.String("follow-client", "", "follow the issuer's change feed as this resource-server client (secret in $FOLLOW_CLIENT_SECRET)")
	poll := fs.Duration("poll", 2*time.Second, "how often the change feed is polled")
	if err := demo.Parse(fs, args); err != nil {
		return err
	}
	var follow *middleware.FollowConfig
	if *followID != "" {
		secret := os.Getenv("FOLLOW_CLIENT_SECRET")
		if secret == "" {
			return errors.New("-follow-client needs the client's secret in $FOLLOW_CLIENT_SECRET")
		}
		follow = &middleware.FollowConfig{ClientID: *followID, ClientSecret: secret, PollInterval: *poll}
	}
	if u, err := url.Parse(*issuerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-issuer %q must be an http or https URL", *issuerURL)
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	ln, base, err := demo.Listen(*addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	// The verifier refreshes the keys in the background until ctx is done.
	verifier, err := middleware.NewJWKSVerifier(ctx, middleware.JWKSConfig{Issuer: *issuerURL, Logger: log, Follow: follow})
	if err != nil {
		return err
	}
	guard, err := middleware.New(middleware.Config{Verifier: verifier, Scopes: []string{"read"}, Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/whoami", guard.Wrap(http.HandlerFunc(whoami)))

	iss := strings.TrimSuffix(*issuerURL, "/")
	// The credentials go in the form body (RFC 6749 §2.3.1 allows it), where
	// --data-urlencode carries any characters; ${…:?} stops with a message
	// when the quickstart's export line was not pasted.
	need := "paste the export line the quickstart prints"
	tokenArgs := `-d grant_type=client_credentials --data-urlencode "client_id=${CLIENT_ID:?` + need +
		`}" --data-urlencode "client_secret=${CLIENT_SECRET:?` + need + `}" ` + iss + "/oauth/token"
	seen := "Revocation and rotation are not seen here: a token is good until it expires."
	if follow != nil {
		seen = fmt.Sprintf("Revocation and rotation are seen within %s: the issuer's change feed is followed.", *poll)
	}
	fmt.Fprintf(stdout, `Portcullis resource server

Tokens of %s are verified with the keys at %s/.well-known/jwks.json.
%s

With the quickstart's demo client, in a shell where CLIENT_ID and
CLIENT_SECRET are exported (the quickstart prints the export line; a
refused request prints "request failed:" and the answer, and leaves $TOKEN
unset):

  %s
  curl -s -H "Authorization: Bearer $TOKEN" %s/v1/whoami

`, iss, iss, seen, demo.Capture(tokenArgs, demo.Var{Name: "TOKEN", Member: "access_token"}), base)

	return demo.Serve(ctx, ln, mux, log, stdout)
}

// whoami answers with the principal the guard found.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := middleware.PrincipalFrom(r.Context())
	if !ok {
		http.Error(w, "unguarded route", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}
