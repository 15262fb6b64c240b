package sqlstore

import (
	"strings"

	"github.com/portcullis/portcullis/store"
)

// queryID indexes a Store's statements.
type queryID int

const (
	qCreateClient queryID = iota
	qGetClient
	qUpdateClient
	qClientGeneration
	qDeleteClient
	qListClientsByOwner

	qCreateAccount
	qGetAccount
	qFindAccount
	qUpdateAccount
	qAccountGeneration
	qDeleteAccount

	qCreateRefresh
	qCreateRefreshNew
	qGetRefresh
	qConsumeRefresh
	qRotateRefresh
	qRotateCall
	qInspectRefresh
	qExchangeRefresh
	qExchangeConsume
	qExchangeCall
	qRevokeFamily

	qCreateAccess
	qGetAccess
	qDeleteAccess

	qRevoke
	qIsRevoked

	qCreateKey
	qListKeys
	qUpdateKeyExpiry
	qKeyExists
	qDeleteKey

	qHit
	qCount

	qUseNonce

	qListClients
	qListAccounts

	qChanges
	qBumpChanges
	qAppendChange
	qTrimLock
	qTrimRead
	qTrimDelete
	qTrimMark

	qSweepRefresh
	qSweepFamilies
	qSweepAccess
	qSweepRevocations
	qSweepKeys
	qSweepRateLimits
	qSweepNonces

	// qCountMany reads 2 rate-limit counters; qCountMany+n-2 reads n, up
	// to store.MaxCountKeys (see countManyText).
	qCountMany
	numQueries = qCountMany + store.MaxCountKeys - 1
)

const (
	clientCols  = "id, secret_hash, name, owner_account, scopes, audiences, generation, disabled, created_at, updated_at, metadata"
	accountCols = "id, username, email, password_hash, roles, generation, disabled, created_at, updated_at"
	refreshCols = "hash, family_id, kind, subject, client_id, account_id, scopes, audience, generation, issued_at, expires_at, used_at, replaced_by, family_issued_at"
	accessCols  = "hash, id, family_id, kind, subject, client_id, account_id, scopes, audience, generation, issued_at, expires_at"
	keyCols     = "id, seq, algorithm, private_key, created_at, active_at, expires_at"
)

// familyLive is true when the refresh token row's family has not been
// revoked; it is written against the full table name because SQLite's
// UPDATE takes no alias.
const familyLive = "NOT EXISTS (SELECT 1 FROM {p}refresh_families f WHERE f.family_id = {p}refresh_tokens.family_id)"

// familyStart is when the refresh token row's family began: 0 in
// family_issued_at is a token from before migration 4, whose family counts
// from its own issue (store.RefreshExchange.MaxFamilyLifetime).
const familyStart = "CASE WHEN family_issued_at <> 0 THEN family_issued_at ELSE issued_at END"

// countManyText reads n counters in one statement and one row: a scalar
// subquery per key (each a primary-key lookup, NULL for no row), so that
// the answers come back in the order of the keys, a missing one included.
// Its parameters are each key followed by the window start.
func countManyText(n int) string {
	const one = "(SELECT hits FROM {p}rate_limits WHERE k = ? AND window_start = ?)"
	return "SELECT " + strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
}

