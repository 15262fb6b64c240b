// Command chi is the quickstart served through chi: an OAuth 2.0 token
// endpoint (client credentials), revocation, introspection, JWKS and RFC 8414
// metadata mounted on a chi router with chiauth.Mount, and one API route
// guarded by chiauth.Middleware.
//
//	go run ./examples/chi
//
// It prints a demo client's id and secret and curl commands to paste: one
// gets a token with HTTP Basic and a form body, the other calls
// GET /v1/whoami, which answers with the caller's principal as JSON (it
// requires the "read" scope).
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8086; port 0 picks a free one)
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret (needs -client-id)
//
// The issuer is http:// + the listen address, and everything is kept in
// memory: a restart forgets the client and the signing key. See
// examples/quickstart for persistent stores.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/portcullis/portcullis/adapters/chiauth"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/issuer"
	portcullis "github.com/portcullis/portcullis/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chi example:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. It is main
// without the process: tests call it in-process. The flags, the in-memory
// issuer with its demo client and the serving are the same in every example
// (package demo); what is chi's is the guard and newRouter.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags, err := demo.ParseFlags("chi", args, stdout, nil)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	// Listen first: with port 0 the issuer URL is only known now.
	ln, base, err := demo.Listen(flags.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	iss, client, err := demo.NewIssuer(ctx, base, flags, "chi demo client", log)
	if err != nil {
		return err
	}
	// The guard of the /v1 routes: a valid access token of this issuer
	// with the "read" scope.
	guard, err := portcullis.New(portcullis.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: log})
	if err != nil {
		return err
	}

	demo.PrintIntro(stdout, "Portcullis on chi (store: memory)", base, iss.Paths(), client)
	return demo.Serve(ctx, ln, newRouter(iss, guard), log, stdout)
}

// newRouter is the whole API: the issuer's endpoints, and the guarded
// routes under /v1.
func newRouter(iss *issuer.Issuer, guard *portcullis.Guard) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	chiauth.Mount(r, iss)
	// Liveness and readiness probes (Kubernetes livenessProbe, readinessProbe).
	r.Method(http.MethodGet, "/healthz", iss.LivenessHandler())
	r.Method(http.MethodGet, "/readyz", iss.ReadinessHandler())
	r.Route("/v1", func(r chi.Router) {
		r.Use(chiauth.Middleware(guard))
		r.Get("/whoami", whoami)
	})
	return r
}

// whoami answers with the principal the guard found: who called, with which
// scopes, and when the token expires.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := chiauth.Principal(r)
	if !ok {
		http.Error(w, "unguarded route", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}
