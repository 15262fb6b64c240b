// Command gin is the quickstart served through gin: an OAuth 2.0 token
// endpoint (client credentials), revocation, introspection, JWKS and RFC 8414
// metadata mounted on a gin engine with ginauth.Mount, and one API route
// guarded by ginauth.Middleware.
//
//	go run ./examples/gin
//
// It prints a demo client's id and secret and curl commands to paste: one
// gets a token with HTTP Basic and a form body, the other calls
// GET /v1/whoami, which answers with the caller's principal as JSON (it
// requires the "read" scope).
//
// # Flags
//
//	-addr ADDR            listen address (default 127.0.0.1:8085; port 0 picks a free one)
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret (needs -client-id)
//
// The issuer is http:// + the listen address, and everything is kept in
// memory: a restart forgets the client and the signing key. See
// examples/quickstart for persistent stores.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/portcullis/portcullis/adapters/ginauth"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gin example:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. It is main
// without the process: tests call it in-process. The flags, the in-memory
// issuer with its demo client and the serving are the same in every example
// (package demo); what is gin's is the guard and newRouter.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags, err := demo.ParseFlags("gin", args, stdout, nil)
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

	iss, client, err := demo.NewIssuer(ctx, base, flags, "gin demo client", log)
	if err != nil {
		return err
	}
	// The guard of the /v1 routes: a valid access token of this issuer
	// with the "read" scope.
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: log})
	if err != nil {
		return err
	}

	demo.PrintIntro(stdout, "Portcullis on gin (store: memory)", base, iss.Paths(), client)
	return demo.Serve(ctx, ln, newRouter(iss, guard), log, stdout)
}

// newRouter is the whole API: the issuer's endpoints, and the guarded
// routes under /v1.
func newRouter(iss *issuer.Issuer, guard *middleware.Guard) http.Handler {
	r := gin.New()
	r.Use(gin.Recovery())
	ginauth.Mount(r, iss)
	// Liveness and readiness probes (Kubernetes livenessProbe, readinessProbe).
	r.GET("/healthz", gin.WrapH(iss.LivenessHandler()))
	r.GET("/readyz", gin.WrapH(iss.ReadinessHandler()))
	v1 := r.Group("/v1", ginauth.Middleware(guard))
	v1.GET("/whoami", whoami)
	return r
}

// whoami answers with the principal the guard found: who called, with which
// scopes, and when the token expires.
func whoami(c *gin.Context) {
	p, ok := ginauth.Principal(c)
	if !ok {
		c.String(http.StatusInternalServerError, "unguarded route")
		return
	}
	c.JSON(http.StatusOK, p)
}
