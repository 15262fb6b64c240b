// Package demo is the plumbing the runnable examples share, so that each
// example's main.go shows what it is about: how Portcullis is wired into
// net/http, gin or chi, or how an API verifies tokens through the issuer's
// JWKS.
//
// Nothing here is Portcullis API: it is what any small server needs (flags,
// a listener, a graceful shutdown) and the demo client the examples print.
// An application would write these its own way.
//
// # Flags
//
// [Flags] holds the flags of the examples that run an issuer (-addr,
// -client-id, -client-secret); [ParseFlags] parses them with any flags of
// the example's own. [Parse] is the parsing alone, for the resource server.
//
// # Serving
//
// [Listen] listens before the issuer is built, because with port 0 its URL
// is only known then. [Serve] prints "listening on URL" once it accepts
// connections (the examples' tests wait for that line) and shuts down
// gracefully when the context is done. Its server is [NewServer]'s, whose
// timeouts keep slow and idle clients from holding connections: the one
// thing here every real server needs too (see the README's "Embedding").
package demo

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
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/serverlimits"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// ShutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM.
const ShutdownTimeout = 10 * time.Second

// Flags are the flags of the examples that run an issuer.
type Flags struct {
	Addr         string // -addr, default DefaultAddr(name)
	ClientID     string // -client-id, default: a new random id
	ClientSecret string // -client-secret, needs -client-id
}

// ParseFlags parses args for the command name: the common flags, and those
// that more (when not nil) registers on the same flag set. Usage and errors
// go to stdout; -h is an error, as run must not exit the process.
func ParseFlags(name string, args []string, stdout io.Writer, more func(*flag.FlagSet)) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&f.Addr, "addr", DefaultAddr(name), "listen address; port 0 picks a free port")
	fs.StringVar(&f.ClientID, "client-id", "", "id of the demo client (default: a new random id)")
	fs.StringVar(&f.ClientSecret, "client-secret", "", "secret of the demo client (default: a new random secret)")
	if more != nil {
		more(fs)
	}
	if err := Parse(fs, args); err != nil {
		return Flags{}, err
	}
	if f.ClientSecret != "" && f.ClientID == "" {
		return Flags{}, errors.New("-client-secret needs -client-id")
	}
	return f, nil
}

// DefaultAddr is the default -addr of the example name: each example has
// a port of its own, so that all of them can run side by side, and the
// resource server beside the quickstart it trusts. An unknown name gets
// the quickstart's port.
func DefaultAddr(name string) string {
	port := "8080" // quickstart
	switch name {
	case "offblocks":
		port = "8081"
	case "bloq":
		port = "8082"
	case "datacrunch":
		port = "8083"
	case "generic":
		port = "8084"
	case "gin":
		port = "8085"
	case "chi":
		port = "8086"
	case "resource-server":
		port = "8087"
	}
	return "127.0.0.1:" + port
}

// Parse parses args with fs and refuses positional arguments: no example
// takes any, and a forgotten dash should not pass silently.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// Listen listens on addr and returns the listener with its URL,
// "http://" + the address it got. A wildcard host (":8080", "[::]:8080")
// becomes localhost in the URL.
func Listen(addr string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return ln, "http://" + publicAddr(ln.Addr()), nil
}

// publicAddr is the address to put in URLs: a wildcard listen address
// becomes localhost.
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

// NewServer returns the http.Server every example serves h with: read,
// write and idle timeouts and a header limit (the portcullis command's
// too, see internal/serverlimits), so that a slow or idle client cannot
// hold a connection for long, and server errors logged to log.
//
// It lives here rather than in the library on purpose: an http.Server is
// the application's (its timeouts depend on its other routes, on a proxy in
// front, on streaming), and a Portcullis constructor for it would hide the
// one choice an embedder must make. The README's "Embedding" program spells
// the same fields out.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}
	serverlimits.Set(srv)
	return srv
}

// Serve serves h on ln with [NewServer] until ctx is done; see
// [ServeServer].
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, stdout io.Writer) error {
	return ServeServer(ctx, ln, NewServer(h, log), stdout)
}

// ServeServer serves srv on ln until ctx is done, then shuts down
// gracefully, giving in-flight requests [ShutdownTimeout]. It prints
// "listening on http://ADDR" to stdout once it serves.
func ServeServer(ctx context.Context, ln net.Listener, srv *http.Server, stdout io.Writer) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s\n", publicAddr(ln.Addr()))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Client is the demo client as printed.
type Client struct {
	ID, Secret string
	// How says what was done to make it ("created", "reused", …); empty
	// prints nothing.
	How string
}

// NewIssuer is the issuer of the gin and chi examples: its identifier is
// base, it keeps everything in memory, knows the scopes "read" and "write",
// and has one demo client with both, made as f asks. name names the client.
func NewIssuer(ctx context.Context, base string, f Flags, name string, log *slog.Logger) (*issuer.Issuer, Client, error) {
	iss, err := issuer.New(issuer.Config{Issuer: base, Store: memory.New(), Scopes: []string{"read", "write"}, Logger: log})
	if err != nil {
		return nil, Client{}, err
	}
	c, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{ID: f.ClientID, Secret: f.ClientSecret, Name: name})
	if err != nil {
		return nil, Client{}, fmt.Errorf("demo client: %w", err)
	}
	return iss, Client{ID: c.ID, Secret: secret}, nil
}

// PrintIntro prints title, the demo client, and curl commands ready to
// paste: one gets a token from the issuer at base, the other calls
// GET /v1/whoami with it. The token is kept in $TOKEN through [Capture], so
// that a refused request says why instead of passing its error body on as
// a token.
func PrintIntro(w io.Writer, title, base string, paths issuer.Paths, c Client) {
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic
	// encoding, so that any characters survive; curl -u sends them as given.
	user := ShellQuote(url.QueryEscape(c.ID) + ":" + url.QueryEscape(c.Secret))
	tokenArgs := "-u " + user + " -d grant_type=client_credentials " + base + paths.Token
	how := ""
	if c.How != "" {
		how = " (" + c.How + ")"
	}
	fmt.Fprintf(w, `%s

Demo client%s:
  client id:     %s
  client secret: %s

Get a token (client credentials, HTTP Basic, form body):

  curl -s %s

Or keep it in $TOKEN and call the guarded API (a refused request prints
"request failed:" and the answer, and leaves $TOKEN unset):

  %s
  curl -s -H "Authorization: Bearer $TOKEN" %s

Metadata: %s
`, title, how, c.ID, c.Secret,
		tokenArgs,
		Capture(tokenArgs, Var{Name: "TOKEN", Member: "access_token"}), base+"/v1/whoami",
		base+paths.Metadata)
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
