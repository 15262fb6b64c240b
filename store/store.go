// Package store defines what Portcullis keeps: clients, accounts, refresh
// tokens, opaque access tokens, revocations and signing keys, as small role
// interfaces that each backend implements.
//
// # Contract
//
// Every method takes a [context.Context] first and is safe for concurrent
// use. Errors are the sentinels below, possibly wrapped: check them with
// [errors.Is], never with ==. Records passed in and returned are copies: a
// backend never keeps or shares a caller's slice or map.
//
// Time is never read from the clock inside a backend where the contract
// depends on it: methods that decide expiry take a now argument, so that tests
// and replicas agree.
//
// # Zero times
//
// Where a time decides whether a token or a revocation still counts, the zero
// time is refused with an error rather than given a meaning: a token created
// with a zero ExpiresAt, a [Revocations.Revoke] with a zero expiresAt and a
// [RefreshTokens.ConsumeRefreshToken] or [RefreshTokens.RotateRefreshToken]
// at a zero now fail and change nothing.
// Backends used to read such a zero as "for ever" or as "long ago", and the
// second silently revokes nothing or lets a token be consumed twice. The
// error is none of the sentinels below (it is the caller's bug, not an answer
// about the record), so a caller handles it as a failure to log, never as
// "not found" or "reused".
//
// # Backends
//
// store/memory (the default), store/sqlstore (PostgreSQL, MySQL/MariaDB,
// SQLite) and store/redisstore implement [Store]. A custom backend proves
// itself with the conformance suite in store/storetest:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newIsolatedStore(t) })
//	}
//
// # Optional capabilities
//
// A backend may also implement [Sweeper], [Pinger], [Watcher], [ChangeLog],
// [RateLimiter] (and with it [RateCounter]), [Nonces], [StartChecker],
// [Lister] or [RefreshExchanger]; consumers discover them by type
// assertion.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no record with that key, or (for tokens) one that has
	// expired or been revoked: a caller cannot tell those apart and must not
	// need to.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a create met an existing record with the same key.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: a compare-and-swap update found another generation than
	// the one the caller expected; re-read and try again, or give up.
	ErrConflict = errors.New("store: generation conflict")
	// ErrTokenReused: a refresh token was presented after it had already been
	// consumed. The caller must treat its whole family as compromised.
	ErrTokenReused = errors.New("store: refresh token reused")
)

// Store is every role together; a backend implements all of them. Consumers
// should ask for the narrowest role they need.
type Store interface {
	Clients
	Accounts
	RefreshTokens
	AccessTokens
	Revocations
	Keys
}

// Client is a machine client: an id and a hashed secret.
type Client struct {
	ID string
	// SecretHash is the hash of the client secret (never the secret itself).
	SecretHash []byte
	Name       string
	// OwnerAccount is the id of the account that manages this client, if any.
	OwnerAccount string
	// Scopes the client may request. Empty means every scope the issuer knows.
	Scopes []string
	// Audiences the client may request tokens for. Empty means the issuer's
	// default audience only.
	Audiences []string
	// Generation is bumped by every rotation of the credentials; tokens carry
	// the generation they were issued at and die when it moves on.
	Generation int64
	Disabled   bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Metadata   map[string]string
}

// Clients stores machine clients.
type Clients interface {
	// CreateClient stores c. ErrAlreadyExists if c.ID is taken.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client with that id, or ErrNotFound. A miss
	// should cost what a hit does (the same query, the same decoding), or
	// the token endpoint's timing tells which client ids exist; the
	// stores here do, and e2e's TestUnknownClientCostsAsMuchAsWrongSecret
	// measures it.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient replaces the stored client c.ID with c, but only if the
	// stored generation still equals prevGeneration (compare-and-swap), so
	// that of two concurrent rotations exactly one wins. ErrConflict if the
	// generation moved on, ErrNotFound if there is no such client.
	UpdateClient(ctx context.Context, c *Client, prevGeneration int64) error
	// DeleteClient removes the client. ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
	// ListClientsByOwner returns copies of the clients whose OwnerAccount
	// equals owner exactly, ordered by CreatedAt and then by ID (compared
	// bytewise), at most limit of them, so that an account can list and
	// delete its own clients without the store walking every client.
	//
	// limit must be from 1 to [MaxListLimit], and owner must not be empty
	// (unowned clients are nobody's list); otherwise it returns an error
	// that is none of the sentinels, as for a zero time: it is the
	// caller's bug, not an answer. An owner with no clients gets an empty
	// (possibly nil) slice and a nil error, never ErrNotFound.
	//
	// The listing follows the writes: a client whose OwnerAccount changes
	// through UpdateClient leaves its old owner's list for its new one's
	// (with its new CreatedAt, if that changed too), and a deleted client
	// leaves its owner's list. CreatedAt is compared as the backend keeps
	// it, which may be only to the microsecond: clients created within one
	// microsecond may come in ID order.
	ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*Client, error)
}

