// Package redisstore implements [store.Store] over Redis with go-redis v9.
//
// The caller owns the client: a single node (*redis.Client), Sentinel
// (redis.NewFailoverClient) or Cluster (*redis.ClusterClient), anything that
// satisfies [redis.UniversalClient]. The store never closes it.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	st, err := redisstore.New(rdb, redisstore.WithPrefix("myapp:auth:"))
//
// Every multi-key change runs as one Lua script (go-redis [redis.Script]:
// EVALSHA, falling back to EVAL when the server lacks the script), so it is
// atomic on one server and on a Cluster shard alike. Redis 6.2 or later is
// required (SET … PXAT, SET … KEEPTTL).
//
// # Key layout
//
// Every key starts with the prefix (default "portcullis:", shown below), so
// that ACL key patterns (~portcullis:*) and SCAN MATCH portcullis:* cover the
// whole store. Keys that one script touches together share a hash tag in
// braces, which is why the prefix itself may not contain braces.
//
//	portcullis:{client}:id:<id>                  hash {g: generation, j: JSON, o: owner, m: owner index member}
//	portcullis:{client}:owner:<owner>            sorted set: the owner's clients, by created at and id
//	portcullis:{account}:id:<id>                 hash {g, j, u: username, e: email}
//	portcullis:{account}:username:<username>     string: account id (unique index)
//	portcullis:{account}:email:<email>           string: account id (unique index)
//	portcullis:refresh:<hash>                    string: family id (lookup index)
//	portcullis:{refresh:<family>}:token:<hash>   hash {j: JSON, x: expiry µs, u: used at µs}
//	portcullis:{refresh:<family>}:family         string: "1" revoked, "0" live
//	portcullis:access:<hash>                     string: JSON
//	portcullis:revoked:<token id>                string: expiry µs
//	portcullis:{keys}:record, :expiry, :seq, :seqof   hashes of the signing keys
//	portcullis:ratelimit:<window ns>:<start>:<key>    counter
//	portcullis:events                            pub/sub channel
//
// Records are JSON with times as Unix microseconds; they come back as fresh
// copies in UTC, with microsecond precision. Strings must be valid UTF-8
// (encoding/json replaces invalid bytes); normalise usernames and emails
// before storing them, as package store asks.
//
// # Redis Cluster
//
// A Lua script may only touch keys of one hash slot, so the layout groups keys
// by what must change together:
//
//   - A refresh token and its family's revocation marker share the slot of
//     the family ({refresh:<family>}). ConsumeRefreshToken first reads the
//     token's index key (hash → family, written once and never changed), then
//     runs one script in the family's slot that checks revocation and expiry
//     and marks the token used. Families spread over the whole cluster, which
//     matters because refresh tokens live for months; the price is a second
//     round trip per Get or Consume. Putting every refresh token under one tag
//     would save that trip but pin all of them, for their whole lifetime, on
//     one shard.
//   - Accounts and their username and email indexes share the {account} slot,
//     so uniqueness holds atomically. All accounts therefore live on one shard;
//     accounts are few and log in rarely compared with token traffic.
//   - Clients and their owners' indexes share the {client} slot, so that
//     creating, updating (an owner may change) and deleting a client moves
//     its index entry in the same script: the index never disagrees with
//     the clients, and has no entry to sweep. All clients therefore live on
//     one shard too; a client is read once per token request, and guards
//     cache what they read. ListClientsByOwner reads the index, then the
//     clients it names: two round trips to that shard.
//   - Signing keys share the {keys} slot so that id and Seq stay unique
//     together; there are only a handful.
//   - Access tokens, revocations and rate-limit counters are single keys and
//     spread freely.
//
// The hash tags do not include the prefix, so stores with different prefixes
// on one cluster share the {account}, {client} and {keys} slots; their keys
// stay distinct.
//
// # Expiry and TTLs
//
// Methods that decide expiry compare with their now argument; Redis TTLs only
// reclaim memory, and never let an expired, used or revoked token come back:
//
//   - Refresh tokens, their index keys, access tokens and revocation entries
//     get PEXPIREAT at their expiry plus a clock-skew margin (default five
//     minutes, [WithClockSkew]), so a replica whose clock lags the Redis
//     server's never sees a revocation vanish while it would still accept the
//     token.
//   - A consumed refresh token stays recorded as used (its TTL kept) until it
//     expires, so presenting it again reports [store.ErrTokenReused].
//   - A family marker lives at least as long as the longest-lived token of
//     its family: every CreateRefreshToken extends it, and
//     RevokeRefreshFamily keeps its TTL (SET KEEPTTL). Revoking a family that
//     has no live token stores a marker without TTL, so that a token created
//     later in that family is still refused.
//
// [Store.Sweep] deletes, by its now argument, what the TTLs have not yet
// removed. It walks the prefix's keys with SCAN, so it costs time in
// proportion to the keyspace: on Redis it is optional housekeeping.
//
// # Events
//
// Revoke, UpdateClient, DeleteClient, UpdateAccount and DeleteAccount publish
// a JSON [store.Event] on the channel prefix+"events" from inside the script
// that made the change, so an acknowledged change is always announced (and a
// rejected one, such as a compare-and-swap that lost, never is). [Store.Watch]
// subscribes to that channel only, so stores with other prefixes never see
// each other's events. go-redis re-subscribes by itself after a lost
// connection; events published while it was away are lost, as pub/sub never
// stores messages, so a watcher must still bound its caches by a TTL. A
// watcher may see an event more than once. A Cluster propagates PUBLISH to
// every node, so the watcher may subscribe anywhere. Watch is not supported on
// a *redis.Ring, which would publish and subscribe on different shards.
package redisstore
