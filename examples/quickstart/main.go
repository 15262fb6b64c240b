// Command quickstart is the smallest complete Portcullis server: an OAuth 2.0
// token endpoint (client credentials), revocation, introspection, JWKS and
// RFC 8414 metadata, and one API route guarded by client access tokens.
//
//	go run ./examples/quickstart
//
// It prints a demo client's id and secret and curl commands to paste: one
// gets a token with HTTP Basic and a form body, the other calls
// GET /v1/whoami, which answers with the caller's principal as JSON. A
// token command that the server refuses prints "request failed:" with the
// server's answer and leaves its variable unset. Last come the export
// lines that examples/resource-server's printed commands read.
// GET /healthz and GET /readyz are the liveness and readiness probes.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8080; port 0 picks a free one)
//	-issuer URL           issuer identifier (default http:// + the listen address)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@host:port/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret
//	-account NAME         the demo account's username (default "demo")
//	-account-password P   the demo account's password (default: a new random one on every start)
//	-kek ID:BASE64        key-encryption key sealing the signing keys in the store (default $PORTCULLIS_KEK)
//	-metrics PATH|ADDR    serve Prometheus metrics at PATH of -addr (/metrics), or at /metrics on ADDR of its own
//
// # Accounts
//
// Besides the demo client, the quickstart has a demo account, which logs in
// with HTTP Basic at POST /account/login and gets an account token (12 h).
// With it, the account makes client keys of its own at /account/keys and
// reads GET /v1/me, a route for account tokens only: a client token, even
// one of the account's own keys, is refused there. The printed commands go
// through that flow in order. On a persistent store, an existing demo
// account gets the password of this start, so its earlier tokens die.
//
// # Metrics
//
// With -metrics, the issuer, the guards and the store report to
// OpenTelemetry (package adapters/otelauth), exported in Prometheus text
// format: tokens issued by kind and grant, authentication failures by
// reason, verifications by result and whether the cache answered, store
// call and endpoint latencies, and the Go runtime's metrics.
//
//	go run ./examples/quickstart -metrics /metrics
//	curl -s http://127.0.0.1:8080/metrics | grep ^portcullis_
//
// An address (-metrics 127.0.0.1:9090) serves them on a listener of their
// own, off the public port.
//
// # Persistent stores
//
// With any store but memory, the tables (or keys) are created on start-up,
// and clients and signing keys survive a restart, so a token from the last
// run still works. The signing keys are sealed there (AES-256-GCM) with the
// key-encryption key of -kek or PORTCULLIS_KEK, for example
// PORTCULLIS_KEK=k1:$(openssl rand -base64 32); without one they are stored
// in the clear, and a warning says so. A start without the KEK, or with
// another, over sealed keys fails. The demo client then behaves as follows:
//
//   - without -client-id, a new demo client is created on every start;
//   - with -client-id naming a client that does not exist yet, it is created
//     (with -client-secret, or a generated secret);
//   - with -client-id naming an existing client and the same -client-secret,
//     it is reused as it is;
//   - with a different -client-secret, that secret replaces the stored one
//     and the client's generation moves on, so every token issued with the
//     old secret is refused from then on, as after a rotation;
//   - with -client-id but no -client-secret, the client is rotated: a stored
//     secret cannot be shown again, so a new one is issued and printed.
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
	"os"
	"os/signal"
	"syscall"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/examples/internal/demostore"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// kekEnv is the environment variable -kek defaults to.
const kekEnv = "PORTCULLIS_KEK"

// demoScopes are the scopes the server knows; the demo client is granted
// both, and /v1/whoami requires "read".
var demoScopes = []string{"read", "write"}

// run serves until ctx is done, then shuts down gracefully. It is main
// without the process: tests call it in-process. The common flags,
// listening and serving are the same in every example (package demo); what
// is the quickstart's is the net/http wiring (the store and the demo
// client's reuse across restarts are package demo's too, shared with the
// seed examples).
func run(ctx context.Context, args []string, stdout io.Writer) error {
	return runServer(ctx, args, stdout, nil)
}

