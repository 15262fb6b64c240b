-- Portcullis schema, version 1 (PostgreSQL).
-- {p} is replaced by the table prefix. Times are unix microseconds (0 = zero
-- time); slices and maps are JSON text.

CREATE TABLE {p}clients (
	id            TEXT PRIMARY KEY,
	secret_hash   BYTEA,
	name          TEXT NOT NULL,
	owner_account TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	audiences     TEXT NOT NULL,
	generation    BIGINT NOT NULL,
	disabled      BOOLEAN NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	metadata      TEXT NOT NULL
);

-- username and email are NULL when empty, so that the unique constraints
-- only apply to real values.
CREATE TABLE {p}accounts (
	id            TEXT PRIMARY KEY,
	username      TEXT UNIQUE,
	email         TEXT UNIQUE,
	password_hash TEXT NOT NULL,
	roles         TEXT NOT NULL,
	generation    BIGINT NOT NULL,
	disabled      BOOLEAN NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);

CREATE TABLE {p}refresh_tokens (
	hash       TEXT PRIMARY KEY,
	family_id  TEXT NOT NULL,
	kind       TEXT NOT NULL,
	subject    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	account_id TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	audience   TEXT NOT NULL,
	generation BIGINT NOT NULL,
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL
);
CREATE INDEX {p}refresh_tokens_family_idx ON {p}refresh_tokens (family_id);
CREATE INDEX {p}refresh_tokens_expires_idx ON {p}refresh_tokens (expires_at);

-- A row here revokes every token of the family, present and future.
CREATE TABLE {p}refresh_families (
	family_id TEXT PRIMARY KEY
);

CREATE TABLE {p}access_tokens (
	hash       TEXT PRIMARY KEY,
	id         TEXT NOT NULL,
	kind       TEXT NOT NULL,
	subject    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	account_id TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	audience   TEXT NOT NULL,
	generation BIGINT NOT NULL,
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX {p}access_tokens_expires_idx ON {p}access_tokens (expires_at);

CREATE TABLE {p}revocations (
	token_id   TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX {p}revocations_expires_idx ON {p}revocations (expires_at);

CREATE TABLE {p}signing_keys (
	id          TEXT PRIMARY KEY,
	seq         BIGINT NOT NULL UNIQUE,
	algorithm   TEXT NOT NULL,
	private_key BYTEA,
	created_at  BIGINT NOT NULL,
	active_at   BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);

CREATE TABLE {p}rate_limits (
	k            TEXT NOT NULL,
	window_start BIGINT NOT NULL,
	hits         BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	PRIMARY KEY (k, window_start)
);
CREATE INDEX {p}rate_limits_expires_idx ON {p}rate_limits (expires_at);
