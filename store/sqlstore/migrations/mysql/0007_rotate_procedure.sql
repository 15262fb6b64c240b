-- Portcullis schema, version 7 (MySQL 5.7+ / MariaDB 10.3+): a refresh
-- rotation in one round trip.
--
-- {p}rotate_refresh is RotateRefreshToken's consume and create in one
-- transaction, so that the store sends one CALL instead of START
-- TRANSACTION, UPDATE, INSERT and COMMIT (go-sql-driver/mysql sends one
-- statement at a time unless the DSN allows several, which the store
-- cannot ask for). The UPDATE is the store's consume (used_at = 0, not
-- expired, the successor's family, family not revoked): of concurrent
-- calls with one token, exactly one matches it. The successor is inserted
-- only then, and any error (its hash taken, a deadlock, a lock wait
-- timeout) rolls the whole back and reaches the caller as it was raised.
-- A call that consumed nothing rolls back and raises SQLSTATE 45000 with
-- the message "portcullis: not consumed", which the store takes as "find
-- out why", as it does a transaction whose UPDATE matched no row. The
-- affected-row count would not tell it everywhere: after a CALL, MySQL
-- reports that of the routine's last statement, the COMMIT.
--
-- The parameters are the successor's columns in table order, then the
-- old token's hash, the time of use and now: the successor's hash and
-- family are also what the consume records and requires. Their names
-- start with p_ because a routine's parameter hides a column of the same
-- name. SQL SECURITY INVOKER: the call runs with the privileges of the
-- store's user (who also needs EXECUTE, which ALL PRIVILEGES on the
-- database includes), not those of whoever ran Migrate. As every stored
-- routine, it runs with the sql_mode of the session that created it.
--
-- DROP then CREATE, because MySQL before 8.0.29 has no CREATE PROCEDURE
-- IF NOT EXISTS and DDL commits at once: a Migrate cut short is finished
-- by the next one. The routine's body runs to the first line that is
-- "END" alone (see splitStatements).

DROP PROCEDURE IF EXISTS {p}rotate_refresh;

CREATE PROCEDURE {p}rotate_refresh(
	IN p_hash VARBINARY(255),
	IN p_family_id VARBINARY(255),
	IN p_kind VARBINARY(255),
	IN p_subject VARBINARY(255),
	IN p_client_id VARBINARY(255),
	IN p_account_id VARBINARY(255),
	IN p_scopes MEDIUMTEXT CHARACTER SET utf8mb4,
	IN p_audience MEDIUMTEXT CHARACTER SET utf8mb4,
	IN p_generation BIGINT,
	IN p_issued_at BIGINT,
	IN p_expires_at BIGINT,
	IN p_used_at BIGINT,
	IN p_replaced_by VARBINARY(255),
	IN p_family_issued_at BIGINT,
	IN p_old VARBINARY(255),
	IN p_use BIGINT,
	IN p_now BIGINT)
MODIFIES SQL DATA SQL SECURITY INVOKER
BEGIN
	DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
	START TRANSACTION;
	UPDATE {p}refresh_tokens SET used_at = p_use, replaced_by = p_hash
		WHERE hash = p_old AND family_id = p_family_id AND used_at = 0 AND expires_at > p_now
		AND NOT EXISTS (SELECT 1 FROM {p}refresh_families f WHERE f.family_id = p_family_id);
	IF ROW_COUNT() <> 1 THEN
		SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'portcullis: not consumed';
	END IF;
	INSERT INTO {p}refresh_tokens (hash, family_id, kind, subject, client_id, account_id, scopes, audience,
		generation, issued_at, expires_at, used_at, replaced_by, family_issued_at)
		VALUES (p_hash, p_family_id, p_kind, p_subject, p_client_id, p_account_id, p_scopes, p_audience,
		p_generation, p_issued_at, p_expires_at, p_used_at, p_replaced_by, p_family_issued_at);
	COMMIT;
END;
