// Command generic serves the authentication of a common camelCase API style
// (the "generic" seed page) on net/http:
//
//	POST /token             {"clientId":"…","secret":"…"}
//	→ 200 {"accessToken":"4172bbf1-0890-41c7-b0db-477095a288b6","tokenType":"Bearer","expiresIn":1800}
//	GET  /api/collections   Authorization: Bearer 4172bbf1-…
//
// The tokens are opaque, in UUID form, stored hashed and checked against the
// store on every request, and live 30 minutes.
//
//	go run ./examples/generic
//
// It prints the demo client's credentials and the page's requests,
// rewritten for this server, ready to paste in order.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8084; port 0 picks a free one)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@host:port/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-client-id ID         fix the demo client's id (the page uses testClient)
//	-client-secret S      fix the demo client's secret (the page uses superSecret)
//
// On a persistent store the demo client is kept across restarts as in
// examples/quickstart.
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
	"time"

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
		fmt.Fprintln(os.Stderr, "generic:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. It is main without the process: tests call
// it in-process.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	var storeFlags demostore.Flags
	flags, err := demo.ParseFlags("generic", args, stdout, func(fs *flag.FlagSet) { storeFlags.Register(fs) })
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	ln, base, err := demo.Listen(flags.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	st, closeStore, err := storeFlags.Open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()

	iss, err := issuer.New(issuer.Config{
		Issuer: base,
		Store:  st,
		// {"clientId","secret"} in, {"accessToken","tokenType","expiresIn"} out.
		Dialect: issuer.Generic(),
		// Opaque tokens in UUID form that live 30 minutes. A UUID v4 carries
		// 122 random bits, below RFC 6749's 128, which is why it is not the
		// default: use it where clients expect this shape.
		Kinds: []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatUUID, TTL: 30 * time.Minute}},
		// POST /token, and none of the OAuth 2.0 endpoints the API lacks.
		Paths: issuer.Paths{
			Token: "/token",
			// The OpenAPI description of these endpoints (openapi.json).
			OpenAPI:    "/openapi.json",
			Revocation: "-", Introspection: "-", Credentials: "-", JWKS: "-", Metadata: "-",
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if _, err := iss.Watch(watchCtx); err != nil {
		return fmt.Errorf("watch store events: %w", err)
	}
	client, err := demo.EnsureClient(ctx, iss, st, flags.ClientID, flags.ClientSecret, issuer.ClientSpec{Name: "generic demo client"})
	if err != nil {
		return err
	}

	// Every request to the API requires a bearer token.
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss) // POST /token
	// Liveness and readiness probes (Kubernetes livenessProbe, readinessProbe).
	mux.Handle("GET /healthz", iss.LivenessHandler())
	mux.Handle("GET /readyz", iss.ReadinessHandler())
	mux.Handle("GET /api/collections", httpauth.Protect(guard, http.HandlerFunc(collections)))

	printIntro(stdout, base, storeFlags.Label(), client)
	return demo.Serve(ctx, ln, mux, log, stdout)
}

// collections stands for the API: it answers with the caller's collections.
func collections(w http.ResponseWriter, r *http.Request) {
	p, ok := httpauth.Principal(r)
	if !ok {
		http.Error(w, "unguarded route", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"clientId":    p.ClientID,
		"collections": []map[string]string{{"id": "1", "name": "Books"}, {"id": "2", "name": "Records"}},
	})
}

// printIntro prints the demo client and the page's requests for this
// server: its curl command as written, then the same with the token kept
// in $TOKEN for the API call.
func printIntro(w io.Writer, base, storeLabel string, c demo.Client) {
	how := ""
	if c.How != "" {
		how = " (" + c.How + ")"
	}
	creds := demo.JSON("clientId", c.ID, "secret", c.Secret)
	tokenArgs := `-X POST -H "Content-Type: application/json" --data ` + creds + ` "` + base + `/token"`
	fmt.Fprintf(w, `Portcullis serving the generic seed API (store: %s)

Demo client%s:
  clientId: %s
  secret:   %s

Get a token, as the page does:

  curl %s

Keep it in $TOKEN (a failed request says so and leaves $TOKEN unset), then call the API with it:

  %s
  curl -X GET -H "Content-Type: application/json" -H "Authorization: Bearer $TOKEN" "%s/api/collections"

`, storeLabel, how, c.ID, c.Secret, tokenArgs,
		demo.Capture(tokenArgs, demo.Var{Name: "TOKEN", Member: "accessToken"}), base)
}
