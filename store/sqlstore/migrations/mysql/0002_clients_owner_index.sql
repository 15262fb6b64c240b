-- Portcullis schema, version 2 (MySQL 5.7+ / MariaDB 10.3+): the index behind
-- ListClientsByOwner, which reads one owner's clients in (created_at, id)
-- order. VARBINARY compares bytewise, as the ordering wants.
--
-- Key length: VARBINARY(255) + BIGINT + VARBINARY(255) is at most 518 bytes,
-- within InnoDB's 767-byte column prefix limit (COMPACT and REDUNDANT row
-- formats) and its 3072-byte index limit, so no prefix index is needed.
--
-- MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB has), and its DDL commits
-- at once, so the index is created only when information_schema does not
-- list it yet: a Migrate cut short between creating it and recording this
-- version is finished by the next one. (information_schema compares table
-- names as the server does: exactly, unless lower_case_table_names folds
-- them.) The statements run on one connection, which keeps the session
-- variable and the prepared statement.

SET @portcullis_ddl = IF(EXISTS(
	SELECT 1 FROM information_schema.statistics
	WHERE table_schema = DATABASE()
		AND table_name = '{p}clients'
		AND index_name = '{p}clients_owner_idx'),
	'DO 0',
	'CREATE INDEX {p}clients_owner_idx ON {p}clients (owner_account, created_at, id)');
PREPARE portcullis_ddl FROM @portcullis_ddl;
EXECUTE portcullis_ddl;
DEALLOCATE PREPARE portcullis_ddl;
SET @portcullis_ddl = NULL;
