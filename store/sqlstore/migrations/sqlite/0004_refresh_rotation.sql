-- Portcullis schema, version 4 (SQLite): what refresh rotation and refresh
-- families need.
--
-- refresh_tokens.replaced_by is the hash of the successor a rotation stored
-- when it consumed the token: the rotation's request id, so that one sent
-- twice succeeds again instead of reading as reuse. family_issued_at is when
-- the family's first token was issued (0 when unknown), for the family's
-- absolute lifetime. access_tokens.family_id names the refresh family an
-- opaque token was minted with ('' for none), so that revoking the family
-- revokes it. The defaults make every existing row what it was.

ALTER TABLE {p}refresh_tokens ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
ALTER TABLE {p}refresh_tokens ADD COLUMN family_issued_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE {p}access_tokens ADD COLUMN family_id TEXT NOT NULL DEFAULT '';
