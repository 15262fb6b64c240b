-- Portcullis schema, version 1 (MySQL 5.7+ / MariaDB 10.3+).
-- {p} is replaced by the table prefix. Times are unix microseconds (0 = zero
-- time), so the DSN needs no parseTime; slices and maps are JSON text.
--
-- MySQL DDL is not transactional, so every statement is idempotent (IF NOT
-- EXISTS, indexes inside CREATE TABLE): a migration cut short is finished by
-- the next Migrate. Keys are VARBINARY so that they compare bytewise: the
-- default utf8mb4 collations ignore case and trailing spaces, and the store
-- contract compares ids, usernames and emails exactly.

CREATE TABLE IF NOT EXISTS {p}clients (
	id            VARBINARY(255) NOT NULL PRIMARY KEY,
	secret_hash   BLOB,
	name          TEXT NOT NULL,
	owner_account VARBINARY(255) NOT NULL,
	scopes        MEDIUMTEXT NOT NULL,
	audiences     MEDIUMTEXT NOT NULL,
	generation    BIGINT NOT NULL,
	disabled      BOOLEAN NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	metadata      MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- username and email are NULL when empty, so that the unique constraints
-- only apply to real values.
CREATE TABLE IF NOT EXISTS {p}accounts (
	id            VARBINARY(255) NOT NULL PRIMARY KEY,
	username      VARBINARY(255) NULL,
	email         VARBINARY(255) NULL,
	password_hash TEXT NOT NULL,
	roles         MEDIUMTEXT NOT NULL,
	generation    BIGINT NOT NULL,
	disabled      BOOLEAN NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	UNIQUE KEY {p}accounts_username_key (username),
	UNIQUE KEY {p}accounts_email_key (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {p}refresh_tokens (
	hash       VARBINARY(255) NOT NULL PRIMARY KEY,
	family_id  VARBINARY(255) NOT NULL,
	kind       VARBINARY(255) NOT NULL,
	subject    VARBINARY(255) NOT NULL,
	client_id  VARBINARY(255) NOT NULL,
	account_id VARBINARY(255) NOT NULL,
	scopes     MEDIUMTEXT NOT NULL,
	audience   MEDIUMTEXT NOT NULL,
	generation BIGINT NOT NULL,
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL,
	KEY {p}refresh_tokens_family_idx (family_id),
	KEY {p}refresh_tokens_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A row here revokes every token of the family, present and future.
CREATE TABLE IF NOT EXISTS {p}refresh_families (
	family_id VARBINARY(255) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {p}access_tokens (
	hash       VARBINARY(255) NOT NULL PRIMARY KEY,
	id         VARBINARY(255) NOT NULL,
	kind       VARBINARY(255) NOT NULL,
	subject    VARBINARY(255) NOT NULL,
	client_id  VARBINARY(255) NOT NULL,
	account_id VARBINARY(255) NOT NULL,
	scopes     MEDIUMTEXT NOT NULL,
	audience   MEDIUMTEXT NOT NULL,
	generation BIGINT NOT NULL,
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	KEY {p}access_tokens_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {p}revocations (
	token_id   VARBINARY(255) NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL,
	KEY {p}revocations_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {p}signing_keys (
	id          VARBINARY(255) NOT NULL PRIMARY KEY,
	seq         BIGINT NOT NULL,
	algorithm   VARBINARY(64) NOT NULL,
	private_key BLOB,
	created_at  BIGINT NOT NULL,
	active_at   BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	UNIQUE KEY {p}signing_keys_seq_key (seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {p}rate_limits (
	k            VARBINARY(512) NOT NULL,
	window_start BIGINT NOT NULL,
	hits         BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	PRIMARY KEY (k, window_start),
	KEY {p}rate_limits_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
