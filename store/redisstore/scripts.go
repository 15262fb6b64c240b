package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches only the keys it is given, all in one hash
// slot (see the package documentation). On a single server, some are given
// keys of other slots too (a new token's index, the change log), and two
// follow a refresh token's index to keys they are not given (see
// refreshKeys). Numbers that may exceed 2^53 travel as decimal strings and
// are compared as strings, never through Lua's doubles; times in µs (about
// 2^51 today) are compared with tonumber.
//
// Status codes: 1 done, 0 not found (or, for creates, already exists),
// -1 generation conflict, -3 the record's state moved on (or, for a guessed
// update, an index must move first) and the caller must read again, 2 a
// pending create's stub is gone.

// Clients and accounts. Each record is a hash in a slot of its own, with
// 'g' (generation), 'j' (JSON) and 'w' (its state: 16 hex digits that every
// write replaces with a fresh random value, see state.go), plus the fields
// that name its index entries: a client's owner 'o' and owner index member
// 'm'; an account's username 'u', email 'e' and the values of their
// reservations, 'ru' and 're'. A record with 'w' but no 'j' is a create's
// stub: it claims the id, carries a TTL, and reads as not found.

// KEYS[1] record. ARGV: stub state, TTL ms.
// Reply 1 when the record is (now, or since an earlier send of this same
// call) the stub of that state, 0 when the id is taken.
var stubScript = redis.NewScript(`
local w = redis.call('HGET', KEYS[1], 'w')
if w then
  if w == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'j') == 0 then return 1 end
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'w', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// KEYS[1] record. ARGV: state. Deletes the record if it is still the stub
// of that state. Reply 1 when deleted.
var dropStubScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'w') == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'j') == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// KEYS[1] record. ARGV: stub state, or an empty string for a create
// without stub (the record must not exist); new state; then field, value
// pairs. Reply 1 when created (now, or by an earlier send of this same
// call), 0 when the id is taken, 2 when the stub is gone.
var createScript = redis.NewScript(`
local w = redis.call('HGET', KEYS[1], 'w')
if w == ARGV[2] then return 1 end
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
elseif w ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 'j') == 1 then
  return 2
