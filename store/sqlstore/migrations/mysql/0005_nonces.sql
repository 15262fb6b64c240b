-- Portcullis schema, version 5 (MySQL): ids used once (store.Nonces), such
-- as the jti of a private_key_jwt client assertion, kept until they
-- expire. An id is ":" and the caller's id (at most 1 + 512 bytes).

CREATE TABLE IF NOT EXISTS {p}nonces (
	id         VARBINARY(1100) NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL,
	KEY {p}nonces_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