// queryText returns every query of dialect d, written with {p} for the table
// prefix and ? for parameters (Store.sql rewrites them).
func queryText(d Dialect) [numQueries]string {
	var q [numQueries]string

	q[qCreateClient] = "INSERT INTO {p}clients (" + clientCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// One row whether or not the client exists, the same columns filled
	// (see Store.GetClient): a miss costs what a hit does.
	q[qGetClient] = "SELECT COALESCE(c.id, ?), c.secret_hash, COALESCE(c.name, ?), COALESCE(c.owner_account, ''), " +
		"COALESCE(c.scopes, ?), COALESCE(c.audiences, ?), COALESCE(c.generation, 0), COALESCE(c.disabled, FALSE), " +
		"COALESCE(c.created_at, 0), COALESCE(c.updated_at, 0), COALESCE(c.metadata, ?) " +
		"FROM (SELECT 1 AS one) probe LEFT JOIN {p}clients c ON c.id = ?"
	q[qUpdateClient] = "UPDATE {p}clients SET secret_hash = ?, name = ?, owner_account = ?, scopes = ?, audiences = ?, " +
		"generation = ?, disabled = ?, created_at = ?, updated_at = ?, metadata = ? WHERE id = ? AND generation = ?"
	q[qClientGeneration] = "SELECT generation FROM {p}clients WHERE id = ?"
	q[qDeleteClient] = "DELETE FROM {p}clients WHERE id = ?"
	// Served by the index on (owner_account, created_at, id) of migration
	// 2. Ties on created_at go by id bytewise: MySQL's VARBINARY and
	// SQLite's BINARY collation compare bytes already; PostgreSQL needs
	// the "C" collation, which its index uses too.
	q[qListClientsByOwner] = "SELECT " + clientCols + " FROM {p}clients WHERE owner_account = ? ORDER BY created_at, id LIMIT ?"
	if d == Postgres {
		q[qListClientsByOwner] = "SELECT " + clientCols + " FROM {p}clients WHERE owner_account = ? " +
			`ORDER BY created_at, id COLLATE "C" LIMIT ?`
	}

	q[qCreateAccount] = "INSERT INTO {p}accounts (" + accountCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	q[qGetAccount] = "SELECT " + accountCols + " FROM {p}accounts WHERE id = ?"
	// A login that is one account's username and another's email finds
	// the username: usernames are what people type.
	q[qFindAccount] = "SELECT " + accountCols + " FROM {p}accounts WHERE username = ? OR email = ? " +
		"ORDER BY CASE WHEN username = ? THEN 0 ELSE 1 END LIMIT 1"
	q[qUpdateAccount] = "UPDATE {p}accounts SET username = ?, email = ?, password_hash = ?, roles = ?, generation = ?, " +
		"disabled = ?, created_at = ?, updated_at = ? WHERE id = ? AND generation = ?"
	q[qAccountGeneration] = "SELECT generation FROM {p}accounts WHERE id = ?"
	q[qDeleteAccount] = "DELETE FROM {p}accounts WHERE id = ?"

	q[qCreateRefresh] = "INSERT INTO {p}refresh_tokens (" + refreshCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// A create in a group commit (SQLite, batch.go): a taken hash changes
	// nothing and is told by no row inserted, not by an error that would
	// undo the group.
	q[qCreateRefreshNew] = q[qCreateRefresh] + " ON CONFLICT (hash) DO NOTHING"
	q[qGetRefresh] = "SELECT " + refreshCols + " FROM {p}refresh_tokens WHERE hash = ? AND expires_at > ? AND " + familyLive
	// The conditional UPDATE is the whole of single use: the database lets
	// exactly one of any number of concurrent updates see used_at = 0.
	q[qConsumeRefresh] = "UPDATE {p}refresh_tokens SET used_at = ? WHERE hash = ? AND used_at = 0 AND expires_at > ? AND " + familyLive
	if d != MySQL {
		// PostgreSQL and SQLite return the row in the same round trip;
		// MySQL has no UPDATE … RETURNING (MariaDB neither).
		q[qConsumeRefresh] += " RETURNING " + refreshCols
	}
	// A rotation's consume: the same condition as a consume, and the family
	// the successor names. Arguments: used at, successor, hash, family, now.
	rotate := "UPDATE {p}refresh_tokens SET used_at = ?, replaced_by = ? " +
		"WHERE hash = ? AND family_id = ? AND used_at = 0 AND expires_at > ? AND " + familyLive
	if d == Postgres {
		// One statement: the successor is inserted from the consume's
		// result, so it exists exactly when the consume matched, and a
		// unique violation on its hash undoes the consume with it. The
		// casts tell PostgreSQL the types of parameters it cannot infer
		// from a SELECT list.
		q[qRotateRefresh] = "WITH c AS (" + rotate + " RETURNING 1) INSERT INTO {p}refresh_tokens (" + refreshCols + ") " +
			"SELECT ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::bigint, ?::bigint, ?::bigint, ?::bigint, ?::text, ?::bigint FROM c"
	} else {
		// SQLite runs it and then qCreateRefresh in one transaction; so
		// does MySQL's procedure (migration 7), and MySQL itself when the
		// procedure cannot be called (see Store.rotateMySQL).
		q[qRotateRefresh] = rotate
	}
	if d == MySQL {
		// The stored procedure of migration 7: the successor's columns,
		// then the old hash, the time of use and now.
		q[qRotateCall] = "CALL {p}rotate_refresh(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	}
	// An exchange's consume (store.RefreshExchanger): a rotation's
	// conditions, less the family (the successor takes the token's), and
	// the exchange's, all on columns no write changes. Arguments: used at,
	// successor, hash, now, kind, client, generation, the scopes allowed
	// (JSON), the family-start cutoff.
	scopesWithin := "JSON_CONTAINS(?, scopes)"
	if d == Postgres {
		scopesWithin = "scopes::jsonb <@ ?::jsonb"
	}
	exchange := "UPDATE {p}refresh_tokens SET used_at = ?, replaced_by = ? " +
		"WHERE hash = ? AND used_at = 0 AND expires_at > ? AND " + familyLive +
		" AND kind = ? AND client_id = ? AND generation = ? AND (scopes IN ('null', '[]') OR " + scopesWithin + ")" +
		" AND " + familyStart + " > ?"
	switch d {
	case Postgres:
		// One statement: the consume returns the row, and the successor is
		// inserted from it (so it exists exactly when the consume matched,
		// and a unique violation on its hash undoes the consume). Then the
		// successor's hash, audience, issue, expiry and family lifetime.
		q[qExchangeRefresh] = "WITH c AS (" + exchange + " RETURNING " + refreshCols + ", " + familyStart + " AS start), " +
			"n AS (INSERT INTO {p}refresh_tokens (" + refreshCols + ") SELECT ?::text, family_id, kind, subject, client_id, " +
			"account_id, scopes, ?::text, generation, ?::bigint, LEAST(?::bigint, start + ?::bigint), 0, '', start FROM c) " +
			"SELECT " + refreshCols + " FROM c"
	case MySQL:
		// The exchange's procedure (migration 8, rewritten by 9), and
		// what it runs, for when it cannot be called (see
		// Store.exchangeMySQL).
		q[qExchangeCall] = "CALL {p}exchange_refresh(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		q[qExchangeConsume] = exchange
	}
	q[qInspectRefresh] = "SELECT " + refreshCols + ", (SELECT COUNT(*) FROM {p}refresh_families f WHERE f.family_id = {p}refresh_tokens.family_id) " +
		"FROM {p}refresh_tokens WHERE hash = ?"
	switch d {
	case MySQL:
		// Not INSERT IGNORE: it would also turn errors such as an
		// over-long id into warnings.
		q[qRevokeFamily] = "INSERT INTO {p}refresh_families (family_id) VALUES (?) ON DUPLICATE KEY UPDATE family_id = family_id"
	default:
		q[qRevokeFamily] = "INSERT INTO {p}refresh_families (family_id) VALUES (?) ON CONFLICT (family_id) DO NOTHING"
	}

	q[qCreateAccess] = "INSERT INTO {p}access_tokens (" + accessCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	q[qGetAccess] = "SELECT " + accessCols + " FROM {p}access_tokens WHERE hash = ? AND expires_at > ?"
	q[qDeleteAccess] = "DELETE FROM {p}access_tokens WHERE hash = ?"

	// Revoking again keeps the later expiry: a revocation is never cut short.
	switch d {
	case Postgres:
		q[qRevoke] = "INSERT INTO {p}revocations AS r (token_id, expires_at) VALUES (?, ?) " +
			"ON CONFLICT (token_id) DO UPDATE SET expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)"
	case MySQL:
		q[qRevoke] = "INSERT INTO {p}revocations (token_id, expires_at) VALUES (?, ?) " +
			"ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, ?)"
	case SQLite:
		q[qRevoke] = "INSERT INTO {p}revocations (token_id, expires_at) VALUES (?, ?) " +
			"ON CONFLICT (token_id) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)"
	}
	q[qIsRevoked] = "SELECT 1 FROM {p}revocations WHERE token_id = ? AND expires_at > ?"

	q[qCreateKey] = "INSERT INTO {p}signing_keys (" + keyCols + ") VALUES (?, ?, ?, ?, ?, ?, ?)"
	q[qListKeys] = "SELECT " + keyCols + " FROM {p}signing_keys ORDER BY seq"
	q[qUpdateKeyExpiry] = "UPDATE {p}signing_keys SET expires_at = ? WHERE id = ?"
	q[qKeyExists] = "SELECT 1 FROM {p}signing_keys WHERE id = ?"
	q[qDeleteKey] = "DELETE FROM {p}signing_keys WHERE id = ?"

	switch d {
	case Postgres:
		q[qHit] = "INSERT INTO {p}rate_limits AS r (k, window_start, hits, expires_at) VALUES (?, ?, 1, ?) " +
			"ON CONFLICT (k, window_start) DO UPDATE SET hits = r.hits + 1 RETURNING hits"
	case MySQL:
		// LAST_INSERT_ID(expr) hands the new count back in the OK packet,
		// so the upsert is still one round trip without RETURNING.
		q[qHit] = "INSERT INTO {p}rate_limits (k, window_start, hits, expires_at) VALUES (?, ?, 1, ?) " +
			"ON DUPLICATE KEY UPDATE hits = LAST_INSERT_ID(hits + 1)"
	case SQLite:
		q[qHit] = "INSERT INTO {p}rate_limits (k, window_start, hits, expires_at) VALUES (?, ?, 1, ?) " +
			"ON CONFLICT (k, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits"
	}
	q[qCount] = "SELECT hits FROM {p}rate_limits WHERE k = ? AND window_start = ?"
	for n := 2; n <= store.MaxCountKeys; n++ {
		q[qCountMany+queryID(n-2)] = countManyText(n)
	}

	// One upsert that records a new id or takes over an expired record,
	// and changes no row when the id is live: the affected-row count is
	// the answer, and concurrent calls serialise on the primary key.
	switch d {
	case Postgres:
		q[qUseNonce] = "INSERT INTO {p}nonces AS n (id, expires_at) VALUES (?, ?) " +
			"ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE n.expires_at <= ?"
	case MySQL:
		// Without CLIENT_FOUND_ROWS (the driver's default) an update that
		// leaves the row as it was affects 0 rows, an insert 1 and a change 2.
		q[qUseNonce] = "INSERT INTO {p}nonces (id, expires_at) VALUES (?, ?) " +
			"ON DUPLICATE KEY UPDATE expires_at = IF(expires_at <= ?, VALUES(expires_at), expires_at)"
	case SQLite:
		q[qUseNonce] = "INSERT INTO {p}nonces (id, expires_at) VALUES (?, ?) " +
			"ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE expires_at <= ?"
	}

	// Paging by primary key, bytewise as store.Lister wants: MySQL's
	// VARBINARY and SQLite's BINARY collation compare bytes and read the
	// primary key index; PostgreSQL compares in the "C" collation, which
	// its primary key index does not follow unless the database's does, so
	// there it may scan the table: an administrative listing, not a
	// request path.
	q[qListClients] = "SELECT " + clientCols + " FROM {p}clients WHERE id > ? ORDER BY id LIMIT ?"
	q[qListAccounts] = "SELECT " + accountCols + " FROM {p}accounts WHERE id > ? ORDER BY id LIMIT ?"
	if d == Postgres {
		q[qListClients] = "SELECT " + clientCols + ` FROM {p}clients WHERE id COLLATE "C" > ? ORDER BY id COLLATE "C" LIMIT ?`
		q[qListAccounts] = "SELECT " + accountCols + ` FROM {p}accounts WHERE id COLLATE "C" > ? ORDER BY id COLLATE "C" LIMIT ?`
	}

	// The change log (migration 6; see changes.go). A page and the
	// watermark come from one statement, so they agree: the counter's one
	// row, joined with the page (a row of NULLs when the page is empty).
	q[qChanges] = "SELECT c.trimmed, l.seq, l.kind, l.id, l.generation, l.expires_at, l.at FROM {p}change_counter c " +
		"LEFT JOIN (SELECT seq, kind, id, generation, expires_at, at FROM {p}changes WHERE seq > ? ORDER BY seq LIMIT ?) l " +
		"ON 1 = 1 ORDER BY l.seq"
	// MySQL's append, in the change's transaction (PostgreSQL's and
	// SQLite's triggers do the same): LAST_INSERT_ID(expr) hands the new
	// count back in the OK packet, and the row lock is held to commit.
	q[qBumpChanges] = "UPDATE {p}change_counter SET n = LAST_INSERT_ID(n + 1)"
	q[qAppendChange] = "INSERT INTO {p}changes (seq, kind, id, generation, expires_at, at) VALUES (?, ?, ?, ?, ?, " + dbNowMicros(d) + ")"
	// Trimming: a write first, so that the transaction takes the counter's
	// lock (and, on SQLite, the write lock) before it reads, as appends do.
	q[qTrimLock] = "UPDATE {p}change_counter SET trimmed = trimmed"
	q[qTrimRead] = "SELECT seq, at, " + dbNowMicros(d) + " FROM {p}changes ORDER BY seq LIMIT ?"
	q[qTrimDelete] = "DELETE FROM {p}changes WHERE seq <= ?"
	q[qTrimMark] = "UPDATE {p}change_counter SET trimmed = ? WHERE trimmed < ?"

	q[qSweepRefresh] = "DELETE FROM {p}refresh_tokens WHERE expires_at <= ?"
	// A revoked family whose tokens have all expired and been swept can
	// never yield another token: new ones are only minted from a live one.
	q[qSweepFamilies] = "DELETE FROM {p}refresh_families WHERE NOT EXISTS " +
		"(SELECT 1 FROM {p}refresh_tokens t WHERE t.family_id = {p}refresh_families.family_id)"
	q[qSweepAccess] = "DELETE FROM {p}access_tokens WHERE expires_at <= ?"
	q[qSweepRevocations] = "DELETE FROM {p}revocations WHERE expires_at <= ?"
	q[qSweepKeys] = "DELETE FROM {p}signing_keys WHERE expires_at <> 0 AND expires_at <= ?"
	q[qSweepRateLimits] = "DELETE FROM {p}rate_limits WHERE expires_at <= ?"
	q[qSweepNonces] = "DELETE FROM {p}nonces WHERE expires_at <= ?"
	return q
}

// dbNowMicros is the database's clock in unix µs, which stamps the change
// log (migration 6 uses the same expressions) and which TrimChanges reads.
func dbNowMicros(d Dialect) string {
	switch d {
	case Postgres:
		return "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
	case MySQL:
		// UTC on both sides: no session time zone, no DST fold.
		return "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
}