end
redis.call('HSET', KEYS[1], 'w', ARGV[2], unpack(ARGV, 3))
redis.call('PERSIST', KEYS[1])
return 1
`)

// logChange appends a change to the change log (store.ChangeLog) whose
// sorted set is KEYS[l] and counter KEYS[l + 1], if those keys were given:
// on one server the scripts that make a change are given them and append
// in the same script, so the change and its entry happen together or not
// at all; on a Cluster they lie in another slot ({changes}), and the
// caller appends with appendChangeScript after the change (see
// changelog.go). change is "<kind> <generation> <expiry µs> <id>"; the
// entry, scored by its seq, is "<seq> <at µs> " and change, at by the
// server's clock (TIME), so a script appends only where it changes
// something, and a re-sent script that finds its own earlier write appends
// nothing.
const logChange = `
local function logChange(l, change)
  if not KEYS[l] then return end
  local seq = redis.call('INCR', KEYS[l + 1])
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[l], seq, seq .. ' ' .. t[1] .. string.format('%06d', tonumber(t[2])) .. ' ' .. change)
end
`

// KEYS[1] record, and on one server the change log and its counter. ARGV:
// previous generation, required state, new state, channel, event, change
// (see logChange), n, then field, value pairs ('g' and 'j' among them).
// The compare-and-swap of a write that moves index entries: it needs the
// generation and the state the caller read before it added its new entries.
// Reply {1, the old values of the first n fields set}, {1} when an earlier
// send of this same call did the write, {0}, {-1} or {-3}.
var swapScript = redis.NewScript(logChange + `
local cur = redis.call('HMGET', KEYS[1], 'g', 'j', 'w')
if not cur[2] then return {0} end
if cur[3] == ARGV[3] then return {1} end
if cur[1] ~= ARGV[1] then return {-1} end
if cur[3] ~= ARGV[2] then return {-3} end
local old = {1}
for i = 8, 6 + 2 * tonumber(ARGV[7]), 2 do
  old[#old + 1] = redis.call('HGET', KEYS[1], ARGV[i]) or ''
end
redis.call('HSET', KEYS[1], 'w', ARGV[3], unpack(ARGV, 8))
redis.call('PUBLISH', ARGV[4], ARGV[5])
logChange(2, ARGV[6])
return old
`)

// KEYS[1] client, and on one server the change log and its counter. ARGV:
// previous generation, generation, JSON, owner, sort key (see state.go;
// empty without owner), new state, channel, event, change.
// The update that keeps the owner and CreatedAt (a rotation) in one round
// trip. Reply {1}, {0}, {-1}, or {-3, state} when the index entry must move:
// the caller adds the new entry and then runs swapScript with that state.
// string.sub(m, 1, -33) is the member without its two states: its sort key.
var updateClientScript = redis.NewScript(logChange + `
local cur = redis.call('HMGET', KEYS[1], 'g', 'j', 'o', 'm', 'w')
if not cur[2] then return {0} end
if cur[5] == ARGV[6] then return {1} end
if cur[1] ~= ARGV[1] then return {-1} end
local o, m = cur[3] or '', cur[4] or ''
if o ~= ARGV[4] or (o ~= '' and string.sub(m, 1, -33) ~= ARGV[5]) then
  return {-3, cur[5] or ''}
end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'j', ARGV[3], 'w', ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[8])
logChange(2, ARGV[9])
return {1}
`)

// KEYS[1] account, and on one server the change log and its counter.
// ARGV: previous generation, generation, JSON, username, email, new state,
// channel, event, change.
// The update that keeps both names, in one round trip. Reply {1}, {0},
// {-1}, or {-3, state, username, email, username reservation, email
// reservation} when a name changes: the caller claims the new names and
// then runs swapScript with that state.
var updateAccountScript = redis.NewScript(logChange + `
local cur = redis.call('HMGET', KEYS[1], 'g', 'j', 'u', 'e', 'w', 'ru', 're')
if not cur[2] then return {0} end
if cur[5] == ARGV[6] then return {1} end
if cur[1] ~= ARGV[1] then return {-1} end
if cur[3] ~= ARGV[4] or cur[4] ~= ARGV[5] then
  return {-3, cur[5] or '', cur[3] or '', cur[4] or '', cur[6] or '', cur[7] or ''}
end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'j', ARGV[3], 'w', ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[8])
logChange(2, ARGV[9])
return {1}
`)

// KEYS[1] record, and on one server the change log and its counter. ARGV:
// channel, event, change, then the fields whose values to return. Reply {1, values…} or {0} when there is no such record (a stub
// included, which is left alone).
var deleteRecordScript = redis.NewScript(logChange + `
local cur = redis.call('HGET', KEYS[1], 'j')
if not cur then return {0} end
local old = {1}
for i = 4, #ARGV do old[#old + 1] = redis.call('HGET', KEYS[1], ARGV[i]) or '' end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
logChange(2, ARGV[3])
return old
`)

// KEYS[1] record. ARGV: required state, new state. Replaces the state if it
// is still the required one, so that a write waiting for it can never
// commit. Reply 1 when replaced.
var fenceScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'w') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'w', ARGV[2])
  return 1
end
return 0
`)

// KEYS[1] reservation. ARGV: the value it must hold, new value. Reply 1
// when replaced.
var swapIfEqualScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// KEYS[1] a refresh token's index. ARGV: family id, PEXPIREAT ms.
// Claims the hash for the family. Reply 2 when this call claimed it, 1 when
// it already named that family (an earlier send of this same call: a hash
// is a fresh random token's, so the same hash and family are the same
// request), 0 when another family holds it.
var claimIndexScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then return 1 end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return 2
`)

// storeRefresh writes a new token: tk the token, fk the family marker;
// j, x, at: JSON, expiry µs, PEXPIREAT ms.
//
// The family marker must outlive every token of its family, or a revoked
// family could come back: give it this token's expiry when it has a shorter
// one, never shorten it, and leave a marker without TTL alone. A token whose
// expiry has already passed is gone at once and extends nothing.
const storeRefresh = `
local function storeRefresh(tk, fk, j, x, at)
  redis.call('HSET', tk, 'j', j, 'x', x)
  redis.call('PEXPIREAT', tk, at)
  local tttl = redis.call('PTTL', tk)
  if tttl > 0 then
    local fttl = redis.call('PTTL', fk)
    if fttl == -2 then
      redis.call('SET', fk, '0', 'PXAT', at)
    elseif fttl >= 0 and fttl < tttl then
      redis.call('PEXPIREAT', fk, at)
    end
  end
