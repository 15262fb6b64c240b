package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches only the keys it is given, all in one hash
// slot (see the package documentation). Numbers that may exceed 2^53 travel
// as decimal strings and are compared as strings, never through Lua's
// doubles; times in µs (about 2^51 today) are compared with tonumber.
//
// Status codes: 1 done, 0 not found (or, for creates, already exists),
// -1 generation conflict, -2 username or email taken, -3 the caller's view
// of the account's indexes is stale and it must read again.

// Clients: the record keeps its owner ('o') and its member in the owner's
// index ('m'), so that a script moves or removes the index entry without
// parsing JSON. An unowned client is in no index.

// KEYS: client, owner index. ARGV: generation, JSON, owner, member.
var createClientScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'j', ARGV[2], 'o', ARGV[3], 'm', ARGV[4])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], 0, ARGV[4]) end
return 1
`)

// KEYS: client, new owner index, old owner index (the caller's guess).
// ARGV: previous generation, new generation, JSON, new owner, new member,
// old owner (the guess), channel, event.
// Reply {status}, or {-3, current owner} when the guess was wrong.
var updateClientScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'g', 'o', 'm')
if not cur[1] then return {0} end
if cur[1] ~= ARGV[1] then return {-1} end
local o, m = cur[2] or '', cur[3] or ''
if o ~= ARGV[6] then return {-3, o} end
if o ~= '' then redis.call('ZREM', KEYS[3], m) end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], 0, ARGV[5]) end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'j', ARGV[3], 'o', ARGV[4], 'm', ARGV[5])
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {1}
`)

// KEYS: client, owner index (the caller's guess). ARGV: owner (the guess),
// channel, event.
// Reply {status}, or {-3, current owner} when the guess was wrong.
var deleteClientScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'g', 'o', 'm')
if not cur[1] then return {0} end
local o, m = cur[2] or '', cur[3] or ''
if o ~= ARGV[1] then return {-3, o} end
redis.call('DEL', KEYS[1])
if o ~= '' then redis.call('ZREM', KEYS[2], m) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {1}
`)

// KEYS: account, username index, email index.
// ARGV: generation, JSON, id, username, email.
var createAccountScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[4] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'j', ARGV[2], 'u', ARGV[4], 'e', ARGV[5])
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[3]) end
return 1
`)

// KEYS: account, new username index, new email index, old username index,
// old email index.
// ARGV: previous generation, generation, JSON, id, new username, new email,
// old username, old email, channel, event.
var updateAccountScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'g', 'u', 'e')
if not cur[1] then return 0 end
if cur[1] ~= ARGV[1] then return -1 end
if cur[2] ~= ARGV[7] or cur[3] ~= ARGV[8] then return -3 end
if ARGV[5] ~= '' then
  local o = redis.call('GET', KEYS[2])
  if o and o ~= ARGV[4] then return -2 end
end
if ARGV[6] ~= '' then
  local o = redis.call('GET', KEYS[3])
  if o and o ~= ARGV[4] then return -2 end
end
if ARGV[7] ~= '' and ARGV[7] ~= ARGV[5] and redis.call('GET', KEYS[4]) == ARGV[4] then
  redis.call('DEL', KEYS[4])
end
if ARGV[8] ~= '' and ARGV[8] ~= ARGV[6] and redis.call('GET', KEYS[5]) == ARGV[4] then
  redis.call('DEL', KEYS[5])
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[4]) end
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[4]) end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'j', ARGV[3], 'u', ARGV[5], 'e', ARGV[6])
redis.call('PUBLISH', ARGV[9], ARGV[10])
return 1
`)

// KEYS: account, username index, email index.
// ARGV: id, username, email (as the caller read them), channel, event.
var deleteAccountScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'u', 'e')
if not cur[1] then return 0 end
if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] then return -3 end
redis.call('DEL', KEYS[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// KEYS: token, family marker. ARGV: JSON, expiry µs, PEXPIREAT ms.
//
// The family marker must outlive every token of its family, or a revoked
// family could come back: give it this token's expiry when it has a shorter
// one, never shorten it, and leave a marker without TTL alone. A token whose
// expiry has already passed is gone at once and extends nothing.
var createRefreshScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'x', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
local tttl = redis.call('PTTL', KEYS[1])
if tttl > 0 then
  local fttl = redis.call('PTTL', KEYS[2])
  if fttl == -2 then
    redis.call('SET', KEYS[2], '0', 'PXAT', ARGV[3])
  elseif fttl >= 0 and fttl < tttl then
    redis.call('PEXPIREAT', KEYS[2], ARGV[3])
  end
end
return 1
`)

// KEYS: token, family marker. ARGV: now µs.
// Reply {1, JSON, used µs or an empty string} or {0}.
var getRefreshScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'j', 'x', 'u')
if not r[1] then return {0} end
if redis.call('GET', KEYS[2]) == '1' then return {0} end
if tonumber(r[2]) <= tonumber(ARGV[1]) then return {0} end
return {1, r[1], r[3] or ''}
`)

// KEYS: token, family marker. ARGV: now µs.
// Reply {1, JSON} when this call consumed the token, {2, JSON, used µs} when
// it had been consumed before, {0} when missing, revoked or expired. The
// token keeps its TTL (HSET does not touch it), so it stays recorded as used
// until it expires.
var consumeRefreshScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'j', 'x', 'u')
if not r[1] then return {0} end
if redis.call('GET', KEYS[2]) == '1' then return {0} end
if tonumber(r[2]) <= tonumber(ARGV[1]) then return {0} end
if r[3] then return {2, r[1], r[3]} end
redis.call('HSET', KEYS[1], 'u', ARGV[1])
return {1, r[1]}
`)

// KEYS[1] revocation. ARGV: expiry µs, PEXPIREAT ms, channel, event.
// The later expiry wins; an earlier or equal one changes nothing and is not
// announced.
var revokeScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
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
if v and tonumber(v) <= tonumber(ARGV[1]) then
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