// MaxListLimit is the largest limit a listing accepts, so that no call makes
// a backend read and copy an unbounded number of records.
const MaxListLimit = 1000

// Account is a person or organisation that logs in with a password and may
// own clients.
type Account struct {
	ID string
	// Username and Email are unique among accounts when not empty; both are
	// compared exactly as given (normalise before storing).
	Username string
	Email    string
	// PasswordHash is an encoded argon2id hash (PHC string format).
	PasswordHash string
	Roles        []string
	// Generation is bumped when the password changes; account tokens die with it.
	Generation int64
	Disabled   bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Accounts stores accounts.
type Accounts interface {
	// CreateAccount stores a. ErrAlreadyExists if the id, username or email
	// is taken.
	CreateAccount(ctx context.Context, a *Account) error
	// GetAccount returns the account with that id, or ErrNotFound.
	GetAccount(ctx context.Context, id string) (*Account, error)
	// FindAccount returns the account whose username or email equals login,
	// or ErrNotFound.
	FindAccount(ctx context.Context, login string) (*Account, error)
	// UpdateAccount replaces the account a.ID if its stored generation equals
	// prevGeneration. ErrConflict, ErrNotFound, or ErrAlreadyExists when the
	// new username or email belongs to another account.
	UpdateAccount(ctx context.Context, a *Account, prevGeneration int64) error
	// DeleteAccount removes the account. ErrNotFound if there is none.
	DeleteAccount(ctx context.Context, id string) error
}

// Grant says who a token was issued to; refresh and opaque access tokens
// carry one.
type Grant struct {
	// Kind is the token kind's name ("client", "account", …).
	Kind string
	// Subject is the principal: the client id for client tokens, the account
	// id for account tokens.
	Subject   string
	ClientID  string
	AccountID string
	Scopes    []string
	Audience  []string
	// Generation of the client (or account) when the token was issued.
	Generation int64
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// RefreshToken is a long-lived, single-use token. Only its hash is stored.
type RefreshToken struct {
	// Hash identifies the token: hex SHA-256 (or HMAC) of the token string.
	Hash string
	// FamilyID is shared by every refresh token descended from one grant.
	FamilyID string
	Grant
	// UsedAt is zero until the token is consumed.
	UsedAt time.Time
	// ReplacedBy is the hash of the successor that
	// [RefreshTokens.RotateRefreshToken] stored when it consumed this token;
	// empty while the token is unused, and when ConsumeRefreshToken consumed
	// it. It is the rotation's request id: a rotation sent twice finds it
	// and succeeds again.
	ReplacedBy string
	// FamilyIssuedAt is when the first token of the family was issued,
	// carried from token to token by the issuer so that a family can be
	// given an absolute lifetime. Zero when unknown.
	FamilyIssuedAt time.Time
}

// RefreshTokens stores refresh tokens.
type RefreshTokens interface {
	// CreateRefreshToken stores t. ErrAlreadyExists if the hash is taken;
	// an error, storing nothing, if t.ExpiresAt is zero.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// GetRefreshToken returns the token without consuming it. ErrNotFound if
	// it is missing, expired at now, or its family was revoked.
	GetRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshToken, error)
	// ConsumeRefreshToken atomically marks the token used at now and returns
	// it. Of any number of concurrent calls with one hash, exactly one
	// succeeds. A token already used returns the stored record and
	// ErrTokenReused (the caller then revokes the family); a missing, expired
	// or revoked one returns ErrNotFound. A zero now is an error and
	// consumes nothing (UsedAt zero means unused). A consume sent twice
	// (a lost reply) answers ErrTokenReused the second time: a rotating
	// caller uses RotateRefreshToken, which has a request id.
	ConsumeRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshToken, error)
	// RotateRefreshToken consumes the token oldHash at now and stores next,
	// its successor, as one atomic step: both happen or neither does, in one
	// round trip where the backend allows it (one Lua script on Redis, one
	// statement on PostgreSQL, one transaction on MySQL (one CALL of a
	// stored procedure) and SQLite, one critical section in memory). It records next.Hash as the old token's
	// ReplacedBy, and that hash is the request's id:
	//
	//   - The old token is live and unused: it is consumed (UsedAt now,
	//     ReplacedBy next.Hash), next is stored, and the answer is nil.
	//   - It was already consumed by a rotation to this very next.Hash: the
	//     same request ran before (a client library re-sent a command
	//     whose reply it lost). Nothing changes and the answer is nil
	//     again, never ErrTokenReused: the first, legitimate use must not
	//     read as a theft.
	//   - It was consumed otherwise (another successor, or
	//     ConsumeRefreshToken): ErrTokenReused, and nothing is stored. The
	//     caller then revokes the family.
	//   - It is missing, expired at now, or its family is revoked, or
	//     next.FamilyID is not its family: ErrNotFound, nothing changes.
	//   - next.Hash is taken by another token: ErrAlreadyExists, and the
	//     old token stays unused.
	//
	// Of any number of concurrent rotations of one token with different
	// successors exactly one succeeds; the others get ErrTokenReused and
	// store nothing. A zero now or a zero next.ExpiresAt is an error (none
	// of the sentinels) and changes nothing. next is stored as
	// CreateRefreshToken stores it, its UsedAt and ReplacedBy included (a
	// rotating issuer leaves them zero).
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time) error
	// RevokeRefreshFamily makes every token of the family unusable,
	// including ones created later with the same family id. Revoking an
	// unknown family is not an error.
	//
	// The revocation lasts while the family has a stored token: a token
	// created in the family later is born dead and itself keeps the family
	// revoked until it expires. Once a [Sweeper.Sweep] has deleted every
	// token of the family (each had expired at its now), the store may
	// forget the revocation, and a token created in the family after that
	// is live; a family revoked while it had no token may likewise be
	// forgotten by the next Sweep. (Redis also forgets it by TTL, once its
	// server's clock is past the family's last expiry plus its skew margin.)
	// A rotating issuer loses nothing by this: it hands out a new token of
	// a family only after consuming a live one of the same family, which
	// then still exists, and with it the revocation.
	RevokeRefreshFamily(ctx context.Context, familyID string) error
}

