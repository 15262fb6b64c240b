// Command datacrunch serves the authentication of the DataCrunch API (the
// seed page 002) on net/http:
//
//	POST /v1/oauth2/token  {"grant_type":"client_credentials","client_id":"…","client_secret":"…"}
//	→ 200 {"access_token":"eyJ…","token_type":"Bearer","expires_in":3600,"refresh_token":"pcr_…","scope":"fullAccess"}
//	POST /v1/oauth2/token  {"grant_type":"refresh_token","refresh_token":"pcr_…"}
//	→ 200 a new pair; the refresh token used is spent, and using it again
//	  revokes every refresh token descended from the same login
//	GET  /v1/balance       Authorization: Bearer eyJ…
//	GET  /account/credentials  the credentials page (package credpage), DataCrunch's
//	                           "generate credentials via the dashboard UI": log in as
//	                           the demo account, generate and delete client keys
//
// Form bodies and HTTP Basic work too, so golang.org/x/oauth2/clientcredentials
// works unchanged; a refresh may carry the client's id and secret (as
// DataCrunch's Go SDK sends them) or not (as its Python SDK does).
//
//	go run ./examples/datacrunch
//
// It prints the demo client's credentials and the page's requests,
// rewritten for this server, ready to paste in order.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8083; port 0 picks a free one)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@host:port/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret
//	-user NAME            the demo account's username (default "demo")
//	-email ADDR           the demo account's email (default "demo@example.com")
//	-password P           the demo account's password (default: a new random one on every start)
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

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/credpage"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/examples/internal/demostore"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "datacrunch:", err)
		os.Exit(1)
	}
}

// scope is the one scope the API grants ("currently only fullAccess is
// enabled").
const scope = "fullAccess"

// run serves until ctx is done. It is main without the process: tests call
// it in-process.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	var storeFlags demostore.Flags
	var accountFlags demo.AccountFlags
	flags, err := demo.ParseFlags("datacrunch", args, stdout, func(fs *flag.FlagSet) {
		storeFlags.Register(fs)
		accountFlags.Register(fs)
	})
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

	// RFC 6749's snake_case wire format, with JSON bodies as well as
	// forms, HTTP Basic as well as credentials in the body.
	dialect := issuer.DataCrunch()
	iss, err := issuer.New(issuer.Config{
		Issuer:  base,
		Store:   st,
		Dialect: dialect,
		Scopes:  []string{scope},
		// Two deliberate departures from RFC 6749, as DataCrunch's SDKs
		// expect: a refresh token with client credentials (§4.4.3 says
		// SHOULD NOT), and a refresh without client authentication (§6
		// requires it of a confidential client). The refresh token rotates
		// on every use, and reusing one revokes its family.
		Refresh: issuer.RefreshConfig{Enabled: true, AllowPublic: true},
		// POST /v1/oauth2/token, and none of the other OAuth 2.0 endpoints,
		// which the API does not have; the account login and keys
		// (/account/login, /account/keys) that the credentials page calls.
		Paths: issuer.Paths{
			Token: "/v1/oauth2/token",
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
	client, err := demo.EnsureClient(ctx, iss, st, flags.ClientID, flags.ClientSecret, issuer.ClientSpec{Name: "datacrunch demo client"})
	if err != nil {
		return err
	}
	account, err := accountFlags.Ensure(ctx, iss)
	if err != nil {
		return err
	}
	page, err := credpage.New(credpage.Config{Paths: iss.Paths(), Dialect: dialect})
	if err != nil {
		return err
	}

	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{scope}, Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss) // POST /v1/oauth2/token
	// Liveness and readiness probes (Kubernetes livenessProbe, readinessProbe).
	mux.Handle("GET /healthz", iss.LivenessHandler())
	mux.Handle("GET /readyz", iss.ReadinessHandler())
	mux.Handle("GET /v1/balance", httpauth.Protect(guard, http.HandlerFunc(balance)))
	// The credentials page, and its script and style sheet below it.
	mux.Handle("GET /account/credentials", page)
	mux.Handle("GET /account/credentials/", page)

	printIntro(stdout, base, storeFlags.Label(), client, account)
	return demo.Serve(ctx, ln, mux, log, stdout)
}

// balance stands for the API.
func balance(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"amount": 100.0, "currency": "usd"})
}

// printIntro prints the demo client and the page's requests for this
// server: the token request as written, then the whole flow with the
// tokens kept in $TOKEN and $REFRESH.
func printIntro(w io.Writer, base, storeLabel string, c demo.Client, a demo.Account) {
	how := ""
	if c.How != "" {
		how = " (" + c.How + ")"
	}
	tokenURL := `"` + base + `/v1/oauth2/token"`
	tokenArgs := `-X POST ` + tokenURL + ` -H "Content-Type: application/json" --data ` +
		demo.JSON("grant_type", "client_credentials", "client_id", c.ID, "client_secret", c.Secret)
	// The refresh token is base62 with a prefix, safe inside the quotes.
	refreshArgs := `-X POST ` + tokenURL + ` -H "Content-Type: application/json" --data "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"$REFRESH\"}"`
	pair := []demo.Var{{Name: "TOKEN", Member: "access_token"}, {Name: "REFRESH", Member: "refresh_token"}}
	balance := `curl -sS --fail-with-body "` + base + `/v1/balance" -H "Authorization: Bearer $TOKEN"`
	fmt.Fprintf(w, `Portcullis serving the DataCrunch seed API (store: %s)

Demo client%s:
  client id:     %s
  client secret: %s

Get an access and a refresh token, as the page does:

  curl %s

Keep them in $TOKEN and $REFRESH (a failed request says so and leaves them unset), call the API, refresh, and call it again:

  %s
  %s
  %s
  %s

Each refresh token works once: send the same one twice and the second is refused with invalid_grant, and every refresh token of its family dies.

Generate credentials in the dashboard, as DataCrunch's users do: open the credentials page in a browser, log in as the demo account (%s), and generate, copy and delete client keys:

  %s/account/credentials
  login:    %s
  password: %s
`, storeLabel, how, c.ID, c.Secret, tokenArgs,
		demo.Capture(tokenArgs, pair...), balance, demo.Capture(refreshArgs, pair...), balance,
		a.How, base, a.Login(), a.Password)
}
