package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/storespec"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// fileConfig is the JSON configuration file (--config). Every field is
// optional; flags override it, and it overrides the defaults. Unknown
// fields are an error, so that a misspelt one does not pass silently.
type fileConfig struct {
	Store       string `json:"store"`
	RedisPrefix string `json:"redis_prefix"`
	// PepperFile holds the pepper (Config.Pepper); a trailing newline is
	// not part of it. PORTCULLIS_PEPPER overrides it.
	PepperFile string `json:"pepper_file"`

	Issuer      string         `json:"issuer"`
	Addr        string         `json:"addr"`
	Dialect     string         `json:"dialect"`
	Algorithm   string         `json:"algorithm"`
	KeyRotation duration       `json:"key_rotation"`
	Scopes      []string       `json:"scopes"`
	Audience    []string       `json:"audience"`
	Kinds       []kindConfig   `json:"kinds"`
	Refresh     *refreshConfig `json:"refresh"`
	Paths       issuerPaths    `json:"paths"`

	PasswordMinLength int `json:"password_min_length"`

	LivenessPath    string   `json:"liveness_path"`
	ReadinessPath   string   `json:"readiness_path"`
	LogFormat       string   `json:"log_format"`
	LogLevel        string   `json:"log_level"`
	ShutdownTimeout duration `json:"shutdown_timeout"`
}

type kindConfig struct {
	Name     string   `json:"name"`
	TTL      duration `json:"ttl"`
	Format   string   `json:"format"`
	Audience []string `json:"audience"`
	Refresh  bool     `json:"refresh"`
}

type refreshConfig struct {
	Enabled     bool     `json:"enabled"`
	TTL         duration `json:"ttl"`
	AllowPublic bool     `json:"allow_public"`
}

type issuerPaths struct {
	Token          string `json:"token"`
	Revocation     string `json:"revocation"`
	Introspection  string `json:"introspection"`
	JWKS           string `json:"jwks"`
	Credentials    string `json:"credentials"`
	Metadata       string `json:"metadata"`
	Login          string `json:"login"`
	AccountKeys    string `json:"account_keys"`
	OwnCredentials string `json:"own_credentials"`
}

// duration is a time.Duration written as "90s", "1h30m" in JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1h30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// loadConfig reads the configuration file named by --config or
// PORTCULLIS_CONFIG; none is an empty configuration.
func (a *app) loadConfig() (*fileConfig, error) {
	path := a.configPath
	if path == "" {
		path = a.getenv(envConfig)
	}
	cfg := &fileConfig{}
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("config: %w", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, usageError{fmt.Errorf("config %s: %w", path, err)}
	}
	return cfg, nil
}

// openStore opens the store named by --store, PORTCULLIS_STORE or the
// configuration, in that order. Administrative commands refuse the memory
// store, which would vanish with the process.
func (a *app) openStore(ctx context.Context, cfg *fileConfig, allowMemory, migrate bool) (*storespec.Opened, error) {
	spec := a.storeSpec
	if spec == "" {
		spec = a.getenvOr(envStore, cfg.Store)
	}
	if spec == "" {
		return nil, usagef("no store: set --store or %s (%s)", envStore, storespec.Syntax)
	}
	if spec == "memory" && !allowMemory {
		return nil, usagef("the memory store lives inside one process: administrative commands need a persistent store")
	}
	prefix := a.redisPrefix
	if prefix == "" {
		prefix = a.getenvOr(envRedisPrefix, cfg.RedisPrefix)
	}
	o, err := storespec.Open(ctx, spec, storespec.Options{RedisPrefix: prefix, Migrate: migrate})
	if errors.Is(err, storespec.ErrUnknown) {
		return nil, usageError{err}
	}
	return o, err
}

// pepper returns PORTCULLIS_PEPPER, or the contents of the configured
// pepper file.
func (a *app) pepper(cfg *fileConfig) ([]byte, error) {
	if p := a.getenv(envPepper); p != "" {
		return []byte(p), nil
	}
	if cfg.PepperFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(cfg.PepperFile)
	if err != nil {
		return nil, fmt.Errorf("pepper: %w", err)
	}
	return bytes.TrimRight(b, "\r\n"), nil
}

// kinds converts the configured kinds.
func (cfg *fileConfig) kinds() []issuer.Kind {
	var ks []issuer.Kind
	for _, k := range cfg.Kinds {
		ks = append(ks, issuer.Kind{Name: k.Name, TTL: time.Duration(k.TTL), Format: issuer.Format(k.Format),
			Audience: k.Audience, Refresh: k.Refresh})
	}
	return ks
}