// RefreshExchanger is an optional capability of [RefreshTokens]: the
// refresh grant's read of the presented token, its checks and the rotation,
// as one atomic step and one round trip. Without it, the issuer reads the
// token ([RefreshTokens.GetRefreshToken]), checks it, and then rotates it
// ([RefreshTokens.RotateRefreshToken]): two round trips. The issuer uses it
// only for the common case (a confidential client refreshing a token of its
// own, asking for no narrower scope); whatever the exchange does not match
// it then reads and decides as before, so a store may implement it for
// speed and nothing else.
type RefreshExchanger interface {
	// ExchangeRefreshToken rotates the token x.Hash to the successor
	// x.Successor builds from it, atomically, if the token is live at
	// x.Now (not expired, its family not revoked), unused, and
	// [RefreshExchange.Matches] x. It returns the presented token as
	// stored after the exchange (used at x.Now, replaced by x.Next).
	//
	// When the token is missing, not live, used, or does not match x, the
	// answer is ErrNotFound and nothing changes: the caller then reads the
	// token to learn why (reuse, the grace period, another client's
	// token). When the token would be exchanged but x.Next is taken by
	// another token, the answer is ErrAlreadyExists and the presented
	// token stays unused. x.Next is the exchange's request id, as it is a
	// rotation's: a store whose client may send a command again after a
	// lost reply (go-redis does) answers success again when it finds the
	// token used at x.Now and replaced by x.Next, so that the caller does
	// not read its own exchange as reuse. Found used at another time or
	// for another successor, it answers ErrNotFound. Of any number
	// of concurrent exchanges (or rotations, or consumes) of one token,
	// at most one succeeds. A zero x.Now or x.ExpiresAt is an error (none
	// of the sentinels) and changes nothing.
	ExchangeRefreshToken(ctx context.Context, x *RefreshExchange) (*RefreshToken, error)
}

