// Command quickstart is the smallest complete Portcullis server: an OAuth 2.0
// token endpoint (client credentials), revocation, introspection, JWKS and
// RFC 8414 metadata, and one API route guarded by client access tokens.
//
//	go run ./examples/quickstart
//
// It prints a demo client's id and secret and curl commands to paste: one
// gets a token with HTTP Basic and a form body, the other calls
// GET /v1/whoami, which answers with the caller's principal as JSON.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8080; port 0 picks a free one)
//	-issuer URL           issuer identifier (default http:// + the listen address)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@tcp(host:port)/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret
//
// # Persistent stores
//
// With any store but memory, the tables (or keys) are created on start-up,
// and clients and signing keys survive a restart, so a token from the last
// run still works. The demo client then behaves as follows:
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
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

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
	var issuerURL string
	var storeFlags demostore.Flags
	flags, err := demo.ParseFlags("quickstart", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&issuerURL, "issuer", "", "issuer identifier (default http:// + the listen address)")
		storeFlags.Register(fs)
	})
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

	iss, err := issuer.New(issuer.Config{Issuer: base, Store: st, Scopes: demoScopes, Logger: log})
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

	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss) // token, revoke, introspect, credentials, JWKS, metadata
	mux.Handle("GET /v1/whoami", httpauth.Protect(guard, http.HandlerFunc(whoami)))

	demo.PrintIntro(stdout, "Portcullis quickstart (store: "+storeFlags.Label()+")", base, iss.Paths(), client)
	return demo.Serve(ctx, ln, mux, log, stdout)
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
