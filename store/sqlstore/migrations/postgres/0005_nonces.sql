-- Portcullis schema, version 5 (PostgreSQL): ids used once (store.Nonces),
-- such as the jti of a private_key_jwt client assertion, kept until they
-- expire. An id is ":" and the caller's id, or "!" and its hex.

CREATE TABLE {p}nonces (
	id         TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX {p}nonces_expires_idx ON {p}nonces (expires_at);
