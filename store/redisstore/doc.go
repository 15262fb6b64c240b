// Package redisstore implements [store.Store] over Redis with go-redis v9.
//
// The caller owns the client: a single node (*redis.Client), Sentinel
// (redis.NewFailoverClient) or Cluster (*redis.ClusterClient), anything that
// satisfies [redis.UniversalClient]. The store never closes it. A
// *redis.Client, Sentinel's included, is taken to be a single server, where
// every key is local and a few operations save a round trip (see "Redis
// Cluster" and "Change log" below); any other client (a ClusterClient, a
// Ring, a wrapper of one's own) takes the Cluster's steps, which are just
// as correct on one server.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//	st, err := redisstore.New(rdb, redisstore.WithPrefix("myapp:auth:"))
//
// Every change that one slot can hold runs as one Lua script (go-redis
// [redis.Script]: EVALSHA, falling back to EVAL when the server lacks the
// script), so it is atomic on one server and on a Cluster shard alike.
// Clients and accounts are spread over the slots, so their indexes change in
// ordered steps instead (see "Clients and accounts" below). Redis 6.2 or
// later is required (SET … PXAT, SET … KEEPTTL, ZRANGE … BYLEX LIMIT).
//
// # Key layout
//
// Every key starts with the prefix (default "portcullis:", shown below), so
// that ACL key patterns (~portcullis:*) and SCAN MATCH portcullis:* cover the
// whole store. Keys that must share a slot share a hash tag in braces, which
// is why the prefix itself may not contain braces.
//
//	portcullis:{client:<id>}                     hash {g: generation, j: JSON, o: owner, m: owner index member, w: state}
//	portcullis:{account:<id>}                    hash {g, j, u: username, e: email, ru, re: their reservations, w}
//	portcullis:{account:<owner>}:clients         sorted set: the owner's clients, by created at and id
//	portcullis:{username:<username>}             string: reservation (state, required state, claimed at, account id)
//	portcullis:{email:<email>}                   string: reservation, likewise
//	portcullis:refresh:<hash>                    string: family id (lookup index)
//	portcullis:{refresh:<family>}:token:<hash>   hash {j: JSON, x: expiry µs, u: used at µs, n: successor's hash}
//	portcullis:{refresh:<family>}:family         string: "1" revoked, "0" live
//	portcullis:access:<hash>                     string: JSON
//	portcullis:revoked:<token id>                string: expiry µs
//	portcullis:{keys}:record, :expiry, :seq, :seqof   hashes of the signing keys
//	portcullis:ratelimit:<window ns>:<start>:<key>    counter
//	portcullis:events                            pub/sub channel
//	portcullis:{changes}:log                     sorted set: the change log, "<seq> <at µs> <kind> <generation> <expiry µs> <id>" by seq
//	portcullis:{changes}:seq, :trimmed           strings: the last seq handed out, the highest one trimmed
//	portcullis:{changes}:req:<token>             string: a Cluster append's request marker (5 minutes)
//
// Nothing has been released with another layout, so there is nothing to
// migrate: earlier development layouts (clients under one {client} tag,
// accounts under one {account} tag) are simply not read.
//
// Records are JSON with times as Unix microseconds; they come back as fresh
// copies in UTC, with microsecond precision. Strings must be valid UTF-8
// (encoding/json replaces invalid bytes); normalise usernames and emails
// before storing them, as package store asks.
//
// # Redis Cluster
//
// A Lua script may only touch keys of one hash slot, so the layout groups
// keys by what must change together, and spreads everything else:
//
//   - Each client has a slot of its own, so that the hottest read (one
//     client per token request) and its rotations spread over the whole
//     cluster. An owner's index of clients lives in the slot of the owner's
//     account, each username and email reservation in a slot of its own, and
//     each account in its own: logins spread too.
//   - A refresh token and its family's revocation marker share the slot of
//     the family ({refresh:<family>}). GetRefreshToken and ConsumeRefreshToken
//     know only the token's hash, so they first read its index key (hash →
//     family, written once and never changed), then check revocation and
//     expiry (and mark the token used) in one script in the family's slot:
//     two round trips. Families spread over the whole cluster, which
//     matters because refresh tokens live for months; the second round trip
//     is the price. On a single server they take one: the script is given
//     the index key alone, reads the family and names the family's keys
//     itself. Redis lets a script touch keys it was not given only where
//     every key is on one server; a Cluster refuses keys of another slot
//     than the script's, and the family's keys may be on another node.
//     RotateRefreshToken is told the family (its successor's), so it is one
//     script: on a single server it also claims the successor's index key;
//     on a Cluster, where that key lies in another slot, it claims it first
//     (two round trips) and releases it if the rotation is refused.
//     ExchangeRefreshToken ([store.RefreshExchanger], the issuer's refresh
//     grant) is one script on a single server: it reads the token through
//     its index, checks it, consumes it and stores the successor, claiming
//     the successor's index too. On a Cluster it is GetRefreshToken's two
//     steps, the checks in Go, and RotateRefreshToken's two: four round
//     trips (one when the index is missing, two when the token is refused,
//     three or five when the successor's hash is taken).
//   - Signing keys share the {keys} slot so that id and Seq stay unique
//     together; there are only a handful.
//   - Access tokens, revocations and rate-limit counters are single keys and
//     spread freely.
//
// The hash tags do not include the prefix, so stores with different prefixes
// on one cluster share the {keys} slot (and any two records with the same
// id share theirs); their keys stay distinct. The slot of a tag is that of
// the text up to the first '}' after the '{', so ids holding braces keep
// every key of one record in one slot.
//
// # Clients and accounts
//
// A record and its index entries (an owner's list, a username or email) lie
// in different slots, so each write is a few ordered steps, and the readers
// check every entry against its record:
//
//   - CreateClient with an owner writes a stub that claims the id, adds the
//     owner index entry, then replaces the stub with the client. UpdateClient
//     that moves a client (a new owner or CreatedAt) adds the new entry, swaps
//     the record if it is still in the state it read, then removes the old
//     entry; a rotation is one script. DeleteClient deletes the client, then
//     its entry.
//   - ListClientsByOwner reads the index in order, reads the clients it
//     names (one pipeline of per-client reads, which a Cluster client splits
//     by node), keeps those whose record names that very entry, skips entries
//     of writes still in flight, deletes entries that can never be current
//     again (best effort) and reads on until it has limit clients.
//   - CreateAccount writes a stub, reserves the username and email (SET NX,
//     or a swap of a reservation proved dead), then replaces the stub with
//     the account, which keeps the reservation values it holds. A rename
//     reserves the new names first and releases the old ones after; a delete
//     releases them after. FindAccount follows the reservation to the
//     account and believes it only if the account holds that very value; a
//     dead reservation it meets is deleted.
//
// Every record carries a state that each write replaces with a fresh random
// value, and every entry and reservation names the state its write commits
// and the state that write requires (the one it read, or its stub's), so a
// reader can tell a pending entry (the record is still in the required
// state: skipped, left alone) from a dead one (it is not: its write can never
// commit). No timing is involved, so the listing never loses a client and a
// name is never held by two accounts, whatever the delays and crashes
// between steps. Time only bounds two waits: a stub expires after a minute,
// freeing the id of a create that died, and a rename that died between
// reserving and committing holds its new name until the account's next
// write, or until a create or rename that wants that name finds it older
// than a minute plus the clock skew and fences it (replaces the account's
// state, so that the rename can never commit).
//
// Round trips, when nothing is in the way: GetClient, GetAccount and a
// rotation 1; CreateClient 1 unowned, 3 owned; a move 4; DeleteClient 2;
// ListClientsByOwner 2 (plus 1 to delete dead entries, 2 per further read
// past skipped ones); CreateAccount 3; FindAccount 2; a rename 4;
// DeleteAccount 2. A create or update script of a client or account that
// go-redis sends twice (after a lost reply) finds its own state the second
// time and answers success; a delete sent twice answers ErrNotFound.
//
// # Retries
//
// go-redis sends a command again when its reply is lost (a read timeout, a
// connection reset: MaxRetries times, 3 by default), and the server may
// then run it twice. Every write the issuer makes survives that with the
// default options, and with any MaxRetries: creates of records and refresh
// tokens, RotateRefreshToken, ExchangeRefreshToken and compare-and-swap
// updates find their own earlier write and answer success, and revocations
// and family revocations are idempotent by nature (tested by running every
// command twice through a go-redis hook). An exchange has no request id,
// but a re-sent one finds the token used at its very now for its very
// successor (a fresh random hash); the same exchange made again later is
// ErrNotFound, as [store.RefreshExchanger] says. Three calls are not
// idempotent: a re-sent ConsumeRefreshToken finds the token it just
// consumed and answers ErrTokenReused (use RotateRefreshToken), a re-sent
// delete answers ErrNotFound, and a re-sent rate-limit hit counts twice (a
// limit reached slightly early). So there is no go-redis option a user
// must not change for correctness; what must not change is the server's
// eviction policy (below).
//
// # Eviction
//
// Redis must run with maxmemory-policy noeviction: every record with a TTL
// here (revocations, used refresh tokens, families) is also one whose loss
// lets a token through that must not pass. [Store.CheckStart], which
// issuer.New calls, refuses any other policy, and a Redis that hides CONFIG,
// unless [WithEvictionCheck] says [EvictionWarn].
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
//
// # Change log
//
// [Store.Changes] and [Store.TrimChanges] implement [store.ChangeLog]: the
// events above, kept in a sorted set scored by seq (INCR of a counter),
// each entry stamped by the server's clock (TIME), all in the {changes}
// slot. Entries have no TTL; TrimChanges removes them by age, the oldest
// first, 1000 per script, and keeps the highest seq removed. Sweep never
// touches them.
//
// On one server (*redis.Client, Sentinel included) the script that makes
// the change also appends it, so the change and its entry happen together
// or not at all, and seqs follow the order of the changes. The script
// appends only where it changes something, so a re-sent script that finds
// its own earlier write appends nothing more. Cost: the same one round
// trip as before.
//
// On a Cluster the change's keys and the log's lie in different slots, so
// a second script appends right after the change succeeded (a second round
// trip), guarded by a marker named by a random token of the call so that a
// re-sent append counts once. This order, change then entry, is the safer
// one: the log only ever names changes that happened. The other order
// would log rotations whose compare-and-swap then lost, carrying a
// generation that was never stored, and followers would refuse the live
// tokens of the real one. The price is a window: a process that dies
// between the two steps, or an append that fails (UpdateClient, DeleteClient,
// UpdateAccount and DeleteAccount still report success, because their change
// is made; Revoke reports the failure, and calling it again appends), loses
// that entry, and followers then miss it until their cached results expire,
// as with a lost pub/sub event. So do changes whose script's reply go-redis
// never got (the caller sees an error; a re-sent delete answers
// ErrNotFound and so appends nothing). Seqs follow the order of the appends,
// which for two changes of one record made at once by different processes
// may not be the order of the changes: a follower should read an entry as
// "this record changed, to at least this generation", never let a later
// entry lower a generation it has seen, and drop what it cached for the
// record either way. A revocation with
// exactly the expiry already recorded is appended again on a Cluster (the
// script cannot tell it from its own re-sent first run); a duplicate entry
// is true, where a missing one would not be.
package redisstore
