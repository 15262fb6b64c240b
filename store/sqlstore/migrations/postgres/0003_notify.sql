-- Portcullis schema, version 3 (PostgreSQL): change notifications, which
-- store/sqlstore/pgwatch turns into store.Events (LISTEN/NOTIFY).
--
-- Triggers send them, so a notification belongs to the very transaction
-- that made the change: it is delivered when that commits, never when it
-- rolls back, and whoever writes the rows (any replica, any version) sends
-- it. The payload is the JSON of a store.Event, as redisstore publishes it.
--
-- The channel is per schema and prefix ("portcullis_" and the MD5 of
-- "<schema>.<lower-case prefix>", within the 63-byte limit on names), so
-- that stores in other schemas or with other prefixes in the same database
-- never hear each other; pgwatch derives the same name from where its
-- tables are. PostgreSQL folds unquoted names to lower case, so prefixes
-- that differ only by case name the same tables, and the same channel.
--
-- NOTIFY refuses a payload of 8000 bytes or more (an id that long), and the
-- transaction with it: such a change is announced as a resync instead,
-- which makes every watcher drop all it has cached.

CREATE FUNCTION {p}notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	payload TEXT;
BEGIN
	IF TG_ARGV[0] = 'revoked' THEN
		payload := json_build_object('kind', 'revoked', 'id', NEW.token_id, 'generation', 0)::text;
	ELSIF TG_OP = 'DELETE' THEN
		payload := json_build_object('kind', TG_ARGV[0], 'id', OLD.id, 'generation', -1)::text;
	ELSE
		payload := json_build_object('kind', TG_ARGV[0], 'id', NEW.id, 'generation', NEW.generation)::text;
	END IF;
	IF octet_length(payload) >= 8000 THEN
		payload := '{"kind":"resync","id":"","generation":0}';
	END IF;
	PERFORM pg_notify('portcullis_' || md5(TG_TABLE_SCHEMA || '.' || lower('{p}')), payload);
	RETURN NULL;
END
$$;

-- Every update of a client or account that matched is announced, as
-- UpdateClient and UpdateAccount succeed only when one did.
CREATE TRIGGER {p}clients_notify AFTER UPDATE OR DELETE ON {p}clients
	FOR EACH ROW EXECUTE PROCEDURE {p}notify('client');
CREATE TRIGGER {p}accounts_notify AFTER UPDATE OR DELETE ON {p}accounts
	FOR EACH ROW EXECUTE PROCEDURE {p}notify('account');

-- A revocation is announced when it is new or lasts longer than before; one
-- that shortens nothing changes nothing. Sweeping expired ones is silent.
CREATE TRIGGER {p}revocations_notify_ins AFTER INSERT ON {p}revocations
	FOR EACH ROW EXECUTE PROCEDURE {p}notify('revoked');
CREATE TRIGGER {p}revocations_notify_upd AFTER UPDATE ON {p}revocations
	FOR EACH ROW WHEN (NEW.expires_at > OLD.expires_at) EXECUTE PROCEDURE {p}notify('revoked');