// issuerConfig is the part of issuer.Config that the administrative
// commands and serve share: what decides how secrets and passwords are
// hashed, which scopes and audiences a client may have, and how long keys
// are kept.
func (a *app) issuerConfig(cfg *fileConfig, st store.Store, log *slog.Logger) (issuer.Config, error) {
	pepper, err := a.pepper(cfg)
	if err != nil {
		return issuer.Config{}, err
	}
	kek, err := issuer.ParseKeyEncryption(a.getenv(envKEK))
	if err != nil {
		return issuer.Config{}, usageError{fmt.Errorf("%s: %w", envKEK, err)}
	}
	c := issuer.Config{
		Issuer:        cfg.Issuer,
		Store:         st,
		Algorithm:     cfg.Algorithm,
		Scopes:        cfg.Scopes,
		Audience:      cfg.Audience,
		Kinds:         cfg.kinds(),
		Pepper:        pepper,
		KeyEncryption: kek,
		Passwords:     issuer.PasswordConfig{MinLength: cfg.PasswordMinLength},
		Logger:        log,
	}
	if cfg.Refresh != nil {
		c.Refresh = issuer.RefreshConfig{Enabled: cfg.Refresh.Enabled, TTL: time.Duration(cfg.Refresh.TTL),
			AllowPublic: cfg.Refresh.AllowPublic}
	}
	return c, nil
}

// adminEnv is what an administrative command works with.
type adminEnv struct {
	cfg   *fileConfig
	store *storespec.Opened
	iss   *issuer.Issuer
	log   *slog.Logger
	// keyEvents are the signing keys this run stored (keys rotate).
	keyEvents []issuer.SigningKeyCreated
}

// placeholderIssuer names the issuer when the configuration does not:
// administrative commands mint no token, so only audiences depend on it.
const placeholderIssuer = "http://localhost"

// admin opens the store and builds an Issuer over it for an administrative
// command. It never rotates the signing key by itself: it adopts the
// algorithm of the key that signs (an issuer whose configured algorithm
// differed would rotate to its own) and no automatic rotation, and it
// starts no background sweep. Only on an empty store does it create the
// first key, as a server would on its first start.
func (a *app) admin(ctx context.Context) (*adminEnv, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	log, err := a.logger(slog.LevelWarn, cfg.LogFormat)
	if err != nil {
		return nil, err
	}
	o, err := a.openStore(ctx, cfg, false, false)
	if err != nil {
		return nil, err
	}
	env := &adminEnv{cfg: cfg, store: o, log: log}
	c, err := a.issuerConfig(cfg, o.Store, log)
	if err != nil {
		o.Close()
		return nil, err
	}
	if c.Issuer == "" {
		c.Issuer = placeholderIssuer
	}
	keys, err := o.Store.ListKeys(ctx)
	if err != nil {
		o.Close()
		return nil, storeErr(err)
	}
	if k := signingKey(keys, time.Now()); k != nil {
		c.Algorithm = k.Algorithm
	}
	c.KeyRotation = 0
	c.SweepInterval = -1
	c.Hooks = issuer.JoinHooks(issuer.LogHooks(log), issuer.Hooks{
		SigningKey: func(_ context.Context, e issuer.SigningKeyCreated) { env.keyEvents = append(env.keyEvents, e) },
	})
	if env.iss, err = issuer.New(c); err != nil {
		o.Close()
		return nil, issuerErr(err)
	}
	return env, nil
}

// issuerErr classifies an error of issuer.New: the store failing to give
// the signing keys is a failure; anything else, a missing or wrong KEK
// included, is the configuration's.
func issuerErr(err error) error {
	if !errors.Is(err, issuer.ErrKeyEncryption) && strings.HasPrefix(err.Error(), "issuer: signing keys:") {
		return storeErr(err)
	}
	return usageError{err}
}

// storeErr adds a hint to an error that may come from an unmigrated SQL
// store.
func storeErr(err error) error {
	s := err.Error()
	if strings.Contains(s, "no such table") || strings.Contains(s, "does not exist") || strings.Contains(s, "doesn't exist") {
		return fmt.Errorf("%w (has 'portcullis migrate' run on this store?)", err)
	}
	return err
}

// signingKey is the key that signs at now, as the key manager chooses it:
// of the published keys whose ActiveAt has come, the newest by Seq.
func signingKey(keys []*store.SigningKey, now time.Time) *store.SigningKey {
	var k *store.SigningKey
	for _, sk := range keys {
		if !sk.ExpiresAt.IsZero() && !now.Before(sk.ExpiresAt) {
			continue
		}
		if !sk.ActiveAt.After(now) && (k == nil || sk.Seq > k.Seq) {
			k = sk
		}
	}
	return k
}
