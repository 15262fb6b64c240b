// Command portcullis administers a Portcullis store and runs a standalone
// issuer over it.
//
//	go install github.com/portcullis/portcullis/cmd/portcullis@latest
//	export PORTCULLIS_STORE='postgres://portcullis:…@db:5432/auth'
//	portcullis migrate
//	portcullis clients create --name billing --scope read
//	portcullis serve --issuer https://auth.example.com
//
// # Commands
//
//	portcullis clients create [--id ID] [--name N] [--owner ACCOUNT] [--scope S]… [--audience A]…
//	                          [--grant-type G]… [--introspect-any] [--meta K=V]… [--secret-stdin]
//	portcullis clients list [--owner ACCOUNT | --after ID | --all] [--limit N]
//	portcullis clients show|rotate|disable|enable|delete ID     (rotate: [--secret-stdin])
//	portcullis accounts create (--username U | --email E)… [--id ID] [--role R]… [--password-stdin]
//	portcullis accounts list [--after ID | --all] [--limit N]
//	portcullis accounts show|passwd|disable|enable|delete ID|LOGIN   (passwd: [--password-stdin])
//	portcullis keys list
//	portcullis keys rotate [--algorithm ALG]
//	portcullis migrate
//	portcullis sweep
//	portcullis serve [--issuer URL] [--addr ADDR] [--dialect D] [--kind NAME[:TTL[:FORMAT[:refresh]]]]…
//	                 [--scope S]… [--audience A]… [--algorithm ALG] [--key-rotation D] [--refresh]
//	                 [--migrate=false] [--log-format json]
//
// Global flags: --store, --redis-prefix, --config FILE, --json, --log-level,
// --timeout (administrative commands, default 1m). "portcullis help
// COMMAND" describes each.
//
// # Store and configuration
//
// The store comes from --store, else PORTCULLIS_STORE, else the
// configuration file's "store": sqlite:PATH, postgres://…,
// mysql://user:pass@host:port/db (or the driver's DSN after the scheme,
// mysql://user:pass@tcp(host:port)/db), redis://… (key prefix from
// --redis-prefix or PORTCULLIS_REDIS_PREFIX), or memory (serve only: an
// administrative command on a store that dies with it would be pointless).
// A DSN holding a password is better passed in the variable: flags show in
// ps. Administrative commands do not migrate a SQL store; "portcullis
// migrate" does, and so does serve on start unless --migrate=false.
//
// The JSON configuration file (--config or PORTCULLIS_CONFIG) is shared by
// serve and the administrative commands, so that both hash secrets with the
// same pepper (pepper_file, or PORTCULLIS_PEPPER) and check scopes and
// audiences against the same lists. PORTCULLIS_KEK (id:base64 of 32 bytes,
// then older ones to read, comma-separated) seals the signing keys in the
// store: once they are sealed, every command needs it. Unknown fields are an error. Every
// field is optional; flags win over it:
//
//	{
//	  "store": "postgres://…", "redis_prefix": "portcullis:", "pepper_file": "/run/secrets/pepper",
//	  "issuer": "https://auth.example.com", "addr": ":8080", "dialect": "oauth2",
//	  "algorithm": "ES256", "key_rotation": "720h",
//	  "scopes": ["read", "write"], "audience": ["https://api.example.com"],
//	  "kinds": [{"name": "client", "ttl": "15m", "format": "jwt", "refresh": false, "audience": []}],
//	  "refresh": {"enabled": false, "ttl": "8760h", "allow_public": false},
//	  "paths": {"token": "/oauth/token", "revocation": "-", "own_credentials": "-", …},
//	  "password_min_length": 12,
//	  "liveness_path": "/healthz", "readiness_path": "/readyz",
//	  "log_format": "json", "log_level": "info", "shutdown_timeout": "15s"
//	}
//
// An administrative command never rotates the signing key by itself: it
// adopts the algorithm of the key that signs. Only on an empty store does it
// create the first key, as a server would.
//
// # Secrets
//
// A generated client secret or password is printed once, on stdout, and
// never logged or stored (only its hash is kept). A secret or password of
// your own is read from stdin (--secret-stdin, --password-stdin), never from
// a flag. Nothing prints a secret hash, a password hash or key material.
//
// # Output and exit codes
//
// Text for people by default; --json prints one JSON document for scripts
// (lists carry "next", the --after of the following page, when there is
// one). Errors go to stderr. Exit codes:
//
//	0  success
//	1  failure (the store or the network)
//	2  usage: a wrong command line, configuration or input (a bad scope, a short password)
//	3  not found: no such client, account or key
//	4  conflict: the id, username or email is taken, or a concurrent update won
//
// # serve
//
// serve runs the issuer's endpoints (token, revocation, introspection,
// JWKS, metadata, login, account keys, as configured) with an http.Server
// that has read, write and idle timeouts, plus GET /healthz (liveness: the
// process answers) and GET /readyz (readiness: the store answers a ping and
// a signing key is loaded) for orchestrator probes. It logs to stderr, the
// audit events at info. SIGINT or SIGTERM stops it gracefully. It listens
// on :8080 by default, as a container needs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
