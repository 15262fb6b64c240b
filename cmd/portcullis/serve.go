package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/serverlimits"
	"github.com/portcullis/portcullis/issuer"
)

// Defaults of serve.
const (
	defaultAddr            = ":8080"
	defaultLivenessPath    = "/healthz"
	defaultReadinessPath   = "/readyz"
	defaultShutdownTimeout = 15 * time.Second
)

// dialectPreset is a wire format with the token path and token settings of
// the API it copies; every other endpoint keeps its default path.
type dialectPreset struct {
	dialect issuer.Dialect
	token   string // token path, "" for the default
	login   string // login path, "" for the default
	keys    string // account keys path, "" for the default
	kinds   []issuer.Kind
	refresh issuer.RefreshConfig
}

// dialects are the --dialect values (see issuer/seed_dialects.go).
var dialects = map[string]dialectPreset{
	"oauth2":    {dialect: issuer.OAuth2{}},
	"offblocks": {dialect: issuer.OffBlocks(), token: "/v1/auth/token"},
	"bloq": {dialect: issuer.Bloq(), token: "/auth/token", login: "/auth/login", keys: "/users/me/client-keys",
		refresh: issuer.RefreshConfig{Enabled: true, AllowPublic: true}},
	"datacrunch": {dialect: issuer.DataCrunch(), token: "/v1/oauth2/token",
		refresh: issuer.RefreshConfig{Enabled: true, AllowPublic: true}},
	"generic": {dialect: issuer.Generic(), token: "/token",
		kinds: []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatUUID, TTL: 30 * time.Minute}}},
}

