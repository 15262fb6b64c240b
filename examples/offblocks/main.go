// Command offblocks serves the authentication of the OffBlocks API (the
// seed page 000) on chi:
//
//	POST   /v1/auth/token        {"apiKey":"…","apiSecret":"…"}
//	→ 200 {"token":"eyJ…","expiresAt":1700003600,"tokenType":"Bearer"}
//	PUT    /v1/auth/credentials  Authorization: Bearer eyJ…  {"apiKey":"…","apiSecret":"…"}
//	→ 204: the new credentials replace the old; every earlier token dies
//	DELETE /v1/auth/credentials  Authorization: Bearer eyJ…
//	→ 204: the credentials and every token of theirs die
//	GET    /v1/whoami            Authorization: Bearer eyJ…
//
// Tokens are JWTs that live 1 hour; expiresAt is their exp. A PUT may change
// the key too: the tokens of the new key speak for the same identity (their
// sub) as those of the old one.
//
//	go run ./examples/offblocks
//
// It prints the demo credentials and the requests, rewritten for this
// server, ready to paste in order.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8081; port 0 picks a free one)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@host:port/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-client-id ID         fix the demo apiKey
//	-client-secret S      fix the demo apiSecret
//
// On a persistent store the demo credentials are kept across restarts as in
// examples/quickstart; once they have been changed or deleted over HTTP,
// start with another -client-id (or none).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/portcullis/portcullis/adapters/chiauth"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/examples/internal/demostore"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "offblocks:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. It is main without the process: tests call
// it in-process.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	var storeFlags demostore.Flags
	flags, err := demo.ParseFlags("offblocks", args, stdout, func(fs *flag.FlagSet) { storeFlags.Register(fs) })
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
		// {"apiKey","apiSecret"} in, {"token","expiresAt","tokenType"} out;
		// the tokens are JWTs of the client kind, 1 hour by default.
		Dialect: issuer.OffBlocks(),
		Paths: issuer.Paths{
			Token: "/v1/auth/token",
			// PUT and DELETE with the client's token. Off by default: it
			// lets whoever holds a token choose the credentials.
			OwnCredentials: "/v1/auth/credentials",
			// The OpenAPI description of these endpoints (openapi.json).
			OpenAPI: "/openapi.json",
			// None of the OAuth 2.0 endpoints, which the API does not have.
			Revocation: "-", Introspection: "-", Credentials: "-", JWKS: "-", Metadata: "-",
		},
		// A secret the client chooses must have at least this many
		// characters (the default); a weaker one is refused with 400.
		MinSecretLength: 32,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if _, err := iss.Watch(watchCtx); err != nil {
		return fmt.Errorf("watch store events: %w", err)
	}
	client, err := demo.EnsureClient(ctx, iss, st, flags.ClientID, flags.ClientSecret, issuer.ClientSpec{Name: "offblocks demo credentials"})
	if err != nil {
		return err
	}

	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Logger: log})
	if err != nil {
		return err
	}
	r := chi.NewRouter()
	r.Use(chimw.Recoverer)
	chiauth.Mount(r, iss) // POST /v1/auth/token, PUT and DELETE /v1/auth/credentials
	// Liveness and readiness probes (Kubernetes livenessProbe, readinessProbe).
	r.Method(http.MethodGet, "/healthz", iss.LivenessHandler())
	r.Method(http.MethodGet, "/readyz", iss.ReadinessHandler())
	r.With(chiauth.Middleware(guard)).Get("/v1/whoami", whoami)

	printIntro(stdout, base, storeFlags.Label(), client)
	return demo.Serve(ctx, ln, r, log, stdout)
}

// whoami answers with the principal the guard found. Its sub is the
// identity the credentials speak for, which a change of key keeps; its
// client_id is the current key.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := chiauth.Principal(r)
	if !ok {
		http.Error(w, "unguarded route", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

// printIntro prints the demo credentials and the flow for this server,
// with the credentials kept in $CREDS and the token in $TOKEN.
func printIntro(w io.Writer, base, storeLabel string, c demo.Client) {
	how := ""
	if c.How != "" {
		how = " (" + c.How + ")"
	}
	// New credentials for the PUT: a new key, and a secret of 256 random
	// bits, well above the 32 characters the server asks.
	b := make([]byte, 48)
	rand.Read(b)
	newKey, newSecret := hex.EncodeToString(b[:16]), base64.RawURLEncoding.EncodeToString(b[16:])

	tokenArgs := `-X POST "` + base + `/v1/auth/token" -H "Content-Type: application/json" --data "$CREDS"`
	getToken := demo.Capture(tokenArgs, demo.Var{Name: "TOKEN", Member: "token"})
	whoami := `curl -sS --fail-with-body "` + base + `/v1/whoami" -H "Authorization: Bearer $TOKEN"`
	creds := `"` + base + `/v1/auth/credentials" -H "Authorization: Bearer $TOKEN"`
	fmt.Fprintf(w, `Portcullis serving the OffBlocks seed API (store: %s)

Demo credentials%s:
  apiKey:    %s
  apiSecret: %s

Get a token and call the API with it (a failed request says so and leaves $TOKEN unset):

  CREDS=%s
  %s
  %s

Change the credentials, key included: every earlier token and the old pair die, and the identity (sub) stays:

  NEW_CREDS=%s
  curl -sS --fail-with-body -X PUT %s -H "Content-Type: application/json" --data "$NEW_CREDS" -w '%%{http_code}\n' && CREDS=$NEW_CREDS
  %s   # refused now: the token died with the old credentials
  %s
  %s

Delete the credentials (the demo's: restart to get new ones), and every token of theirs:

  curl -sS --fail-with-body -X DELETE %s -w '%%{http_code}\n'

`, storeLabel, how, c.ID, c.Secret,
		demo.JSON("apiKey", c.ID, "apiSecret", c.Secret), getToken, whoami,
		demo.JSON("apiKey", newKey, "apiSecret", newSecret), creds, whoami, getToken, whoami,
		creds)
}
