-- Portcullis schema, version 6 (MySQL): the change log (store.ChangeLog),
-- which resource servers that share nothing with the store follow by
-- polling.
--
-- changes holds one row per change that UpdateClient, DeleteClient,
-- UpdateAccount, DeleteAccount and Revoke make, by position: seq. The one
-- row of change_counter holds the last seq handed out (n) and the highest
-- one trimmed away (trimmed). The store appends in the transaction of the
-- change (see Store.logged): it takes the counter row's lock with UPDATE …
-- n = n + 1 and holds it to commit, so seqs are handed out in commit order
-- and without gaps. An AUTO_INCREMENT column would not do: its values are
-- taken in statement order, and a transaction that took a lower one may
-- commit after one that took a higher one. Not triggers, as on PostgreSQL
-- and SQLite: with binary logging on (MySQL 8's default) creating one needs
-- SUPER or log_bin_trust_function_creators, which managed services often
-- withhold.
--
-- Every statement is idempotent (see migration 1): the counter row is
-- inserted only if missing.

CREATE TABLE IF NOT EXISTS {p}changes (
	seq        BIGINT NOT NULL PRIMARY KEY,
	kind       VARBINARY(16) NOT NULL,
	id         VARBINARY(255) NOT NULL,
	generation BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	at         BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {p}change_counter (
	one     TINYINT NOT NULL PRIMARY KEY,
	n       BIGINT NOT NULL,
	trimmed BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO {p}change_counter (one, n, trimmed) SELECT 1, 0, 0 FROM DUAL
	WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