func dialectNames() []string {
	var names []string
	for n := range dialects {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// serveFlags are serve's own flags; each overrides the configuration file.
type serveFlags struct {
	addr, issuer, dialect, algorithm, logFormat string
	kinds, scopes, audience                     []string
	keyRotation                                 time.Duration
	refresh, migrate                            bool
}

func (a *app) serveCommand() *cobra.Command {
	var sf serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a standalone issuer (token endpoint, JWKS, metadata, health probes)",
		Long: `Run a standalone issuer over the store, for services that verify its tokens
(through its JWKS, introspection or the Go middleware) without embedding it.
It serves the issuer's endpoints under the issuer URL's path, liveness at
/healthz and readiness at /readyz, and writes its audit log (see issuer.LogHooks)
to stderr. SIGINT or SIGTERM stops it gracefully.

--dialect picks a wire format with the token path and token settings of the
API it copies: oauth2 (RFC 6749, /oauth/token), offblocks (/v1/auth/token),
bloq (/auth/token with refresh tokens, /auth/login, /users/me/client-keys),
datacrunch (/v1/oauth2/token, refresh tokens with client credentials, refresh
without client authentication) or generic (/token, 30-minute opaque UUID
tokens). The configuration file sets the rest: paths, kinds, refresh tokens,
scopes, audiences, the pepper.

--kind NAME[:TTL[:FORMAT[:refresh]]] configures a token kind, e.g.
--kind client:15m, --kind client:1h:opaque:refresh, --kind account:12h.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), cmd, sf) },
	}
	f := c.Flags()
	f.StringVar(&sf.addr, "addr", "", "listen address (default "+defaultAddr+")")
	f.StringVar(&sf.issuer, "issuer", "", "issuer URL, as clients reach it, e.g. https://auth.example.com (required)")
	f.StringVar(&sf.dialect, "dialect", "", "wire format: "+strings.Join(dialectNames(), ", ")+" (default oauth2)")
	f.StringVar(&sf.algorithm, "algorithm", "", "signing algorithm: ES256 (default), EdDSA, RS256 or HS256")
	f.DurationVar(&sf.keyRotation, "key-rotation", 0, "rotate the signing key after this long, at least 1h (default never)")
	f.StringArrayVar(&sf.kinds, "kind", nil, "token kind NAME[:TTL[:FORMAT[:refresh]]] (repeat)")
	f.StringSliceVar(&sf.scopes, "scope", nil, "scope the server knows (repeat, or comma-separated)")
	f.StringSliceVar(&sf.audience, "audience", nil, "audience the server knows (repeat; default the issuer URL)")
	f.BoolVar(&sf.refresh, "refresh", false, "issue refresh tokens with client credentials")
	f.BoolVar(&sf.migrate, "migrate", true, "create or upgrade a SQL store's tables on start")
	f.StringVar(&sf.logFormat, "log-format", "", "log format: text (default) or json")
	return c
}

// parseKind parses NAME[:TTL[:FORMAT[:refresh]]].
func parseKind(s string) (issuer.Kind, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 4 || parts[0] == "" {
		return issuer.Kind{}, usagef("--kind %q: want NAME[:TTL[:FORMAT[:refresh]]]", s)
	}
	k := issuer.Kind{Name: parts[0]}
	if len(parts) > 1 && parts[1] != "" {
		ttl, err := time.ParseDuration(parts[1])
		if err != nil {
			return k, usagef("--kind %q: TTL: %v", s, err)
		}
		k.TTL = ttl
	}
	if len(parts) > 2 && parts[2] != "" {
		switch f := issuer.Format(parts[2]); f {
		case issuer.FormatJWT, issuer.FormatOpaque, issuer.FormatUUID:
			k.Format = f
		default:
			return k, usagef("--kind %q: format %q: want jwt, opaque or uuid", s, parts[2])
		}
	}
	if len(parts) > 3 {
		if parts[3] != "refresh" {
			return k, usagef("--kind %q: the fourth part may only be \"refresh\"", s)
		}
		k.Refresh = true
	}
	return k, nil
}

// first returns the first non-empty string.
func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// serverConfig merges the flags over the configuration file and the
// dialect's preset into an issuer.Config.
func (a *app) serverConfig(cmd *cobra.Command, sf serveFlags, cfg *fileConfig) (issuer.Config, error) {
	name := strings.ToLower(first(sf.dialect, cfg.Dialect, "oauth2"))
	preset, ok := dialects[name]
	if !ok {
		return issuer.Config{}, usagef("unknown dialect %q: want one of %s", name, strings.Join(dialectNames(), ", "))
	}
	c, err := a.issuerConfig(cfg, nil, nil)
	if err != nil {
		return c, err
	}
	c.Issuer = first(sf.issuer, cfg.Issuer)
	if c.Issuer == "" {
		return c, usagef("serve needs --issuer (or \"issuer\" in the configuration): the URL clients reach it at")
	}
	c.Dialect = preset.dialect
	c.Algorithm = first(sf.algorithm, cfg.Algorithm)
	c.KeyRotation = time.Duration(cfg.KeyRotation)
	if cmd.Flags().Changed("key-rotation") {
		c.KeyRotation = sf.keyRotation
	}
	if len(sf.scopes) > 0 {
		c.Scopes = sf.scopes
	}
	if len(sf.audience) > 0 {
		c.Audience = sf.audience
	}
	// Kinds: the preset's, then the file's, then the flags', each merged
	// over the one before by name.
	kinds := append(slices.Clone(preset.kinds), c.Kinds...)
	for _, s := range sf.kinds {
		k, err := parseKind(s)
		if err != nil {
			return c, err
		}
		kinds = append(kinds, k)
	}
	c.Kinds = mergeKinds(kinds)
	if cfg.Refresh == nil {
		c.Refresh = preset.refresh
	}
	if sf.refresh {
		c.Refresh.Enabled = true
	}
	p := cfg.Paths
	c.Paths = issuer.Paths{Token: first(p.Token, preset.token), Revocation: p.Revocation, Introspection: p.Introspection,
		JWKS: p.JWKS, Credentials: p.Credentials, Metadata: p.Metadata, Login: first(p.Login, preset.login),
		AccountKeys: first(p.AccountKeys, preset.keys), OwnCredentials: p.OwnCredentials}
	return c, nil
}

// mergeKinds folds kinds of one name together, later fields over earlier
// ones, keeping the order of first appearance.
func mergeKinds(kinds []issuer.Kind) []issuer.Kind {
	var out []issuer.Kind
	for _, k := range kinds {
		i := slices.IndexFunc(out, func(o issuer.Kind) bool { return o.Name == k.Name })
		if i < 0 {
			out = append(out, k)
			continue
		}
		o := &out[i]
		if k.TTL != 0 {
			o.TTL = k.TTL
		}
		if k.Format != "" {
			o.Format = k.Format
		}
		if len(k.Audience) > 0 {
			o.Audience = k.Audience
		}
		o.Refresh = o.Refresh || k.Refresh
	}
	return out
}

func (a *app) serve(ctx context.Context, cmd *cobra.Command, sf serveFlags) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	if a.logLevel == "" {
		a.logLevel = first(cfg.LogLevel, "info")
	}
	log, err := a.logger(slog.LevelInfo, first(sf.logFormat, cfg.LogFormat))
	if err != nil {
		return err
	}
	c, err := a.serverConfig(cmd, sf, cfg)
	if err != nil {
		return err
	}
	migrate := sf.migrate
	o, err := a.openStore(ctx, cfg, true, migrate)
	if err != nil {
		return err
	}
	defer o.Close()
	c.Store, c.Logger, c.Hooks = o.Store, log, issuer.LogHooks(log)
	iss, err := issuer.New(c)
	if err != nil {
		return issuerErr(err)
	}
	// With Redis, rotations and revocations made by other replicas reach
	// this one's verifier at once.
	if _, err := iss.Watch(ctx); err != nil {
		return fmt.Errorf("watching store events: %w", err)
	}

	u, err := url.Parse(c.Issuer)
	if err != nil {
		return usageError{err}
	}
	mux := http.NewServeMux()
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		mux.Handle(p+"/", http.StripPrefix(p, iss.Handler()))
		// RFC 8414 §3: the metadata of an issuer with a path is at
		// /.well-known/oauth-authorization-server/PATH of the host.
		for _, rt := range iss.WellKnownRoutes() {
			mux.Handle(rt.Path, rt.Handler)
		}
	} else {
		mux.Handle("/", iss.Handler())
	}
	live, ready := first(cfg.LivenessPath, defaultLivenessPath), first(cfg.ReadinessPath, defaultReadinessPath)
	mux.Handle("GET "+live, iss.LivenessHandler())
	mux.Handle("GET "+ready, iss.ReadinessHandler())

	addr := first(sf.addr, cfg.Addr, defaultAddr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:     mux,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Read, write and idle timeouts and a header limit, the examples'
	// too: a slow or idle client cannot hold a connection for long.
	serverlimits.Set(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("portcullis: serving", "addr", ln.Addr().String(), "issuer", c.Issuer, "store", o.Label,
		"dialect", first(sf.dialect, cfg.Dialect, "oauth2"), "token_path", iss.Paths().Token,
		"liveness", live, "readiness", ready)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	grace := time.Duration(cfg.ShutdownTimeout)
	if grace <= 0 {
		grace = defaultShutdownTimeout
	}
	log.Info("portcullis: shutting down", "grace", grace.String())
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