// RefreshExchange is what [RefreshExchanger.ExchangeRefreshToken] requires
// of the presented token, and how it makes the successor. The fields that
// the token must match never change once a token is stored, so a store may
// check them on a read made in the same transaction, or as conditions of
// the statement that consumes the token.
type RefreshExchange struct {
	// Hash is the presented token's, Next its successor's.
	Hash, Next string
	// Now is when the token is presented: it must be live then, it is
	// marked used then, and its successor is issued then.
	Now time.Time
	// The token must be of this kind, client and client generation.
	Kind       string
	ClientID   string
	Generation int64
	// Scopes are those the client may still have: each of the token's
	// scopes must be one of them (none is fine), so that the successor
	// keeps the token's scopes unchanged.
	Scopes []string
	// Audience is the successor's.
	Audience []string
	// ExpiresAt is when the successor expires, unless its family ends
	// sooner (MaxFamilyLifetime).
	ExpiresAt time.Time
	// MaxFamilyLifetime, when positive, is how long a family lives from
	// its start (the token's FamilyIssuedAt, or its IssuedAt when that is
	// zero): the family must not have ended at Now, and the successor
	// expires at its end if that comes before ExpiresAt.
	MaxFamilyLifetime time.Duration
}

// Matches reports whether t meets x's conditions other than being live and
// unused: its kind, client, generation, scopes and family lifetime.
func (x *RefreshExchange) Matches(t *RefreshToken) bool {
	if t.Kind != x.Kind || t.ClientID != x.ClientID || t.Generation != x.Generation {
		return false
	}
	for _, s := range t.Scopes {
		if !slices.Contains(x.Scopes, s) {
			return false
		}
	}
	end, ok := x.familyEnd(t)
	return !ok || x.Now.Before(end)
}

// Successor is the token that an exchange of t stores: the same grant and
// family, x's audience, issued at x.Now and expiring at x.ExpiresAt or at
// the family's end, whichever comes first. Its FamilyIssuedAt is t's
// family start (see MaxFamilyLifetime). Its slices are its own.
func (x *RefreshExchange) Successor(t *RefreshToken) *RefreshToken {
	next := &RefreshToken{Hash: x.Next, FamilyID: t.FamilyID, Grant: t.Grant, FamilyIssuedAt: familyStart(t)}
	next.Scopes = slices.Clone(t.Scopes)
	next.Audience = slices.Clone(x.Audience)
	next.IssuedAt, next.ExpiresAt = x.Now, x.ExpiresAt
	if end, ok := x.familyEnd(t); ok && end.Before(next.ExpiresAt) {
		next.ExpiresAt = end
	}
	return next
}

// familyEnd is when t's family ends, and whether it has an end.
func (x *RefreshExchange) familyEnd(t *RefreshToken) (time.Time, bool) {
	if x.MaxFamilyLifetime <= 0 {
		return time.Time{}, false
	}
	return familyStart(t).Add(x.MaxFamilyLifetime), true
}

// familyStart is when t's family began: FamilyIssuedAt, or IssuedAt for a
// token stored before families recorded their start.
func familyStart(t *RefreshToken) time.Time {
	if t.FamilyIssuedAt.IsZero() {
		return t.IssuedAt
	}
	return t.FamilyIssuedAt
}

// AccessToken is an opaque access token. Only its hash is stored.
type AccessToken struct {
	// Hash identifies the token: hex SHA-256 (or HMAC) of the token string.
	Hash string
	// ID is the token's unique id (the jti of a JWT), used for revocation.
	ID string
	// FamilyID is the refresh token family the token was minted with, if
	// any: revoking the family revokes the token too (the issuer records
	// the family in [Revocations], and verifiers check it there).
	FamilyID string
	Grant
}

