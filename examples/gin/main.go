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
//	-addr ADDR            listen address (default 127.0.0.1:8080; port 0 picks a free one)
//	-client-id ID         fix the demo client's id
//	-client-secret S      fix the demo client's secret (needs -client-id)
//
// The issuer is http:// + the listen address, and everything is kept in
// memory: a restart forgets the client and the signing key. See
// examples/quickstart for persistent stores.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portcullis/portcullis/adapters/ginauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
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

// demoScopes are the scopes the server knows; the demo client is granted
// both, and /v1/whoami requires "read".
var demoScopes = []string{"read", "write"}

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

// run serves until ctx is done, then shuts down gracefully. It is main
// without the process: tests call it in-process.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gin", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address; port 0 picks a free port")
	clientID := fs.String("client-id", "", "id of the demo client (default: a new random id)")
	clientSecret := fs.String("client-secret", "", "secret of the demo client (default: a new random secret)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *clientSecret != "" && *clientID == "" {
		return errors.New("-client-secret needs -client-id")
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	// Listen first: with port 0 the issuer URL is only known now.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + publicAddr(ln.Addr())

	iss, err := issuer.New(issuer.Config{Issuer: base, Store: memory.New(), Scopes: demoScopes, Logger: log})
	if err != nil {
		return err
	}
	client, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{ID: *clientID, Secret: *clientSecret, Name: "gin demo client"})
	if err != nil {
		return fmt.Errorf("demo client: %w", err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: log})
	if err != nil {
		return err
	}

	printIntro(stdout, base, iss.Paths(), client.ID, secret)
	srv := &http.Server{
		Handler:           newRouter(iss, guard),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on %s\n", base)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newRouter is the whole API: the issuer's endpoints, and the guarded
// routes under /v1.
func newRouter(iss *issuer.Issuer, guard *middleware.Guard) http.Handler {
	r := gin.New()
	r.Use(gin.Recovery())
	ginauth.Mount(r, iss)
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

// publicAddr is the address to put in URLs: a wildcard listen address
// (":8080", "[::]:8080") becomes localhost.
func publicAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// printIntro prints the demo client and curl commands ready to paste.
func printIntro(w io.Writer, base string, paths issuer.Paths, id, secret string) {
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic
	// encoding, so that any characters survive; curl -u sends them as given.
	user := shellQuote(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
	fmt.Fprintf(w, `Portcullis on gin (store: memory)

Demo client:
  client id:     %s
  client secret: %s

Get a token (client credentials, HTTP Basic, form body):

  curl -s -u %s -d grant_type=client_credentials %s

Or keep it in a variable and call the guarded API:

  TOKEN=$(curl -s -u %s -d grant_type=client_credentials %s | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" %s

Metadata: %s
`, id, secret,
		user, base+paths.Token,
		user, base+paths.Token, base+"/v1/whoami",
		base+paths.Metadata)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