end
`

// KEYS: token, family marker. ARGV: JSON, expiry µs, PEXPIREAT ms.
// Reply 1 when stored (now, or by an earlier send of this same call: the
// token holds this very JSON), 0 when the hash is taken.
var createRefreshScript = redis.NewScript(storeRefresh + `
local j = redis.call('HGET', KEYS[1], 'j')
if j then
  if j == ARGV[1] then return 1 end
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
storeRefresh(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
return 1
`)

// liveRefresh reads the token whose key is tk, in the family whose marker
// is fk, and returns {JSON, expiry µs, used µs or false, successor or
// false} if it is live at now µs (it exists, its family is not revoked,
// and it expires after now), else nothing. Every script that reads a token
// by its hash decides liveness here, so that they all decide alike.
const liveRefresh = `
local function liveRefresh(tk, fk, now)
  local r = redis.call('HMGET', tk, 'j', 'x', 'u', 'n')
  if not r[1] then return nil end
  if redis.call('GET', fk) == '1' then return nil end
  if tonumber(r[2]) <= tonumber(now) then return nil end
  return r
end
`

// getRefresh and consumeRefresh are the bodies of GetRefreshToken and
// ConsumeRefreshToken on a token whose key is tk, in the family whose
// marker is fk, at now µs; each script below runs one of them, given
// those two keys (a Cluster) or the token's index (one server, see
// refreshKeys).
//
// getRefresh replies {1, JSON, used µs or an empty string, successor or an
// empty string} or {0}.
const getRefresh = liveRefresh + `
local function getRefresh(tk, fk, now)
  local r = liveRefresh(tk, fk, now)
  if not r then return {0} end
  return {1, r[1], r[3] or '', r[4] or ''}
end
`

// consumeRefresh replies {1, JSON} when this call consumed the token, {2,
// JSON, used µs, successor or an empty string} when it had been consumed
// before, {0} when missing, revoked or expired. The token keeps its TTL
// (HSET does not touch it), so it stays recorded as used until it expires.
const consumeRefresh = liveRefresh + `
local function consumeRefresh(tk, fk, now)
  local r = liveRefresh(tk, fk, now)
  if not r then return {0} end
  if r[3] then return {2, r[1], r[3], r[4] or ''} end
  redis.call('HSET', tk, 'u', now)
  return {1, r[1]}
end
`

// refreshKeys follows a token's index, KEYS[1], to its family and names
// the token's key and the family marker from it, byte for byte as
// refreshTokenKey and familyKey do (ARGV[1] the prefix, ARGV[2] the hash;
// Lua strings hold any bytes, braces included). It returns nothing when
// the index is missing, else those two keys and the family id.
//
// Those two keys are not in KEYS: the family is not known before the
// script reads the index. Redis lets a script touch keys it was not given
// on a single server (Sentinel included), where every key is local; a
// Cluster does not (the keys lie in another slot, often on another node),
// so only the store's oneServer path uses these scripts.
const refreshKeys = `
local function refreshTokenKey(fam, hash)
  return ARGV[1] .. '{refresh:' .. fam .. '}:token:' .. hash
end
local function refreshKeys()
  local fam = redis.call('GET', KEYS[1])
  if not fam then return nil end
  return refreshTokenKey(fam, ARGV[2]), ARGV[1] .. '{refresh:' .. fam .. '}:family', fam
end
`

// KEYS: token, family marker. ARGV: now µs. Reply: getRefresh's.
var getRefreshScript = redis.NewScript(getRefresh + `
return getRefresh(KEYS[1], KEYS[2], ARGV[1])
`)

// KEYS: the token's index. ARGV: prefix, hash, now µs. Reply: getRefresh's,
// {0} when the index is missing. One server only (see refreshKeys).
var getRefreshByIndexScript = redis.NewScript(refreshKeys + getRefresh + `
local tk, fk = refreshKeys()
if not tk then return {0} end
return getRefresh(tk, fk, ARGV[3])
`)

// KEYS: token, family marker. ARGV: now µs. Reply: consumeRefresh's.
var consumeRefreshScript = redis.NewScript(consumeRefresh + `
return consumeRefresh(KEYS[1], KEYS[2], ARGV[1])
`)

// KEYS: the token's index. ARGV: prefix, hash, now µs. Reply:
// consumeRefresh's, {0} when the index is missing. One server only (see
// refreshKeys).
var consumeRefreshByIndexScript = redis.NewScript(refreshKeys + consumeRefresh + `
local tk, fk = refreshKeys()
if not tk then return {0} end
return consumeRefresh(tk, fk, ARGV[3])
`)

// rotateTo is the write of a rotation: it consumes the live, unused token
// tk at now for the successor next, whose key is nk, and stores that one
// (JSON j, expiry x µs, PEXPIREAT at ms) in the family fam whose marker is
// fk. On a single server ik is the successor's index, claimed here; on a
// Cluster it is nil (the caller claimed it first). Reply 3, changing
// nothing, when the successor's hash is taken, else 1.
const rotateTo = storeRefresh + `
local function rotateTo(tk, fk, nk, ik, now, next, fam, j, x, at)
  if redis.call('EXISTS', nk) == 1 then return 3 end
  if ik then
    if redis.call('EXISTS', ik) == 1 then return 3 end
    redis.call('SET', ik, fam, 'PXAT', at)
  end
  redis.call('HSET', tk, 'u', now, 'n', next)
  storeRefresh(nk, fk, j, x, at)
  return 1
end
`

// KEYS: old token, family marker, new token, and on a single server the
// new token's index. ARGV: now µs, new hash, new JSON, new expiry µs, new
// PEXPIREAT ms, family id.
// The whole of RotateRefreshToken: the old token is consumed, recording the
// new hash as its successor ('n'), and the new one stored, or neither.
// Reply 1 when rotated (now, or by an earlier send of this same call: the
// old token names this very successor), 2 when the old token was used
// otherwise, 3 when the new hash is taken, 0 when the old token is missing,
// revoked or expired. Without the index key (a Cluster, where it lies in
// another slot) the caller claims it first with claimIndexScript.
var rotateRefreshScript = redis.NewScript(liveRefresh + rotateTo + `
local r = liveRefresh(KEYS[1], KEYS[2], ARGV[1])
if not r then return 0 end
if r[3] then
  if r[4] == ARGV[2] then return 1 end
  return 2
end
return rotateTo(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[6], ARGV[3], ARGV[4], ARGV[5])
`)

// KEYS: the presented token's index, the successor's index. ARGV: prefix,
// hash (see refreshKeys), now µs, the successor's hash, kind, client id,
// generation (decimal), the successor's JSON up to its family_id ('{"hash":'
// and its hash), its audience (JSON), its expiry µs and PEXPIREAT ms
// unless the family ends sooner, then, with a family lifetime, the cutoff µs
// (the family must have started after it), the lifetime µs and the
// lifetime plus the clock skew µs (each rounded down), else three empty
// strings; the zero time.Time in µs (a family start that encodeRefresh
// leaves out, as it does 0); then the scopes the token may hold.
// The whole of ExchangeRefreshToken on one server: the token is read through its index, checked, consumed at
// now for the successor, and the successor stored, or nothing changes.
// Reply {1, the presented token's JSON} when exchanged (now, or by an
// earlier send of this same call), {3} when the successor's hash is taken, {0} when the token is missing, not live, used
// or does not match.
//
// The successor's JSON is the token's with its hash, audience, issue and
// expiry replaced and its family start set: what encodeRefresh writes for
// RefreshExchange.Successor, spliced from the stored text at the keys that
// encodeRefresh writes in a fixed order (a ',"key":' outside a JSON string
// is always a key: inside one, its quotes would be escaped), so that no
// string goes through Lua's JSON encoder and no number through a double
// that could round it. The matched fields are compared exactly: the strings
// as cjson decodes them (as encoding/json does), the generation as the
// decimal text it is stored as. One difference from encodeRefresh remains,
// out of the package's contract (strings must be valid UTF-8): a string
// stored with invalid UTF-8 holds \ufffd escapes, which the copy keeps
// where encodeRefresh would write U+FFFD itself; both read back alike.
var exchangeRefreshByIndexScript = redis.NewScript(refreshKeys + liveRefresh + rotateTo + `
local tk, fk, fam = refreshKeys()
if not tk then return {0} end
local now = ARGV[3]
local r = liveRefresh(tk, fk, now)
if not r then return {0} end
if r[3] then
  -- Used at this very now for this very successor: this exchange ran
  -- before (go-redis re-sends a script whose reply it lost), and answers
  -- as it did then. The successor is a fresh random hash, so no other
  -- call can have used the token so.
  if r[3] == now and r[4] == ARGV[4] then return {1, r[1]} end
  return {0}
end
local j = r[1]
local g = cjson.decode(j).grant
if type(g) ~= 'table' or g.kind ~= ARGV[5] or g.client_id ~= ARGV[6] then return {0} end
local pf = string.find(j, ',"family_id":', 1, true)
local pa = string.find(j, ',"audience":', 1, true)
local pg = string.find(j, ',"generation":', 1, true)
local pi = string.find(j, ',"issued_at":', 1, true)
local gen = pg and string.match(j, '^,"generation":(%-?%d+)', pg)
local iss = pi and string.match(j, '^,"issued_at":(%-?%d+)', pi)
if not (pf and pa and gen and iss and pf < pa and pa < pg and pg < pi) then
  return redis.error_reply('unexpected refresh token record')
end
if gen ~= ARGV[7] then return {0} end
if type(g.scopes) == 'table' then
  local may = {}
  for i = 16, #ARGV do may[ARGV[i]] = true end
  for _, sc in ipairs(g.scopes) do
    if not may[sc] then return {0} end
  end
end
local start = string.match(j, ',"family_issued_at":(%-?%d+)}$') or iss
local x, at = ARGV[10], ARGV[11]
if ARGV[12] ~= '' then
  local s = tonumber(start)
  if s <= tonumber(ARGV[12]) then return {0} end
  local e = s + tonumber(ARGV[13])
  if e < tonumber(x) then
    x = string.format('%.0f', e)
    local t = s + tonumber(ARGV[14])
    local ms = math.floor(t / 1000)
    if ms * 1000 > t then ms = ms - 1 end
    if ms < 1 then ms = 1 end
    at = string.format('%.0f', ms)
  end
end
local fis = ''
if start ~= '0' and start ~= ARGV[15] then fis = ',"family_issued_at":' .. start end
local nj = ARGV[8] .. string.sub(j, pf, pa - 1) .. ',"audience":' .. ARGV[9] ..
  string.sub(j, pg, pi - 1) .. ',"issued_at":' .. now .. ',"expires_at":' .. x .. '}' .. fis .. '}'
local st = rotateTo(tk, fk, refreshTokenKey(fam, ARGV[4]), KEYS[2], now, ARGV[4], fam, nj, x, at)
if st ~= 1 then return {st} end
return {1, j}
`)

// KEYS[1] revocation, and on one server the change log and its counter.
// ARGV: expiry µs, PEXPIREAT ms, channel, event, change.
// The later expiry wins; an earlier or equal one changes nothing and is not
// announced. Reply 1 when recorded, 2 when that very expiry was recorded
// already (by another call, or by an earlier send of this one), 0 when a
// later one was.
var revokeScript = redis.NewScript(logChange + `
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
if cur and tonumber(cur) == tonumber(ARGV[1]) then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
logChange(2, ARGV[5])
return 1
`)

// KEYS: change log, counter, request marker. ARGV: change, the marker's
// TTL in ms. A Cluster's append after the change (see logChange). The
// marker, named by a random token of the call, makes a re-sent append
// (go-redis re-sends a script whose reply it lost) append nothing more.
// Reply 1 when appended, 0 when this call had appended already.
var appendChangeScript = redis.NewScript(logChange + `
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return 0 end
logChange(1, ARGV[1])
return 1
`)

// KEYS: change log, trimmed watermark. ARGV: after, limit.
// Reply {watermark, entries with a seq above after, at most limit, in seq
// order}, from one instant.
var changesScript = redis.NewScript(`
return {redis.call('GET', KEYS[2]) or '0',
  redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])}