// AccessTokens stores opaque access tokens.
type AccessTokens interface {
	// CreateAccessToken stores t. ErrAlreadyExists if the hash is taken;
	// an error, storing nothing, if t.ExpiresAt is zero.
	CreateAccessToken(ctx context.Context, t *AccessToken) error
	// GetAccessToken returns the token, or ErrNotFound if it is missing or
	// expired at now.
	GetAccessToken(ctx context.Context, hash string, now time.Time) (*AccessToken, error)
	// DeleteAccessToken removes the token; deleting a missing one is not an
	// error.
	DeleteAccessToken(ctx context.Context, hash string) error
}

// Revocations records revoked token ids (jti) until the tokens would have
// expired anyway. The issuer also records revoked refresh families here, as
// "family:" followed by the family id (a jti never holds a colon), so that
// verifiers refuse every access token minted from them.
type Revocations interface {
	// Revoke records that the token id is revoked until expiresAt. Revoking
	// twice is not an error; the later expiry wins. A zero expiresAt is an
	// error and changes nothing: a revocation list must never take an
	// accidental zero for "already lapsed" and silently revoke nothing, and
	// "for ever" would keep the entry past every sweep. Pass the token's
	// expiry plus the verifiers' leeway.
	Revoke(ctx context.Context, tokenID string, expiresAt time.Time) error
	// IsRevoked reports whether the token id is revoked at now.
	IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error)
}

// SigningKey is a key the issuer signs tokens with, shared by replicas.
type SigningKey struct {
	// ID is the key id (kid).
	ID string
	// Seq orders keys: each new key takes the next number, and a create with
	// a number already taken fails with ErrAlreadyExists, so that replicas
	// starting at once agree on a single key.
	Seq int64
	// Algorithm is the JWS alg the key is pinned to: ES256, EdDSA, RS256, HS256.
	Algorithm string
	// Private is the private key in PKCS #8 DER (the raw secret for HS256).
	Private []byte
	// CreatedAt is when the key was made and published.
	CreatedAt time.Time
	// ActiveAt is when the key starts signing; it is published before then
	// so that verifiers know it in time.
	ActiveAt time.Time
	// ExpiresAt is when the key stops being published: after the last token
	// it signed has expired. Zero means not scheduled.
	ExpiresAt time.Time
}

// Keys stores signing keys.
type Keys interface {
	// CreateKey stores k. ErrAlreadyExists if k.ID or k.Seq is taken.
	CreateKey(ctx context.Context, k *SigningKey) error
	// ListKeys returns every stored key, ordered by Seq.
	ListKeys(ctx context.Context) ([]*SigningKey, error)
	// UpdateKeyExpiry sets the key's ExpiresAt. ErrNotFound if there is none.
	UpdateKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error
	// DeleteKey removes the key. ErrNotFound if there is none.
	DeleteKey(ctx context.Context, id string) error
}

// Sweeper is an optional capability: deleting rows that can no longer matter
// (expired tokens and revocations, and keys past their expiry).
type Sweeper interface {
	// Sweep deletes what had expired at now and reports how many records went.
	Sweep(ctx context.Context, now time.Time) (int64, error)
}

// Lister is an optional capability: every client and every account, a page
// at a time, for administration tools such as the portcullis command's
// list commands. It is not meant for request paths: a backend may read far
// more than a page to answer one (the Redis store scans its key space).
type Lister interface {
	// ListClients returns copies of the clients whose ID is greater than
	// after (bytewise; "" starts at the first), ordered by ID bytewise, at
	// most limit of them. A page shorter than limit is the last. To read
	// them all, pass the last ID of each page as the next after.
	//
	// limit must be from 1 to [MaxListLimit]; otherwise it returns an error
	// that is none of the sentinels. No clients after "after" is an empty
	// (possibly nil) slice and a nil error, never ErrNotFound. A write
	// concurrent with the paging may or may not be seen, but a client that
	// exists throughout is listed exactly once.
	ListClients(ctx context.Context, after string, limit int) ([]*Client, error)
	// ListAccounts does the same for accounts.
	ListAccounts(ctx context.Context, after string, limit int) ([]*Account, error)
}

