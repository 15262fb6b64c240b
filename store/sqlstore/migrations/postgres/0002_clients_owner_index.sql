-- Portcullis schema, version 2 (PostgreSQL): the index behind
-- ListClientsByOwner, which reads one owner's clients in (created_at, id)
-- order. id is indexed in the "C" collation, the one the query orders by, so
-- that ties come in bytewise id order whatever the database's collation, and
-- still straight from the index.
--
-- Plain CREATE INDEX takes a lock that blocks writes to the clients table
-- while it builds; client tables are small, and the migration runs in one
-- transaction with the version it records.

CREATE INDEX {p}clients_owner_idx ON {p}clients (owner_account, created_at, id COLLATE "C");
