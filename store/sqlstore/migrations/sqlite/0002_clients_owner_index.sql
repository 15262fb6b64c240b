-- Portcullis schema, version 2 (SQLite): the index behind ListClientsByOwner,
-- which reads one owner's clients in (created_at, id) order. TEXT compares
-- bytewise (BINARY collation), as the ordering wants.

CREATE INDEX {p}clients_owner_idx ON {p}clients (owner_account, created_at, id);
