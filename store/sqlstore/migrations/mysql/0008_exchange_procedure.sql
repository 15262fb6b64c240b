-- Portcullis schema, version 8 (MySQL 5.7+ / MariaDB 10.3+): the refresh
-- grant's read, checks and rotation in one round trip.
--
-- {p}exchange_refresh is ExchangeRefreshToken (store.RefreshExchanger): it
-- consumes the presented token only if it is live, unused and matches what
-- the issuer requires of it (kind, client, client generation, scopes within
-- those the client may still have, family not past its lifetime), stores
-- the successor built from it, commits, and returns the presented token's
-- row as one result set. The UPDATE is the single use: of concurrent calls
-- with one token, exactly one matches it. A call that consumed nothing
-- rolls back and raises SQLSTATE 45000 "portcullis: not consumed", as
-- {p}rotate_refresh does (version 7); the issuer then reads the token to
-- learn why. Any error rolls the whole back and is re-raised.
--
-- The parameters: the presented hash, the successor's hash, the time of
-- use, now, the kind, client id and generation required, the scopes
-- allowed (a JSON array), the family-start cutoff (the family must have
-- begun after it), the successor's audience (JSON), its expiry, and the
-- family lifetime (microseconds; the successor expires no later than the
-- family's start plus it). A family's start is family_issued_at, or
-- issued_at for a token from before version 4. SQL SECURITY INVOKER and
-- DROP-then-CREATE for the reasons given in version 7.

DROP PROCEDURE IF EXISTS {p}exchange_refresh;

CREATE PROCEDURE {p}exchange_refresh(
	IN p_old VARBINARY(255),
	IN p_next VARBINARY(255),
	IN p_use BIGINT,
	IN p_now BIGINT,
	IN p_kind VARBINARY(255),
	IN p_client_id VARBINARY(255),
	IN p_generation BIGINT,
	IN p_scopes MEDIUMTEXT CHARACTER SET utf8mb4,
	IN p_cutoff BIGINT,
	IN p_audience MEDIUMTEXT CHARACTER SET utf8mb4,
	IN p_expires_at BIGINT,
	IN p_lifetime BIGINT)
MODIFIES SQL DATA SQL SECURITY INVOKER
BEGIN
	DECLARE v_family_id VARBINARY(255);
	DECLARE v_subject VARBINARY(255);
	DECLARE v_account_id VARBINARY(255);
	DECLARE v_scopes MEDIUMTEXT CHARACTER SET utf8mb4;
	DECLARE v_audience MEDIUMTEXT CHARACTER SET utf8mb4;
	DECLARE v_issued_at BIGINT;
	DECLARE v_expires_at BIGINT;
	DECLARE v_family_issued_at BIGINT;
	DECLARE v_start BIGINT;
	DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
	START TRANSACTION;
	UPDATE {p}refresh_tokens SET used_at = p_use, replaced_by = p_next
		WHERE hash = p_old AND used_at = 0 AND expires_at > p_now
		AND NOT EXISTS (SELECT 1 FROM {p}refresh_families f WHERE f.family_id = {p}refresh_tokens.family_id)
		AND kind = p_kind AND client_id = p_client_id AND generation = p_generation
		AND (scopes IN ('null', '[]') OR JSON_CONTAINS(p_scopes, scopes))
		AND IF(family_issued_at <> 0, family_issued_at, issued_at) > p_cutoff;
	IF ROW_COUNT() <> 1 THEN
		SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'portcullis: not consumed';
	END IF;
	SELECT family_id, subject, account_id, scopes, audience, issued_at, expires_at, family_issued_at
		INTO v_family_id, v_subject, v_account_id, v_scopes, v_audience, v_issued_at, v_expires_at, v_family_issued_at
		FROM {p}refresh_tokens WHERE hash = p_old;
	SET v_start = IF(v_family_issued_at <> 0, v_family_issued_at, v_issued_at);
	INSERT INTO {p}refresh_tokens (hash, family_id, kind, subject, client_id, account_id, scopes, audience,
		generation, issued_at, expires_at, used_at, replaced_by, family_issued_at)
		VALUES (p_next, v_family_id, p_kind, v_subject, p_client_id, v_account_id, v_scopes, p_audience,
		p_generation, p_now, LEAST(p_expires_at, v_start + p_lifetime), 0, '', v_start);
	COMMIT;
	SELECT p_old, v_family_id, p_kind, v_subject, p_client_id, v_account_id, v_scopes, v_audience,
		p_generation, v_issued_at, v_expires_at, p_use, p_next, v_family_issued_at;
END;