// runServer is run with a hook that may change the server before it
// serves: the flood test shortens its timeouts.
func runServer(ctx context.Context, args []string, stdout io.Writer, adjust func(*http.Server)) error {
	var issuerURL, accountName, accountPassword, kek, metricsAt string
	var storeFlags demostore.Flags
	flags, err := demo.ParseFlags("quickstart", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&accountName, "account", "demo", "the demo account's username")
		fs.StringVar(&accountPassword, "account-password", "", "the demo account's password (default: a new random one)")
		fs.StringVar(&issuerURL, "issuer", "", "issuer identifier (default http:// + the listen address)")
		fs.StringVar(&kek, "kek", "", "key-encryption key that seals the signing keys in the store, as id:base64 of 32 bytes, "+
			"then older ones to read, comma-separated (default $"+kekEnv+")")
		fs.StringVar(&metricsAt, "metrics", "", "serve Prometheus metrics at this path of -addr (/metrics), or at /metrics on this address")
		storeFlags.Register(fs)
	})
	if err != nil {
		return err
	}
	obs, err := newObservability(metricsAt)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	// Listen first: with port 0 the issuer URL is only known now.
	ln, listening, err := demo.Listen(flags.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := issuerURL
	if base == "" {
		base = listening
	}

	st, closeStore, err := storeFlags.Open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	st = obs.store(st)

	if kek == "" {
		kek = os.Getenv(kekEnv) // an environment variable keeps the key out of ps and shell history
	}
	keyEnc, err := issuer.ParseKeyEncryption(kek)
	if err != nil {
		return fmt.Errorf("-kek: %w", err)
	}
	if !keyEnc.Enabled() && storeFlags.Label() != "memory" {
		log.Warn("signing keys are stored in the clear: whoever can read the store can forge tokens; set -kek or " + kekEnv)
	}

	iss, err := issuer.New(issuer.Config{Issuer: base, Store: st, Scopes: demoScopes, Logger: log, KeyEncryption: keyEnc, Hooks: obs.hooks(),
		// Clients registered with public keys (issuer.ClientSpec.JWKS)
		// authenticate with signed assertions instead of secrets, and a
		// token request with a DPoP proof gets a token bound to its key.
		PrivateKeyJWT: issuer.PrivateKeyJWTConfig{Enabled: true},
		DPoP:          issuer.DPoPConfig{Enabled: true},
		// The OpenAPI description of the endpoints (openapi.json).
		Paths: issuer.Paths{OpenAPI: "/openapi.json"}})
	if err != nil {
		return err
	}
	// With Redis, revocations and rotations reach this verifier's cache at
	// once through pub/sub; other stores are asked again after StateTTL.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if _, err := iss.Watch(watchCtx); err != nil {
		return fmt.Errorf("watch store events: %w", err)
	}

	client, err := demo.EnsureClient(ctx, iss, st, flags.ClientID, flags.ClientSecret, issuer.ClientSpec{Name: "quickstart demo client"})
	if err != nil {
		return err
	}
	// A resource server's client, which may read the change feed (and
	// introspect any token): examples/resource-server follows the feed with
	// it. A fixed id, so that a persistent store keeps one; it gets a new
	// secret on every start.
	rsClient, err := demo.EnsureClient(ctx, iss, st, resourceServerClientID, "", issuer.ClientSpec{Name: "quickstart resource server", IntrospectAny: true})
	if err != nil {
		return err
	}

	account, err := demoAccount(ctx, iss, accountName, accountPassword)
	if err != nil {
		return err
	}

	// Client tokens with the scope "read" (the default kind) reach
	// /v1/whoami; account tokens, and only they, reach /v1/me.
	// DPoP-bound tokens need a fresh proof on every call; the store
	// remembers the proofs, so no replica accepts one twice.
	dpop := &middleware.DPoPConfig{Nonces: st.(store.Nonces)}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: log, Observe: obs.observe(), DPoP: dpop})
	if err != nil {
		return err
	}
	accountGuard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Kinds: []string{middleware.KindAccount}, Logger: log, Observe: obs.observe()})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// httpauth.Mount(mux, iss), each endpoint timed with -metrics: token,
	// revoke, introspect, JWKS, metadata, login, account keys (self-rotation,
	// Paths.Credentials, is off unless enabled).
	obs.mount(mux, iss)
	mux.Handle("GET /v1/whoami", httpauth.Protect(guard, http.HandlerFunc(whoami)))
	mux.Handle("GET /v1/me", httpauth.Protect(accountGuard, http.HandlerFunc(whoami)))
	// Probes for an orchestrator: liveness checks only the process,
	// readiness the store and the signing keys.
	mux.Handle("GET /healthz", iss.LivenessHandler())
	mux.Handle("GET /readyz", iss.ReadinessHandler())

	demo.PrintIntro(stdout, "Portcullis quickstart (store: "+storeFlags.Label()+")", base, iss.Paths(), client)
	printAccountIntro(stdout, base, iss.Paths(), account)
	stopMetrics, err := obs.serve(ctx, base, stdout, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	printResourceServerIntro(stdout, base, client, rsClient)
	// demo.NewServer sets read, write and idle timeouts: a slow or idle
	// client cannot hold a connection for longer.
	srv := demo.NewServer(mux, log)
	if adjust != nil {
		adjust(srv)
	}
	return demo.ServeServer(ctx, ln, srv, stdout)
}

