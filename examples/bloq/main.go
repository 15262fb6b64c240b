// Command bloq serves the authentication of the Bloq API (the seed page
// 001) on gin:
//
//	POST   /auth/login   Authorization: Basic user-or-email:password
//	→ 200 {"accessToken":"eyJ…"}: an account token, 12 hours
//	POST   /auth         the same, where Bloq's CLI logs in
//	POST   /auth/token   {"grantType":"clientCredentials","clientId":"…","clientSecret":"…"}
//	→ 200 {"accessToken":"eyJ…","refreshToken":"pcr_…"}: a client token (1 hour) and a refresh token (1 year)
//	POST   /auth/token   {"grantType":"refreshToken","refreshToken":"pcr_…"}
//	→ 200 a new pair; the refresh token used is spent, and using it again
//	  revokes every refresh token descended from the same request
//	POST   /users/me/client-keys             Authorization: Bearer <account token>
//	→ 200 {"clientId":"…","clientSecret":"…"}: lowercase hex, the secret shown once
//	GET    /users/me/client-keys             → 200 [{"clientId":"…","createdAt":"…"},…]
//	DELETE /users/me/client-keys/{clientId}  → 204: every token of that key dies at once
//	GET    /nodes/v1/status  Authorization: Bearer <client or account token>
//	GET    /users/me         Authorization: Bearer <account token>; a client token is refused
//	GET    /account/credentials  the credentials page (package credpage): log in, generate and delete keys
//
// The token request accepts the account token in the Authorization header
// beside the body's credentials, as Bloq's CLI sends it.
//
//	go run ./examples/bloq
//
// It prints the demo account, its demo client key, and the page's requests,
// rewritten for this server, ready to paste in order.
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8082; port 0 picks a free one)
//	-store SPEC           memory (default), sqlite:PATH, postgres://…, mysql://user:pass@host:port/db, redis://…
//	-redis-prefix P       key prefix in Redis (default "portcullis:")
//	-user NAME            the demo account's username (default "demo")
//	-email ADDR           the demo account's email (default "demo@example.com")
//	-password P           the demo account's password (default: a new random one on every start)
//	-client-id ID         fix the demo key's clientId
//	-client-secret S      fix the demo key's clientSecret (default: 256 random bits in hex)
//
// On a persistent store the demo key is kept across restarts as in
// examples/quickstart, and the demo account gets the password of this
// start, so that its earlier account tokens die.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portcullis/portcullis/adapters/ginauth"
	"github.com/portcullis/portcullis/credpage"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/examples/internal/demostore"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bloq:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. It is main without the process: tests call
// it in-process.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	var storeFlags demostore.Flags
	var accountFlags demo.AccountFlags
	flags, err := demo.ParseFlags("bloq", args, stdout, func(fs *flag.FlagSet) {
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

	// {"grantType","clientId","clientSecret"} in, {"accessToken",
	// "refreshToken"} out, errors as {"code","message"}; client keys as 200
	// {"clientId","clientSecret"} in hex and a listing that is a JSON array.
	dialect := issuer.Bloq()
	iss, err := issuer.New(issuer.Config{
		Issuer:  base,
		Store:   st,
		Dialect: dialect,
		// Two deliberate departures from RFC 6749, as Bloq's clients
		// expect: a refresh token with client credentials (§4.4.3 says
		// SHOULD NOT), used without client authentication (§6 requires it
		// of a confidential client). It rotates on every use, and reusing
		// one revokes its family. Client tokens live 1 hour, refresh
		// tokens 1 year and account tokens 12 hours: the defaults.
		Refresh: issuer.RefreshConfig{Enabled: true, AllowPublic: true},
		Paths: issuer.Paths{
			Token:       "/auth/token",
			Login:       "/auth/login",
			AccountKeys: "/users/me/client-keys",
			// The OpenAPI description of these endpoints (openapi.json).
			OpenAPI: "/openapi.json",
			// None of the OAuth 2.0 endpoints, which the API does not have.
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
	account, err := accountFlags.Ensure(ctx, iss)
	if err != nil {
		return err
	}
	key, err := demo.EnsureAccountKey(ctx, iss, st, account.ID, flags.ClientID, flags.ClientSecret, "bloq demo key")
	if err != nil {
		return err
	}

	// The Nodes API takes client and account tokens; the account API
	// account tokens only, so a client token, even one of the account's
	// own keys, never reaches it.
	nodesGuard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(),
		Kinds: []string{middleware.KindClient, middleware.KindAccount}, Logger: log})
	if err != nil {
		return err
	}
	accountGuard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(),
		Kinds: []string{middleware.KindAccount}, Logger: log})
	if err != nil {
		return err
	}
	r := gin.New()
	r.Use(gin.Recovery())
	ginauth.Mount(r, iss) // POST /auth/token, POST /auth/login, /users/me/client-keys and /users/me/client-keys/:id
	// Liveness and readiness probes (Kubernetes livenessProbe, readinessProbe).
	r.GET("/healthz", gin.WrapH(iss.LivenessHandler()))
	r.GET("/readyz", gin.WrapH(iss.ReadinessHandler()))
	// Bloq's CLI logs in at POST /auth: the same login endpoint, its
	// handler mounted at a second path.
	for _, rt := range iss.Routes() {
		if rt.Name == "login" {
			r.Any("/auth", gin.WrapH(rt.Handler))
		}
	}
	// The credentials page: log in, generate and delete client keys.
	page, err := credpage.New(credpage.Config{Paths: iss.Paths(), Dialect: dialect})
	if err != nil {
		return err
	}
	r.GET("/account/credentials", gin.WrapH(page))
	r.GET("/account/credentials/:asset", gin.WrapH(page))
	r.GET("/nodes/v1/status", ginauth.Middleware(nodesGuard), nodesStatus)
	r.GET("/users/me", ginauth.Middleware(accountGuard), usersMe(iss))

	printIntro(stdout, base, storeFlags.Label(), account, key)
	return demo.Serve(ctx, ln, r, log, stdout)
}

