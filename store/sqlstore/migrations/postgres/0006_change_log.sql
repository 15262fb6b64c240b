-- Portcullis schema, version 6 (PostgreSQL): the change log
-- (store.ChangeLog), which resource servers that share nothing with the
-- store follow by polling.
--
-- changes holds one row per change that a store.Watcher announces (the
-- same triggers' conditions as migration 3), by position: seq. The one row
-- of change_counter holds the last seq handed out (n) and the highest one
-- trimmed away (trimmed).
--
-- Triggers append, so a change and its log row commit or roll back
-- together, in the one statement that made the change: Revoke,
-- UpdateClient and the rest stay one round trip. Each append takes the
-- counter row's lock (UPDATE … n = n + 1) and holds it to commit, so seqs
-- are handed out in commit order and without gaps (an aborted transaction
-- gives its number back): a reader that has seen seq n can never find a
-- lower one appear later. A sequence or identity column would not do: its
-- values are taken in statement order, and a transaction that took a lower
-- one may commit after one that took a higher one. The price is that
-- changes serialise on the counter row, which rotations and revocations,
-- rare next to token requests, can afford. (Under REPEATABLE READ or
-- SERIALIZABLE as the database's default isolation, concurrent changes
-- fail with a serialisation error instead of waiting: run the store's
-- connections at READ COMMITTED, PostgreSQL's default.)
--
-- at is the database's clock in µs, read when the row is written;
-- TrimChanges compares it with the same clock.

CREATE TABLE {p}changes (
	seq        BIGINT PRIMARY KEY,
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	generation BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	at         BIGINT NOT NULL
);

CREATE TABLE {p}change_counter (
	one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
	n       BIGINT NOT NULL,
	trimmed BIGINT NOT NULL
);
INSERT INTO {p}change_counter (one, n, trimmed) VALUES (TRUE, 0, 0);

-- Without the counter row seq is NULL and the change fails on its NOT
-- NULL: a missing row must not silently stop the log.
CREATE FUNCTION {p}log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	v_seq BIGINT;
	v_at  BIGINT := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
BEGIN
	UPDATE {p}change_counter SET n = n + 1 RETURNING n INTO v_seq;
	IF TG_ARGV[0] = 'revoked' THEN
		INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
			VALUES (v_seq, 'revoked', NEW.token_id, 0, NEW.expires_at, v_at);
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
			VALUES (v_seq, TG_ARGV[0], OLD.id, -1, 0, v_at);
	ELSE
		INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
			VALUES (v_seq, TG_ARGV[0], NEW.id, NEW.generation, 0, v_at);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER {p}clients_log AFTER UPDATE OR DELETE ON {p}clients
	FOR EACH ROW EXECUTE PROCEDURE {p}log_change('client');
CREATE TRIGGER {p}accounts_log AFTER UPDATE OR DELETE ON {p}accounts
	FOR EACH ROW EXECUTE PROCEDURE {p}log_change('account');
-- A revocation that lasts no longer than the one recorded changes nothing
-- and logs nothing; sweeping expired ones is silent.
CREATE TRIGGER {p}revocations_log_ins AFTER INSERT ON {p}revocations
	FOR EACH ROW EXECUTE PROCEDURE {p}log_change('revoked');
CREATE TRIGGER {p}revocations_log_upd AFTER UPDATE ON {p}revocations
	FOR EACH ROW WHEN (NEW.expires_at > OLD.expires_at) EXECUTE PROCEDURE {p}log_change('revoked');