// whoami answers with the principal the guard found: who called, with which
// scopes, and when the token expires.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := httpauth.Principal(r)
	if !ok {
		http.Error(w, "unguarded route", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

// demoAccount makes sure the demo account exists with the password asked
// for (or a new random one) and returns its login and password.
func demoAccount(ctx context.Context, iss *issuer.Issuer, name, password string) (demo.Client, error) {
	if password == "" {
		password = token.NewClientID() // 128 random bits in hex
	}
	a, err := iss.FindAccount(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, err := iss.CreateAccount(ctx, issuer.AccountSpec{Username: name, Password: password}); err != nil {
			return demo.Client{}, fmt.Errorf("demo account: %w", err)
		}
		return demo.Client{ID: name, Secret: password, How: "created"}, nil
	case err != nil:
		return demo.Client{}, fmt.Errorf("demo account: %w", err)
	}
	if err := iss.SetAccountPassword(ctx, a.ID, password); err != nil {
		return demo.Client{}, fmt.Errorf("demo account: %w", err)
	}
	return demo.Client{ID: name, Secret: password, How: "password set; its earlier tokens are refused"}, nil
}

// printAccountIntro prints the demo account and the commands that go
// through the account flow in order: log in, make a client key, get a
// client token with it, and see that only the account token reaches the
// account-only route. Each token is kept through demo.Capture, so that a
// refused step says so instead of passing an error body on as a token.
func printAccountIntro(w io.Writer, base string, paths issuer.Paths, a demo.Client) {
	fmt.Fprintf(w, `
Demo account (%s):
  login:    %s
  password: %s

As the account: log in (HTTP Basic), make a client key, get a client token
with it, and call the account-only route with each token (a refused step
prints "request failed:" and the answer, and leaves its variables unset):

  %s
  %s
  %s
  curl -s -H "Authorization: Bearer $ACCOUNT_TOKEN" %s
  curl -s -i -H "Authorization: Bearer $KEY_TOKEN" %s

The last one answers 401: a client token never reaches an account route.
List the account's keys with GET %s, delete one with DELETE %s/ID.
`, a.How, a.ID, a.Secret,
		demo.Capture("-X POST -u "+demo.ShellQuote(a.ID+":"+a.Secret)+" "+base+paths.Login,
			demo.Var{Name: "ACCOUNT_TOKEN", Member: "access_token"}),
		demo.Capture(`-X POST -H "Authorization: Bearer $ACCOUNT_TOKEN" `+base+paths.AccountKeys,
			demo.Var{Name: "KEY_ID", Member: "client_id"}, demo.Var{Name: "KEY_SECRET", Member: "client_secret"}),
		demo.Capture(`-u "$KEY_ID:$KEY_SECRET" -d grant_type=client_credentials `+base+paths.Token,
			demo.Var{Name: "KEY_TOKEN", Member: "access_token"}),
		base+"/v1/me", base+"/v1/me",
		base+paths.AccountKeys, base+paths.AccountKeys)
}

// resourceServerClientID is the id of the quickstart's resource-server
// client.
const resourceServerClientID = "quickstart-resource-server"

// printResourceServerIntro prints how to try examples/resource-server
// with this issuer: the command that starts it, following the change feed
// as the resource-server client rs, and export lines for the variables its
// printed commands read (the demo client's credentials).
func printResourceServerIntro(w io.Writer, base string, c, rs demo.Client) {
	fmt.Fprintf(w, `
An API that verifies these tokens through this issuer's JWKS alone, and
learns of rotations and revocations from its change feed within 2s: start
examples/resource-server in another terminal,

  FOLLOW_CLIENT_SECRET=%s go run ./examples/resource-server -issuer %s -follow-client %s

(without -follow-client it accepts a token until it expires) and set the
demo client's credentials in the shell where you paste the commands it
prints:

  export CLIENT_ID=%s CLIENT_SECRET=%s

`, demo.ShellQuote(rs.Secret), base, demo.ShellQuote(rs.ID), demo.ShellQuote(c.ID), demo.ShellQuote(c.Secret))
}
