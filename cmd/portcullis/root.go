package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// Exit codes, documented in the package comment.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
)

// usageError marks a mistake in the command line or the configuration:
// exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u), errors.Is(err, issuer.ErrInvalidClientSpec), errors.Is(err, issuer.ErrInvalidAccountSpec):
		return exitUsage
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	case errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrConflict):
		return exitConflict
	}
	return exitFailure
}

// Environment variables.
const (
	envStore       = "PORTCULLIS_STORE"
	envRedisPrefix = "PORTCULLIS_REDIS_PREFIX"
	envConfig      = "PORTCULLIS_CONFIG"
	envPepper      = "PORTCULLIS_PEPPER"
	envKEK         = "PORTCULLIS_KEK"
)

// app is one run of the command: its streams and global options.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	storeSpec   string
	redisPrefix string
	configPath  string
	json        bool
	logLevel    string
	timeout     time.Duration
}

// run executes the command line args and returns the exit code. It is main
// without the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "portcullis:", err)
		if exitCode(err) == exitUsage && strings.HasPrefix(err.Error(), "unknown ") {
			fmt.Fprintln(stderr, "Run 'portcullis --help' for usage.")
		}
	}
	return exitCode(err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "portcullis",
		Short: "Administer a Portcullis issuer and its store, or run one",
		Long: `portcullis manages the clients, accounts and signing keys of a Portcullis
store, migrates and sweeps it, and serves a standalone issuer.

The store comes from --store or ` + envStore + `: sqlite:PATH, postgres://…,
mysql://user:pass@host:port/db (or the driver's DSN after the scheme,
mysql://user:pass@tcp(host:port)/db), redis://… (with --redis-prefix), or
memory (serve only). Prefer the variable for a DSN with a password: flags
show in ps.

Secrets and passwords are printed once, on stdout, and never logged. --json
prints machine-readable output. Exit codes: 0 ok, 1 failure, 2 usage or
invalid input, 3 not found, 4 already exists or conflicting update.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVar(&a.storeSpec, "store", "", "store spec (default $"+envStore+", or the config file's store)")
	f.StringVar(&a.redisPrefix, "redis-prefix", "", "key prefix in Redis (default $"+envRedisPrefix+`, or "portcullis:")`)
	f.StringVar(&a.configPath, "config", "", "JSON configuration file (default $"+envConfig+")")
	f.BoolVar(&a.json, "json", false, "print JSON for scripts")
	f.StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn or error (default warn; info for serve)")
	f.DurationVar(&a.timeout, "timeout", time.Minute, "time limit of an administrative command (not serve)")
	root.AddCommand(a.clientsCommand(), a.accountsCommand(), a.keysCommand(),
		a.migrateCommand(), a.sweepCommand(), a.serveCommand())
	root.CompletionOptions.HiddenDefaultCmd = true
	return root
}

// group is a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Help()
			return usagef("%s needs a subcommand", cmd.CommandPath())
		},
	}
	c.AddCommand(subs...)
	return c
}

// noArgs and exactArgs are cobra's, with usage errors.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

// withTimeout bounds an administrative command.
func (a *app) withTimeout(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// logger returns a logger to stderr at the level asked for, or def.
func (a *app) logger(def slog.Level, format string) (*slog.Logger, error) {
	level := def
	if a.logLevel != "" {
		if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
			return nil, usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, usagef("log format %q: want text or json", format)
}

// emit prints v as indented JSON with --json, or calls text otherwise.
func (a *app) emit(v any, text func(w io.Writer)) error {
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(a.stdout)
	return nil
}

// getenvOr returns the variable, or def when it is empty.
func (a *app) getenvOr(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

// readSecret reads a secret or password from stdin: one line, the newline
// removed, at most max bytes.
func (a *app) readSecret(what string, max int) (string, error) {
	b, err := io.ReadAll(io.LimitReader(a.stdin, int64(max)+3))
	if err != nil {
		return "", fmt.Errorf("reading the %s from stdin: %w", what, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case s == "":
		return "", usagef("no %s on stdin", what)
	case len(s) > max:
		return "", usagef("the %s on stdin is longer than %d bytes", what, max)
	case strings.ContainsAny(s, "\r\n"):
		return "", usagef("the %s on stdin must be one line", what)
	}
	return s, nil
}
