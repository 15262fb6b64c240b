// Package memory is the default [store.Store]: every record in the process's
// memory, nothing persisted.
//
// It suits a single replica, tests and development. Records die with the
// process: a restart forgets every client, account, token, revocation and
// signing key. Use store/sqlstore or store/redisstore for anything that must
// survive a restart or be shared by replicas.
//
// # Semantics
//
// [Store] implements the whole contract of package store and passes
// store/storetest, plus the optional [store.Sweeper], [store.Pinger],
// [store.Watcher], [store.RateLimiter] with [store.RateCounter],
// [store.Lister] and [store.RefreshExchanger]. Where the contract leaves a
// choice open:
//
//   - A revoked refresh family is kept while it has a token; [Store.Sweep]
//     drops it with the last one (see [store.RefreshTokens]).
//   - [Store.FindAccount] tries usernames before emails.
//   - Times keep their nanoseconds, so [Store.ListClientsByOwner] orders
//     clients created within one microsecond by time, not by ID.
//   - Rate-limit windows are fixed and aligned to the zero time: the window
//     of length w containing now runs from now.Truncate(w) to
//     now.Truncate(w).Add(w).
//   - The context is not consulted except by [Store.Watch] and [Store.Ping]:
//     no operation blocks on anything but the store's own lock.
//
// # Memory
//
// Expired tokens, revocations and keys stay until [Store.Sweep] removes
// them; call it periodically (from a time.Ticker, say). Rate-limit windows
// that have ended are also dropped as new ones arrive, so that a flood of
// distinct keys cannot grow the map without bound between sweeps.
//
// # Watching
//
// [Store.Watch] fans events out to the watchers of the same *Store, in the
// order the changes happened, each watcher on its own goroutine, so a slow
// watcher delays only itself. There are no other replicas to tell.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/store"
)

// Compile-time proof of the roles and capabilities.
var (
	_ store.Store       = (*Store)(nil)
	_ store.Sweeper     = (*Store)(nil)
	_ store.Pinger      = (*Store)(nil)
	_ store.Watcher     = (*Store)(nil)
	_ store.ChangeLog   = (*Store)(nil)
	_ store.RateLimiter = (*Store)(nil)
	_ store.RateCounter = (*Store)(nil)

	_ store.RefreshExchanger = (*Store)(nil)
)

var (
	errNilRecord = errors.New("memory: nil record")
	// The zero times the contract refuses (see store's "Zero times").
	errZeroExpiry = errors.New("memory: zero expiry")
	errZeroNow    = errors.New("memory: zero now")
	errWindow     = errors.New("memory: rate-limit window must be positive")
	errNilFunc    = errors.New("memory: nil watch func")
	errNoOwner    = errors.New("memory: list clients of an empty owner")
	errBadLimit   = errors.New("memory: change log limit must be positive")
	errBadAge     = errors.New("memory: change log trim age must be positive")
	errListLimit  = fmt.Errorf("memory: list limit must be from 1 to %d", store.MaxListLimit)
)

// Store keeps everything in maps behind one RWMutex: reads (GetClient,
// IsRevoked, GetAccessToken: the hot paths) share it, writes take it alone.
// Stored records are private copies; every method copies in and out.
//
// The zero Store is not usable; call [New].
type Store struct {
	mu        sync.RWMutex
	clients   map[string]*store.Client
	owners    map[string]map[string]struct{} // owner account → its client ids
	accounts  map[string]*store.Account
	usernames map[string]string // username → account id
	emails    map[string]string // email → account id
	refresh   map[string]*refreshEntry
	families  map[string]*family
	access    map[string]*store.AccessToken
	revoked   map[string]time.Time // token id → until
	nonces    map[string]time.Time // nonce → until
	keys      map[string]*store.SigningKey
	seqs      map[int64]string // seq → key id
	windows   map[windowKey]int64
	// windowsCheck is the size at which Hit next drops ended windows.
	windowsCheck int

	wmu      sync.Mutex // guards watchers; taken inside mu, never around it
	watchers map[*watcher]struct{}

	// changes is the change log (store.ChangeLog), oldest first; lastSeq
	// is the Seq of the latest change ever appended, trimmed the highest
	// Seq trimmed away.
	changes          []store.Change
	lastSeq, trimmed int64

	// lastClient is the last client GetClient found, which a miss copies.
	lastClient atomic.Pointer[store.Client]
}

