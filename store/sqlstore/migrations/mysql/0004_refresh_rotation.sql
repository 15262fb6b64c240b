-- Portcullis schema, version 4 (MySQL 5.7+ / MariaDB 10.3+): what refresh
-- rotation and refresh families need.
--
-- refresh_tokens.replaced_by is the hash of the successor a rotation stored
-- when it consumed the token: the rotation's request id, so that one sent
-- twice succeeds again instead of reading as reuse. family_issued_at is when
-- the family's first token was issued (0 when unknown), for the family's
-- absolute lifetime. access_tokens.family_id names the refresh family an
-- opaque token was minted with ('' for none), so that revoking the family
-- revokes it. The defaults make every existing row what it was.
--
-- MySQL has no ADD COLUMN IF NOT EXISTS (MariaDB has), and its DDL commits
-- at once, so each ALTER runs only when information_schema does not list
-- its column yet: a Migrate cut short between them is finished by the next
-- one. Each ALTER is one statement, so its columns come together.

SET @portcullis_ddl = IF(EXISTS(
	SELECT 1 FROM information_schema.columns
	WHERE table_schema = DATABASE()
		AND table_name = '{p}refresh_tokens'
		AND column_name = 'replaced_by'),
	'DO 0',
	'ALTER TABLE {p}refresh_tokens ADD COLUMN replaced_by VARBINARY(255) NOT NULL DEFAULT '''', ADD COLUMN family_issued_at BIGINT NOT NULL DEFAULT 0');
PREPARE portcullis_ddl FROM @portcullis_ddl;
EXECUTE portcullis_ddl;
DEALLOCATE PREPARE portcullis_ddl;
SET @portcullis_ddl = IF(EXISTS(
	SELECT 1 FROM information_schema.columns
	WHERE table_schema = DATABASE()
		AND table_name = '{p}access_tokens'
		AND column_name = 'family_id'),
	'DO 0',
	'ALTER TABLE {p}access_tokens ADD COLUMN family_id VARBINARY(255) NOT NULL DEFAULT ''''');
PREPARE portcullis_ddl FROM @portcullis_ddl;
EXECUTE portcullis_ddl;
DEALLOCATE PREPARE portcullis_ddl;
SET @portcullis_ddl = NULL;
