-- Portcullis schema, version 6 (SQLite): the change log (store.ChangeLog),
-- which resource servers that share nothing with the store follow by
-- polling.
--
-- changes holds one row per change that UpdateClient, DeleteClient,
-- UpdateAccount, DeleteAccount and Revoke make (a revocation only when it
-- is new or lasts longer), by position: seq. The one row of change_counter
-- holds the last seq handed out (n) and the highest one trimmed away
-- (trimmed). Triggers append, so a change and its log row commit together
-- in the statement that made the change; SQLite's single writer makes seq
-- the commit order. at is the database's clock in µs (to the millisecond),
-- which TrimChanges compares with the same clock.
--
-- A trigger body runs from BEGIN to END; as one statement (the migration
-- splitter keeps a CREATE TRIGGER whole up to its END;).

CREATE TABLE {p}changes (
	seq        INTEGER NOT NULL PRIMARY KEY,
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	generation INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	at         INTEGER NOT NULL
);

CREATE TABLE {p}change_counter (
	one     INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
	n       INTEGER NOT NULL,
	trimmed INTEGER NOT NULL
);
INSERT INTO {p}change_counter (one, n, trimmed) VALUES (1, 0, 0);

-- Each trigger first refuses to run without the counter row: a missing row
-- must fail the change, not silently stop the log.
CREATE TRIGGER {p}clients_log_upd AFTER UPDATE ON {p}clients
BEGIN
	SELECT RAISE(ABORT, 'portcullis: change_counter row missing') WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
	UPDATE {p}change_counter SET n = n + 1;
	INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
		SELECT n, 'client', NEW.id, NEW.generation, 0, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) FROM {p}change_counter;
END;
CREATE TRIGGER {p}clients_log_del AFTER DELETE ON {p}clients
BEGIN
	SELECT RAISE(ABORT, 'portcullis: change_counter row missing') WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
	UPDATE {p}change_counter SET n = n + 1;
	INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
		SELECT n, 'client', OLD.id, -1, 0, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) FROM {p}change_counter;
END;
CREATE TRIGGER {p}accounts_log_upd AFTER UPDATE ON {p}accounts
BEGIN
	SELECT RAISE(ABORT, 'portcullis: change_counter row missing') WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
	UPDATE {p}change_counter SET n = n + 1;
	INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
		SELECT n, 'account', NEW.id, NEW.generation, 0, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) FROM {p}change_counter;
END;
CREATE TRIGGER {p}accounts_log_del AFTER DELETE ON {p}accounts
BEGIN
	SELECT RAISE(ABORT, 'portcullis: change_counter row missing') WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
	UPDATE {p}change_counter SET n = n + 1;
	INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
		SELECT n, 'account', OLD.id, -1, 0, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) FROM {p}change_counter;
END;
-- A revocation that lasts no longer than the one recorded changes nothing
-- and logs nothing (an upsert's DO UPDATE fires the UPDATE trigger).
CREATE TRIGGER {p}revocations_log_ins AFTER INSERT ON {p}revocations
BEGIN
	SELECT RAISE(ABORT, 'portcullis: change_counter row missing') WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
	UPDATE {p}change_counter SET n = n + 1;
	INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
		SELECT n, 'revoked', NEW.token_id, 0, NEW.expires_at, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) FROM {p}change_counter;
END;
CREATE TRIGGER {p}revocations_log_upd AFTER UPDATE ON {p}revocations WHEN NEW.expires_at > OLD.expires_at
BEGIN
	SELECT RAISE(ABORT, 'portcullis: change_counter row missing') WHERE NOT EXISTS (SELECT 1 FROM {p}change_counter);
	UPDATE {p}change_counter SET n = n + 1;
	INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at)
		SELECT n, 'revoked', NEW.token_id, 0, NEW.expires_at, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) FROM {p}change_counter;
END;