// New returns an empty store.
func New() *Store {
	return &Store{
		clients:      make(map[string]*store.Client),
		owners:       make(map[string]map[string]struct{}),
		accounts:     make(map[string]*store.Account),
		usernames:    make(map[string]string),
		emails:       make(map[string]string),
		refresh:      make(map[string]*refreshEntry),
		families:     make(map[string]*family),
		access:       make(map[string]*store.AccessToken),
		revoked:      make(map[string]time.Time),
		nonces:       make(map[string]time.Time),
		keys:         make(map[string]*store.SigningKey),
		seqs:         make(map[int64]string),
		windows:      make(map[windowKey]int64),
		windowsCheck: minWindowsCheck,
		watchers:     make(map[*watcher]struct{}),
	}
}

// expired reports whether something expiring at exp is dead at now. Tokens
// and revocations never have a zero exp (their writes refuse one); a key's
// zero ExpiresAt means not scheduled, so never expired.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}

// Clients

// CreateClient implements [store.Clients].
func (s *Store) CreateClient(_ context.Context, c *store.Client) error {
	if c == nil {
		return errNilRecord
	}
	c = cloneClient(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return store.ErrAlreadyExists
	}
	s.clients[c.ID] = c
	s.own(c)
	return nil
}

// own adds c to its owner's index; unowned clients are in none.
func (s *Store) own(c *store.Client) {
	if c.OwnerAccount == "" {
		return
	}
	ids, ok := s.owners[c.OwnerAccount]
	if !ok {
		ids = make(map[string]struct{})
		s.owners[c.OwnerAccount] = ids
	}
	ids[c.ID] = struct{}{}
}

// disown removes c from its owner's index, and the owner's entry with its
// last client, so that the index never outgrows the clients.
func (s *Store) disown(c *store.Client) {
	ids, ok := s.owners[c.OwnerAccount]
	if !ok {
		return
	}
	delete(ids, c.ID)
	if len(ids) == 0 {
		delete(s.owners, c.OwnerAccount)
	}
}

// GetClient implements [store.Clients].
//
// An unknown id costs what a known one does, so that the time the issuer
// takes to refuse it does not tell which ids exist: a miss copies the last
// client found, as a hit copies its own.
func (s *Store) GetClient(_ context.Context, id string) (*store.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		if like := s.lastClient.Load(); like != nil {
			cloneClient(like)
		}
		return nil, store.ErrNotFound
	}
	s.lastClient.Store(c) // records are replaced, never changed in place
	return cloneClient(c), nil
}

// UpdateClient implements [store.Clients] and publishes
// [store.EventClientChanged] with the new generation.
func (s *Store) UpdateClient(_ context.Context, c *store.Client, prevGeneration int64) error {
	if c == nil {
		return errNilRecord
	}
	c = cloneClient(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.clients[c.ID]
	if !ok {
		return store.ErrNotFound
	}
	if cur.Generation != prevGeneration {
		return store.ErrConflict
	}
	s.disown(cur)
	s.clients[c.ID] = c
	s.own(c)
	s.changed(store.Event{Kind: store.EventClientChanged, ID: c.ID, Generation: c.Generation}, time.Time{})
	return nil
}

// DeleteClient implements [store.Clients] and publishes
// [store.EventClientChanged] with generation -1.
func (s *Store) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.clients[id]
	if !ok {
		return store.ErrNotFound
	}
	s.disown(cur)
	delete(s.clients, id)
	s.changed(store.Event{Kind: store.EventClientChanged, ID: id, Generation: -1}, time.Time{})
	return nil
}