// nodesStatus stands for the Nodes API: it says which kind of token
// called.
func nodesStatus(c *gin.Context) {
	p, ok := ginauth.Principal(c)
	if !ok {
		c.String(http.StatusInternalServerError, "unguarded route")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "tokenKind": p.Kind})
}

// profile is the account as GET /users/me shows it.
type profile struct {
	ID        string    `json:"id"`
	Username  string    `json:"username,omitempty"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// usersMe answers with the calling account's profile.
func usersMe(iss *issuer.Issuer) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := ginauth.Principal(c)
		if !ok {
			c.String(http.StatusInternalServerError, "unguarded route")
			return
		}
		a, err := iss.GetAccount(c.Request.Context(), p.AccountID)
		if err != nil {
			// Deleted since the guard looked, or the store failed.
			c.Status(http.StatusServiceUnavailable)
			return
		}
		c.JSON(http.StatusOK, profile{ID: a.ID, Username: a.Username, Email: a.Email, CreatedAt: a.CreatedAt})
	}
}

// printIntro prints the demo account and key, and the page's requests for
// this server in order: the account token in $ACCOUNT_TOKEN, the demo
// key's credentials in $CREDS, its tokens in $TOKEN and $REFRESH_TOKEN, a
// new key in $KEY_ID and $KEY_SECRET and its token in $KEY_TOKEN.
func printIntro(w io.Writer, base, storeLabel string, a demo.Account, k demo.Client) {
	how := ""
	if k.How != "" {
		how = " (" + k.How + ")"
	}
	bearer := func(v string) string { return `-H "Authorization: Bearer $` + v + `"` }
	call := func(method, path, v string) string {
		return `curl -sS --fail-with-body -X ` + method + ` "` + base + path + `" ` + bearer(v) + ` -w '\n'`
	}
	code := func(path, v string) string {
		return `curl -sS -o /dev/null -w '%{http_code}\n' "` + base + path + `" ` + bearer(v)
	}
	tokenURL := `-X POST "` + base + `/auth/token" -H "Content-Type: application/json" --data `
	// Tokens and hex keys are safe inside the double quotes.
	refresh := tokenURL + `"{\"grantType\":\"refreshToken\",\"refreshToken\":\"$REFRESH_TOKEN\"}"`
	keyToken := tokenURL + `"{\"grantType\":\"clientCredentials\",\"clientId\":\"$KEY_ID\",\"clientSecret\":\"$KEY_SECRET\"}"`
	pair := []demo.Var{{Name: "TOKEN", Member: "accessToken"}, {Name: "REFRESH_TOKEN", Member: "refreshToken"}}
	fmt.Fprintf(w, `Portcullis serving the Bloq seed API (store: %s)

Demo account (%s):
  user:     %s
  email:    %s
  password: %s

Demo client key of the account%s:
  clientId:     %s
  clientSecret: %s

Log in with HTTP Basic, the user or the email, as the page does (Bloq's CLI posts the same to /auth), and keep the account token (12 h) in $ACCOUNT_TOKEN (a failed request says so and leaves it unset):

  %s
  %s

Get a client access token (1 h) and a refresh token (1 year) with the demo key and call the Nodes API with it, as the page does; the account API refuses a client token (401):

  CREDS=%s
  %s
  %s
  %s

Refresh: a new pair. The refresh token used is spent: sent again, it is refused and its whole family dies.

  %s
  %s

Or open the credentials page in a browser, log in as the demo account, and generate, copy and delete keys there:

  %s/account/credentials

Make a client key (its secret is shown this once), list the account's keys (never a secret), get a token with the new key, and delete the key: its tokens die at once.

  %s
  %s
  %s
  curl -sS --fail-with-body -X DELETE "%s/users/me/client-keys/$KEY_ID" %s -w '%%{http_code}\n'
  %s   # 401 now

`, storeLabel, a.How, a.Username, a.Email, a.Password, how, k.ID, k.Secret,
		demo.Capture(`-u `+demo.ShellQuote(a.Login()+":"+a.Password)+` -X POST "`+base+`/auth/login"`, demo.Var{Name: "ACCOUNT_TOKEN", Member: "accessToken"}),
		call("GET", "/users/me", "ACCOUNT_TOKEN"),
		demo.JSON("grantType", "clientCredentials", "clientId", k.ID, "clientSecret", k.Secret),
		demo.Capture(tokenURL+`"$CREDS"`, pair...),
		call("GET", "/nodes/v1/status", "TOKEN"),
		code("/users/me", "TOKEN"),
		demo.Capture(refresh, pair...),
		call("GET", "/nodes/v1/status", "TOKEN"),
		base,
		demo.Capture(`-X POST "`+base+`/users/me/client-keys" `+bearer("ACCOUNT_TOKEN"),
			demo.Var{Name: "KEY_ID", Member: "clientId"}, demo.Var{Name: "KEY_SECRET", Member: "clientSecret"}),
		call("GET", "/users/me/client-keys", "ACCOUNT_TOKEN"),
		demo.Capture(keyToken, demo.Var{Name: "KEY_TOKEN", Member: "accessToken"}),
		base, bearer("ACCOUNT_TOKEN"),
		code("/nodes/v1/status", "KEY_TOKEN"))
}