// Pinger is an optional capability: a cheap health check.
type Pinger interface {
	Ping(ctx context.Context) error
}

// EventKind says what changed.
type EventKind string

const (
	// EventRevoked: the token id in Event.ID was revoked (a refresh
	// family's access tokens are revoked as the id "family:<family id>").
	EventRevoked EventKind = "revoked"
	// EventClientChanged: the client Event.ID was rotated, disabled or
	// deleted; Event.Generation is its new generation (-1 when deleted).
	EventClientChanged EventKind = "client"
	// EventAccountChanged: likewise for the account Event.ID.
	EventAccountChanged EventKind = "account"
	// EventResync: events may have been lost (the backend's connection
	// dropped and came back, or a change could not be described), so
	// everything cached may be stale and must be dropped. ID and
	// Generation are empty.
	EventResync EventKind = "resync"
)

// Event tells a watcher that cached verification results may be stale.
type Event struct {
	Kind       EventKind
	ID         string
	Generation int64
}

// Watcher is an optional capability: a backend that can push changes (Redis
// pub/sub, PostgreSQL LISTEN/NOTIFY) so that guards drop cached results at once instead of waiting for
// their cache TTL. A backend that implements it publishes an event from every
// Revoke, UpdateClient, DeleteClient, UpdateAccount and DeleteAccount that
// changed something, to every watcher of the same store (every replica).
// A backend that can tell when it may have missed events (a subscription
// re-established after a gap) says so with an [EventResync]. Events of one
// record arrive in the order of its changes; events of different records
// may arrive in any order (a Redis Cluster publishes each from the node
// that holds its record).
type Watcher interface {
	// Watch calls fn for every event until ctx is done. It returns once the
	// subscription is established (or failed); fn runs on another goroutine
	// and must not block for long.
	Watch(ctx context.Context, fn func(Event)) error
}

// Change is one entry of a [ChangeLog]: an [Event] of kind
// [EventRevoked], [EventClientChanged] or [EventAccountChanged] (never
// [EventResync]) at its place in the log.
type Change struct {
	// Seq is the change's position in the log: positive, strictly
	// increasing in the order the changes were committed, never reused.
	Seq int64
	Event
	// ExpiresAt is, for a revocation, when the revocation itself ends (the
	// revoked token could no longer be presented); zero for the others.
	ExpiresAt time.Time
	// At is when the backend recorded the change, by the backend's own
	// clock; it serves only [ChangeLog.TrimChanges].
	At time.Time
}

// ChangeLog is an optional capability: the changes a [Watcher] pushes,
// kept in a durable log that is read by position, so that a process that
// shares nothing with the store (a resource server that verifies tokens
// through the JWKS) can follow rotations and revocations by polling the
// issuer, and can tell when it has fallen too far behind.
//
// A backend that implements it appends a [Change] for every Revoke,
// UpdateClient, DeleteClient, UpdateAccount and DeleteAccount that changed
// something, atomically with that change (in the same transaction, lock or
// script) wherever the backend allows it, and documents where it does not.
// The log is in commit order: once a reader has seen the change at Seq n,
// no change with a Seq at or below n can appear later. A reader therefore
// needs only the last Seq it has seen as its cursor.
type ChangeLog interface {
	// Changes returns at most limit changes with Seq above after, in Seq
	// order. trimmed is the highest Seq that TrimChanges has ever removed
	// (0 if none): a reader whose after is below trimmed has missed
	// changes and must drop what it derived from the log before reading on.
	// limit must be positive; the stores in this module read at most
	// [MaxListLimit] changes per call, whatever the limit.
	Changes(ctx context.Context, after int64, limit int) (changes []Change, trimmed int64, err error)
	// TrimChanges removes the changes recorded more than olderThan ago (by
	// the backend's clock, the one that stamps Change.At) and reports how
	// many went. olderThan must be positive.
	TrimChanges(ctx context.Context, olderThan time.Duration) (int64, error)
}