`)

// KEYS: change log, trimmed watermark. ARGV: age µs, batch.
// Removes the oldest entries, at most batch of them, up to the first one
// stamped less than age ago by the server's clock, and raises the
// watermark to the last seq removed. Reply: how many went.
var trimChangesScript = redis.NewScript(`
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[1])
local n, last = 0, nil
for i, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local seq, at = string.match(m, '^(%d+) (%d+) ')
  if not at or tonumber(at) > cutoff then break end
  n, last = i, seq
end
if n == 0 then return 0 end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
local cur = redis.call('GET', KEYS[2])
if not cur or tonumber(cur) < tonumber(last) then redis.call('SET', KEYS[2], last) end
return n
`)

// KEYS[1] nonce. ARGV: expiry µs, PEXPIREAT ms, now µs, the call's random
// token. The value is "<expiry µs>:<token>". A live record answers 0,
// unless it holds this call's token: then this is go-redis re-sending a
// script whose reply it lost, and the first run's success is answered
// again (1) instead of a replay.
var useNonceScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local exp, tok = string.match(v, '^(%-?%d+):(.*)$')
  if tok == ARGV[4] then return 1 end
  if exp and tonumber(exp) > tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[4], 'PXAT', ARGV[2])
return 1
`)

// KEYS[1] counter. ARGV: PEXPIREAT ms of the window's end.
var hitScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return n
`)

// Signing keys: KEYS are always record, expiry, seq, seqof (see signingKeys).

// ARGV: id, seq, JSON, expiry µs or an empty string.
var createKeyScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
return 1
`)