// ListClientsByOwner implements [store.Clients]. It costs time in
// proportion to the owner's clients (it sorts them), not to the store's.
func (s *Store) ListClientsByOwner(_ context.Context, owner string, limit int) ([]*store.Client, error) {
	if owner == "" {
		return nil, errNoOwner
	}
	if limit < 1 || limit > store.MaxListLimit {
		return nil, errListLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := s.owners[owner]
	if len(ids) == 0 {
		return nil, nil
	}
	cs := make([]*store.Client, 0, len(ids))
	for id := range ids {
		cs = append(cs, s.clients[id])
	}
	slices.SortFunc(cs, func(a, b *store.Client) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	cs = cs[:min(limit, len(cs))]
	for i, c := range cs {
		cs[i] = cloneClient(c)
	}
	return cs, nil
}

// ListClients implements [store.Lister]: it sorts the ids of every client
// on each call, which is fine for the memory store's sizes.
func (s *Store) ListClients(_ context.Context, after string, limit int) ([]*store.Client, error) {
	if limit < 1 || limit > store.MaxListLimit {
		return nil, errListLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return page(s.clients, after, limit, cloneClient), nil
}

// ListAccounts implements [store.Lister], like ListClients.
func (s *Store) ListAccounts(_ context.Context, after string, limit int) ([]*store.Account, error) {
	if limit < 1 || limit > store.MaxListLimit {
		return nil, errListLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return page(s.accounts, after, limit, cloneAccount), nil
}

// page returns copies of the records of m whose key is greater than
// after, in key order, at most limit of them. Called with s.mu held.
func page[T any](m map[string]*T, after string, limit int, clone func(*T) *T) []*T {
	var ids []string
	for id := range m {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = ids[:min(limit, len(ids))]
	out := make([]*T, len(ids))
	for i, id := range ids {
		out[i] = clone(m[id])
	}
	return out
}

// Accounts

// CreateAccount implements [store.Accounts].
func (s *Store) CreateAccount(_ context.Context, a *store.Account) error {
	if a == nil {
		return errNilRecord
	}
	a = cloneAccount(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[a.ID]; ok {
		return store.ErrAlreadyExists
	}
	if s.loginTaken(a) {
		return store.ErrAlreadyExists
	}
	s.accounts[a.ID] = a
	s.index(a)
	return nil
}

// loginTaken reports whether a's username or email belongs to another
// account. Empty ones are never unique, so never taken.
func (s *Store) loginTaken(a *store.Account) bool {
	if id, ok := s.usernames[a.Username]; ok && a.Username != "" && id != a.ID {
		return true
	}
	if id, ok := s.emails[a.Email]; ok && a.Email != "" && id != a.ID {
		return true
	}
	return false
}

func (s *Store) index(a *store.Account) {
	if a.Username != "" {
		s.usernames[a.Username] = a.ID
	}
	if a.Email != "" {
		s.emails[a.Email] = a.ID
	}
}

func (s *Store) unindex(a *store.Account) {
	if a.Username != "" {
		delete(s.usernames, a.Username)
	}
	if a.Email != "" {
		delete(s.emails, a.Email)
	}
}

// GetAccount implements [store.Accounts].
func (s *Store) GetAccount(_ context.Context, id string) (*store.Account, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneAccount(a), nil
}

// FindAccount implements [store.Accounts]; usernames are tried first.
func (s *Store) FindAccount(_ context.Context, login string) (*store.Account, error) {
	if login == "" {
		return nil, store.ErrNotFound
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.usernames[login]
	if !ok {
		id, ok = s.emails[login]
	}
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneAccount(s.accounts[id]), nil
}

// UpdateAccount implements [store.Accounts] and publishes
// [store.EventAccountChanged] with the new generation.
func (s *Store) UpdateAccount(_ context.Context, a *store.Account, prevGeneration int64) error {
	if a == nil {
		return errNilRecord
	}
	a = cloneAccount(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.accounts[a.ID]
	if !ok {
		return store.ErrNotFound
	}
	if cur.Generation != prevGeneration {
		return store.ErrConflict
	}
	if s.loginTaken(a) {
		return store.ErrAlreadyExists
	}
	s.unindex(cur)
	s.accounts[a.ID] = a
	s.index(a)
	s.changed(store.Event{Kind: store.EventAccountChanged, ID: a.ID, Generation: a.Generation}, time.Time{})
	return nil
}

// DeleteAccount implements [store.Accounts] and publishes
// [store.EventAccountChanged] with generation -1.
func (s *Store) DeleteAccount(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.accounts[id]
	if !ok {
		return store.ErrNotFound
	}
	s.unindex(cur)
	delete(s.accounts, id)
	s.changed(store.Event{Kind: store.EventAccountChanged, ID: id, Generation: -1}, time.Time{})
	return nil
}

// Refresh tokens

type refreshEntry struct {
	tok store.RefreshToken
	fam *family
}

// family is shared by the entries of one family id. It outlives its tokens
// while they exist, so that a revocation also covers tokens created later;
// Sweep drops it once no token of the family is left.
type family struct {
	tokens  int
	revoked bool
}

func (s *Store) family(id string) *family {
	f, ok := s.families[id]
	if !ok {
		f = new(family)
		s.families[id] = f
	}
	return f
}

// CreateRefreshToken implements [store.RefreshTokens].
func (s *Store) CreateRefreshToken(_ context.Context, t *store.RefreshToken) error {
	if t == nil {
		return errNilRecord
	}
	if t.ExpiresAt.IsZero() {
		return errZeroExpiry
	}
	e := &refreshEntry{tok: *t}
	e.tok.Grant = cloneGrant(t.Grant)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[t.Hash]; ok {
		return store.ErrAlreadyExists
	}
	e.fam = s.family(t.FamilyID)
	e.fam.tokens++
	s.refresh[t.Hash] = e
	return nil
}

// live returns the entry for hash if it is usable at now.
func (s *Store) live(hash string, now time.Time) (*refreshEntry, bool) {
	e, ok := s.refresh[hash]
	if !ok || e.fam.revoked || expired(e.tok.ExpiresAt, now) {
		return nil, false
	}
	return e, true
}

// GetRefreshToken implements [store.RefreshTokens].
func (s *Store) GetRefreshToken(_ context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.live(hash, now)
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneRefresh(&e.tok), nil
}

// ConsumeRefreshToken implements [store.RefreshTokens]: the write lock
// makes check-and-mark one step.
func (s *Store) ConsumeRefreshToken(_ context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	if now.IsZero() {
		return nil, errZeroNow // a zero UsedAt would read as unused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(hash, now)
	if !ok {
		return nil, store.ErrNotFound
	}
	if !e.tok.UsedAt.IsZero() {
		return cloneRefresh(&e.tok), store.ErrTokenReused
	}
	e.tok.UsedAt = now
	return cloneRefresh(&e.tok), nil
}

// RotateRefreshToken implements [store.RefreshTokens]: one write lock
// makes consume-and-create one step.
func (s *Store) RotateRefreshToken(_ context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	if next == nil {
		return errNilRecord
	}
	if now.IsZero() {
		return errZeroNow
	}
	if next.ExpiresAt.IsZero() {
		return errZeroExpiry
	}
	e := &refreshEntry{tok: *next}
	e.tok.Grant = cloneGrant(next.Grant)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.live(oldHash, now)
	if !ok || old.tok.FamilyID != next.FamilyID {
		return store.ErrNotFound
	}
	if !old.tok.UsedAt.IsZero() {
		if old.tok.ReplacedBy != "" && old.tok.ReplacedBy == next.Hash {
			return nil // this very rotation, again
		}
		return store.ErrTokenReused
	}
	if _, taken := s.refresh[next.Hash]; taken {
		return store.ErrAlreadyExists
	}
	old.tok.UsedAt, old.tok.ReplacedBy = now, next.Hash
	e.fam = old.fam
	e.fam.tokens++
	s.refresh[next.Hash] = e
	return nil
}

// ExchangeRefreshToken implements [store.RefreshExchanger]: one write lock
// makes read, checks and rotation one step, and x's own Matches and
// Successor decide, so that this store cannot drift from the contract.
func (s *Store) ExchangeRefreshToken(_ context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	if x == nil {
		return nil, errNilRecord
	}
	if x.Now.IsZero() {
		return nil, errZeroNow
	}
	if x.ExpiresAt.IsZero() {
		return nil, errZeroExpiry
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.live(x.Hash, x.Now)
	if !ok || !old.tok.UsedAt.IsZero() || !x.Matches(&old.tok) {
		return nil, store.ErrNotFound
	}
	if _, taken := s.refresh[x.Next]; taken {
		return nil, store.ErrAlreadyExists
	}
	// Successor copies the slices it takes, but the store's records being
	// private is this store's promise, not Successor's: copy them again.
	next := &refreshEntry{tok: *x.Successor(&old.tok), fam: old.fam}
	next.tok.Grant = cloneGrant(next.tok.Grant)
	old.tok.UsedAt, old.tok.ReplacedBy = x.Now, x.Next
	next.fam.tokens++
	s.refresh[x.Next] = next
	return cloneRefresh(&old.tok), nil
}

// RevokeRefreshFamily implements [store.RefreshTokens].
func (s *Store) RevokeRefreshFamily(_ context.Context, familyID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.family(familyID).revoked = true
	return nil
}

// Access tokens

// CreateAccessToken implements [store.AccessTokens].
func (s *Store) CreateAccessToken(_ context.Context, t *store.AccessToken) error {
	if t == nil {
		return errNilRecord
	}
	if t.ExpiresAt.IsZero() {
		return errZeroExpiry
	}
	t = cloneAccess(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.access[t.Hash]; ok {
		return store.ErrAlreadyExists
	}
	s.access[t.Hash] = t
	return nil
}

// GetAccessToken implements [store.AccessTokens].
func (s *Store) GetAccessToken(_ context.Context, hash string, now time.Time) (*store.AccessToken, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.access[hash]
	if !ok || expired(t.ExpiresAt, now) {
		return nil, store.ErrNotFound
	}
	return cloneAccess(t), nil
}

// DeleteAccessToken implements [store.AccessTokens].
func (s *Store) DeleteAccessToken(_ context.Context, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.access, hash)
	return nil
}

// Revocations

// Revoke implements [store.Revocations] and, when it changed something,
// publishes [store.EventRevoked]. A zero expiresAt is an error.
func (s *Store) Revoke(_ context.Context, tokenID string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return errZeroExpiry
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.revoked[tokenID]; ok && !expiresAt.After(cur) {
		return nil // already revoked at least as long
	}
	s.revoked[tokenID] = expiresAt
	s.changed(store.Event{Kind: store.EventRevoked, ID: tokenID}, expiresAt)
	return nil
}

// IsRevoked implements [store.Revocations]. It allocates nothing.
func (s *Store) IsRevoked(_ context.Context, tokenID string, now time.Time) (bool, error) {
	s.mu.RLock()
	until, ok := s.revoked[tokenID]
	s.mu.RUnlock()
	return ok && !expired(until, now), nil
}

// Keys

// CreateKey implements [store.Keys].
func (s *Store) CreateKey(_ context.Context, k *store.SigningKey) error {
	if k == nil {
		return errNilRecord
	}
	k = cloneKey(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return store.ErrAlreadyExists
	}
	if _, ok := s.seqs[k.Seq]; ok {
		return store.ErrAlreadyExists
	}
	s.keys[k.ID] = k
	s.seqs[k.Seq] = k.ID
	return nil
}

// ListKeys implements [store.Keys].
func (s *Store) ListKeys(_ context.Context) ([]*store.SigningKey, error) {
	s.mu.RLock()
	ks := make([]*store.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		ks = append(ks, cloneKey(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(ks, func(a, b *store.SigningKey) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return ks, nil
}

// UpdateKeyExpiry implements [store.Keys].
func (s *Store) UpdateKeyExpiry(_ context.Context, id string, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return store.ErrNotFound
	}
	k.ExpiresAt = expiresAt
	return nil
}

// DeleteKey implements [store.Keys].
func (s *Store) DeleteKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return store.ErrNotFound
	}
	delete(s.keys, id)
	delete(s.seqs, k.Seq)
	return nil
}

// Optional capabilities

// Sweep implements [store.Sweeper]: it deletes refresh and access tokens,
// revocations, nonces and keys whose (non-zero) expiry is at or before now, and
// rate-limit windows that have ended, and counts them all. Families, revoked
// or not, go with their last token (they are not counted). Used refresh
// tokens that have not expired stay, so that their reuse is still caught.
func (s *Store) Sweep(_ context.Context, now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for h, e := range s.refresh {
		if expired(e.tok.ExpiresAt, now) {
			delete(s.refresh, h)
			e.fam.tokens--
			n++
		}
	}
	// A family with no tokens left has nothing to protect: the issuer
	// hands out a token of a family only after consuming a live one of it,
	// and none is left (store.RefreshTokens documents the limit).
	for id, f := range s.families {
		if f.tokens == 0 {
			delete(s.families, id)
		}
	}
	for h, t := range s.access {
		if expired(t.ExpiresAt, now) {
			delete(s.access, h)
			n++
		}
	}
	for id, until := range s.revoked {
		if expired(until, now) {
			delete(s.revoked, id)
			n++
		}
	}
	for id, until := range s.nonces {
		if expired(until, now) {
			delete(s.nonces, id)
			n++
		}
	}
	for id, k := range s.keys {
		if expired(k.ExpiresAt, now) {
			delete(s.keys, id)
			delete(s.seqs, k.Seq)
			n++
		}
	}
	n += s.dropWindows(now)
	return n, nil
}

// UseNonce implements [store.Nonces].
func (s *Store) UseNonce(_ context.Context, id string, expiresAt, now time.Time) error {
	if err := store.CheckNonce(id, expiresAt, now); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.nonces[id]; ok && !expired(until, now) {
		return store.ErrAlreadyExists
	}
	s.nonces[id] = expiresAt
	return nil
}

// Ping implements [store.Pinger]: memory is always there, so it only
// reports a done context.
func (s *Store) Ping(ctx context.Context) error {
	return ctx.Err()
}

// InMemory says that no call waits for I/O, so that the issuer and the
// verifier give its calls no deadline (see issuer.Config.StoreTimeout): a
// deadline costs a timer per call.
func (s *Store) InMemory() {}

// windowKey names one fixed window of one key. The start is kept as Unix
// seconds and nanoseconds: a time.Time key would split one instant by
// location.
type windowKey struct {
	key    string
	window time.Duration
	sec    int64
	nsec   int32
}

// minWindowsCheck is the smallest map size at which Hit looks for ended
// windows.
const minWindowsCheck = 1024

func window(key string, w time.Duration, now time.Time) (windowKey, time.Time) {
	start := now.Truncate(w)
	return windowKey{key, w, start.Unix(), int32(start.Nanosecond())}, start.Add(w)
}

// Hit implements [store.RateLimiter].
func (s *Store) Hit(_ context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	if w <= 0 {
		return 0, time.Time{}, errWindow
	}
	k, resetAt := window(key, w, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows[k]++
	n := s.windows[k]
	if len(s.windows) >= s.windowsCheck {
		// Amortised: each clean-up at least halves the map or doubles
		// the threshold.
		s.dropWindows(now)
		s.windowsCheck = max(2*len(s.windows), minWindowsCheck)
	}
	return n, resetAt, nil
}

// Count implements [store.RateLimiter].
func (s *Store) Count(_ context.Context, key string, w time.Duration, now time.Time) (int64, time.Time, error) {
	if w <= 0 {
		return 0, time.Time{}, errWindow
	}
	k, resetAt := window(key, w, now)
	s.mu.RLock()
	n := s.windows[k]
	s.mu.RUnlock()
	return n, resetAt, nil
}

// CountMany implements [store.RateCounter]: Count for each key, under one
// read lock.
func (s *Store) CountMany(_ context.Context, keys []string, w time.Duration, now time.Time) ([]int64, time.Time, error) {
	if w <= 0 {
		return nil, time.Time{}, errWindow
	}
	if len(keys) > store.MaxCountKeys {
		return nil, time.Time{}, fmt.Errorf("memory: rate limit count: %d keys, more than %d", len(keys), store.MaxCountKeys)
	}
	// One window for every key: Truncate and Add once, not per key.
	k, resetAt := window("", w, now)
	if len(keys) == 0 {
		return nil, resetAt, nil
	}
	counts := make([]int64, len(keys))
	s.mu.RLock()
	for i, key := range keys {
		k.key = key
		counts[i] = s.windows[k]
	}
	s.mu.RUnlock()
	return counts, resetAt, nil
}

// dropWindows deletes the windows that ended at or before now.
func (s *Store) dropWindows(now time.Time) int64 {
	var n int64
	for k := range s.windows {
		if !now.Before(time.Unix(k.sec, int64(k.nsec)).Add(k.window)) {
			delete(s.windows, k)
			n++
		}
	}
	return n
}

// Watching

type watcher struct {
	fn    func(store.Event)
	wake  chan struct{} // capacity 1: "the queue may be non-empty"
	mu    sync.Mutex
	queue []store.Event
}

// Watch implements [store.Watcher]. The subscription exists when it
// returns; fn then runs on a goroutine of its own for every later change to
// this *Store, in order, until ctx is done.
func (s *Store) Watch(ctx context.Context, fn func(store.Event)) error {
	if fn == nil {
		return errNilFunc
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &watcher{fn: fn, wake: make(chan struct{}, 1)}
	s.wmu.Lock()
	s.watchers[w] = struct{}{}
	s.wmu.Unlock()
	go s.deliver(ctx, w)
	return nil
}

// deliver hands w's queued events to its fn until ctx is done.
func (s *Store) deliver(ctx context.Context, w *watcher) {
	defer func() {
		s.wmu.Lock()
		delete(s.watchers, w)
		s.wmu.Unlock()
	}()
	var batch []store.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		batch, w.queue = w.queue, batch[:0]
		w.mu.Unlock()
		for _, e := range batch {
			if ctx.Err() != nil {
				return
			}
			w.fn(e)
		}
		clear(batch) // drop the ids the next swap would keep alive
	}
}

// changed records e in the change log and publishes it to the watchers.
// Callers hold s.mu for writing, which orders the log by commit.
func (s *Store) changed(e store.Event, expiresAt time.Time) {
	s.lastSeq++
	s.changes = append(s.changes, store.Change{Seq: s.lastSeq, Event: e, ExpiresAt: expiresAt, At: time.Now()})
	s.publish(e)
}

// Changes implements [store.ChangeLog].
func (s *Store) Changes(_ context.Context, after int64, limit int) ([]store.Change, int64, error) {
	if limit <= 0 {
		return nil, 0, errBadLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Seqs are consecutive from the first change kept.
	start := 0
	if len(s.changes) > 0 {
		start = int(max(0, min(after-s.changes[0].Seq+1, int64(len(s.changes)))))
	}
	page := s.changes[start:min(len(s.changes), start+limit)]
	return slices.Clone(page), s.trimmed, nil
}

// TrimChanges implements [store.ChangeLog].
func (s *Store) TrimChanges(_ context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, errBadAge
	}
	cutoff := time.Now().Add(-olderThan)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.changes) && s.changes[n].At.Before(cutoff) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	s.trimmed = s.changes[n-1].Seq
	s.changes = slices.Delete(s.changes, 0, n)
	return int64(n), nil
}

// publish queues e for every watcher. Callers hold s.mu for writing, so
// every watcher sees changes in the order they were made; queuing never
// blocks, so a slow watcher cannot stall the store.
func (s *Store) publish(e store.Event) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for w := range s.watchers {
		w.mu.Lock()
		w.queue = append(w.queue, e)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// watching reports how many watchers are subscribed (for tests).
func (s *Store) watching() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return len(s.watchers)
}

// Copies

func cloneClient(c *store.Client) *store.Client {
	n := *c
	n.SecretHash = bytes.Clone(c.SecretHash)
	n.Scopes, n.Audiences = clone2(c.Scopes, c.Audiences)
	n.Metadata = maps.Clone(c.Metadata)
	return &n
}

func cloneAccount(a *store.Account) *store.Account {
	n := *a
	n.Roles = slices.Clone(a.Roles)
	return &n
}

func cloneGrant(g store.Grant) store.Grant {
	g.Scopes, g.Audience = clone2(g.Scopes, g.Audience)
	return g
}

func cloneRefresh(t *store.RefreshToken) *store.RefreshToken {
	n := *t
	n.Grant = cloneGrant(t.Grant)
	return &n
}

func cloneAccess(t *store.AccessToken) *store.AccessToken {
	n := *t
	n.Grant = cloneGrant(t.Grant)
	return &n
}

func cloneKey(k *store.SigningKey) *store.SigningKey {
	n := *k
	n.Private = bytes.Clone(k.Private)
	return &n
}

// clone2 copies two string slices into one allocation (the hot GetClient
// path copies Scopes and Audiences together). Each result is capped, so an
// append to the first cannot write over the second; nil stays nil.
func clone2(a, b []string) ([]string, []string) {
	if len(a)+len(b) == 0 {
		return emptyOf(a), emptyOf(b)
	}
	buf := make([]string, len(a)+len(b))
	n := copy(buf, a)
	copy(buf[n:], b)
	ca, cb := buf[:n:n], buf[n:]
	if a == nil {
		ca = nil
	}
	if b == nil {
		cb = nil
	}
	return ca, cb
}

// emptyOf returns an empty slice that is nil exactly when s is.
func emptyOf(s []string) []string {
	if s == nil {
		return nil
	}
	return []string{}
}