// StartChecker is an optional capability: a check of the backend's own
// configuration that issuer.New runs once before anything else, and that
// stops it on an error (for example a Redis that may evict keys, which
// would forget revocations). Warnings are logged and do not stop it.
type StartChecker interface {
	CheckStart(ctx context.Context) (warnings []string, err error)
}

// Nonces is an optional capability: ids that may be used once, such as
// the jti of a client assertion (RFC 7523 §3) or of a DPoP proof (RFC 9449
// §11.1), remembered by every replica until the id could no longer be
// presented.
type Nonces interface {
	// UseNonce records id as used until expiresAt and returns nil, or
	// returns ErrAlreadyExists if id was recorded before and its record had
	// not expired at now. Of any number of concurrent calls with one id,
	// exactly one returns nil. An expired record counts as absent: the id is
	// recorded afresh. A zero expiresAt or now is an error and records
	// nothing. Ids are compared bytewise; callers namespace them (for
	// example "assertion:" + client id + ":" + jti) and keep them short
	// (at most [MaxNonceLen] bytes: longer ones are an error).
	UseNonce(ctx context.Context, id string, expiresAt, now time.Time) error
}

// MaxNonceLen bounds the ids given to [Nonces.UseNonce].
const MaxNonceLen = 512

// CheckNonce returns the error a [Nonces.UseNonce] implementation returns,
// before it records anything, for arguments that break its contract.
func CheckNonce(id string, expiresAt, now time.Time) error {
	switch {
	case id == "" || len(id) > MaxNonceLen:
		return fmt.Errorf("store: nonce id must be 1 to %d bytes", MaxNonceLen)
	case expiresAt.IsZero() || now.IsZero():
		return errors.New("store: nonce needs a non-zero expiry and now")
	}
	return nil
}

// RateLimiter is an optional capability: a counter shared by replicas, used
// to limit failed client authentications.
type RateLimiter interface {
	// Hit adds one to key's counter in the fixed window that contains now
	// and returns the count so far and when the window ends.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (count int64, resetAt time.Time, err error)
	// Count returns key's count in the window that contains now, without
	// adding to it.
	Count(ctx context.Context, key string, window time.Duration, now time.Time) (count int64, resetAt time.Time, err error)
}

// RateCounter is an optional addition to [RateLimiter]: several counters
// read at once, so that a caller checking more than one (the issuer reads
// a client id's and an address's failures before every client
// authentication) pays one store round trip instead of one per key. A
// consumer that finds a RateLimiter without it reads the keys one Count
// at a time; the answers must be the same.
type RateCounter interface {
	// CountMany returns, for each of keys in order, what Count would
	// return for it in the window of the given length that contains now,
	// without adding to any, and when that window ends. No keys is an
	// empty (possibly nil) slice and a nil error. The stores here answer
	// up to [MaxCountKeys] keys in one round trip (a Redis Cluster in one
	// per node, sent together); more is an error that is none of the
	// sentinels, as for a zero time.
	CountMany(ctx context.Context, keys []string, window time.Duration, now time.Time) (counts []int64, resetAt time.Time, err error)
}

// MaxCountKeys bounds the keys of one [RateCounter.CountMany].
const MaxCountKeys = 16

// CountEach answers a [RateCounter.CountMany] with one [RateLimiter.Count]
// a key, for a rate limiter that is not a RateCounter (a wrapper that
// forwards RateCounter falls back on it).
func CountEach(ctx context.Context, rl RateLimiter, keys []string, window time.Duration, now time.Time) ([]int64, time.Time, error) {
	if len(keys) > MaxCountKeys {
		return nil, time.Time{}, fmt.Errorf("store: rate limit count: %d keys, more than %d", len(keys), MaxCountKeys)
	}
	if window <= 0 {
		return nil, time.Time{}, fmt.Errorf("store: rate limit window %v is not positive", window)
	}
	resetAt := now.Truncate(window).Add(window)
	if len(keys) == 0 {
		return nil, resetAt, nil
	}
	counts := make([]int64, len(keys))
	for i, k := range keys {
		n, at, err := rl.Count(ctx, k, window, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		counts[i], resetAt = n, at
	}
	return counts, resetAt, nil
}