// Reply {records (HGETALL), expiries (HGETALL)}.
var listKeysScript = redis.NewScript(`
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`)

// ARGV: id, expiry µs, or an empty string for none.
var updateKeyExpiryScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return 1
`)

// ARGV: id.
var deleteKeyScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local seq = redis.call('HGET', KEYS[4], ARGV[1])
if seq then redis.call('HDEL', KEYS[3], seq) end
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
`)

// ARGV: now µs. Deletes every key whose expiry is at or before now.
var sweepKeysScript = redis.NewScript(`
local e = redis.call('HGETALL', KEYS[2])
local n = 0
for i = 1, #e, 2 do
  if tonumber(e[i + 1]) <= tonumber(ARGV[1]) then
    local id = e[i]
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    local seq = redis.call('HGET', KEYS[4], id)
    if seq then redis.call('HDEL', KEYS[3], seq) end
    redis.call('HDEL', KEYS[4], id)
    n = n + 1
  end
end
return n
`)

// Sweep, one key each. ARGV: now µs. Reply 1 when the key was deleted.

// KEYS[1] refresh token.
var sweepRefreshScript = redis.NewScript(`
local x = redis.call('HGET', KEYS[1], 'x')
if x and tonumber(x) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// KEYS[1] revocation.
var sweepRevokedScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local exp = v and tonumber(string.match(v, '^%-?%d+'))
if exp and exp <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// KEYS[1] any string key; ARGV[1] the value it must still hold to be
// deleted. Reply 1 when deleted.
var deleteIfEqualScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
