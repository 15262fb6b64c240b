package otelauth

//go:generate go run gen_capabilities.go

import (
	"context"
	"errors"
	"time"

	"github.com/portcullis/portcullis/store"
)

// Store returns s with every call timed into portcullis.store.duration,
// by operation (the method's name: "GetClient", "IsRevoked", …) and result
// ("ok", "not_found", "already_exists", "conflict", "token_reused" or
// "error"). Pass the result to the issuer and to verifiers in place of s:
//
//	st := tel.Store(sqlstore.Open(db, sqlstore.Postgres))
//	iss, err := issuer.New(issuer.Config{Issuer: url, Store: st})
//
// The wrapper has exactly the optional capabilities of s
// ([store.Sweeper], [store.Pinger], [store.Watcher], [store.RateLimiter],
// [store.Lister], [store.StartChecker], [store.Nonces], [store.ChangeLog],
// [store.RefreshExchanger]), each timed too
// (a RateLimiter always with [store.RateCounter]: one timed CountMany if s
// has it, else a timed Count a key),
// so that the issuer and the verifiers, which discover them by type assertion, behave as they would with s. Any
// other method of s's type (a backend's Migrate, Close) is not reachable
// through it: keep s for those. Errors and records pass through unchanged.
func (t *Telemetry) Store(s store.Store) store.Store {
	return withCapabilities(&timedStore{s: s, t: t})
}

// Operations, in the order of Telemetry.storeOpts.
const (
	opCreateClient = iota
	opGetClient
	opUpdateClient
	opDeleteClient
	opListClientsByOwner
	opCreateAccount
	opGetAccount
	opFindAccount
	opUpdateAccount
	opDeleteAccount
	opCreateRefreshToken
	opGetRefreshToken
	opConsumeRefreshToken
	opRotateRefreshToken
	opRevokeRefreshFamily
	opCreateAccessToken
	opGetAccessToken
	opDeleteAccessToken
	opRevoke
	opIsRevoked
	opCreateKey
	opListKeys
	opUpdateKeyExpiry
	opDeleteKey
	opSweep
	opPing
	opWatch
	opHit
	opCount
	opListClients
	opListAccounts
	opCheckStart
	opUseNonce
	opChanges
	opTrimChanges
	opCountMany
	opExchangeRefreshToken
	numOperations
)

// operations are the operations' names, the methods'.
var operations = [numOperations]string{
	"CreateClient", "GetClient", "UpdateClient", "DeleteClient", "ListClientsByOwner",
	"CreateAccount", "GetAccount", "FindAccount", "UpdateAccount", "DeleteAccount",
	"CreateRefreshToken", "GetRefreshToken", "ConsumeRefreshToken", "RotateRefreshToken", "RevokeRefreshFamily",
	"CreateAccessToken", "GetAccessToken", "DeleteAccessToken",
	"Revoke", "IsRevoked",
	"CreateKey", "ListKeys", "UpdateKeyExpiry", "DeleteKey",
	"Sweep", "Ping", "Watch", "Hit", "Count", "ListClients", "ListAccounts",
	"CheckStart", "UseNonce", "Changes", "TrimChanges", "CountMany", "ExchangeRefreshToken",
}

// storeResults name what a call returned: the store's sentinels are
// answers, not failures, and are counted apart from other errors.
var storeResults = [...]string{"ok", "not_found", "already_exists", "conflict", "token_reused", "error"}

func storeResult(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, store.ErrNotFound):
		return 1
	case errors.Is(err, store.ErrAlreadyExists):
		return 2
	case errors.Is(err, store.ErrConflict):
		return 3
	case errors.Is(err, store.ErrTokenReused):
		return 4
	}
	return 5
}

// timedStore times the methods of store.Store; the capability types below
// time the optional ones, and withCapabilities (generated) puts together
// the ones the wrapped store has.
type timedStore struct {
	s store.Store
	t *Telemetry
}

var _ store.Store = (*timedStore)(nil)

// done records a call to op that began at start.
func (w *timedStore) done(ctx context.Context, op int, start time.Time, err error) {
	w.t.storeDuration.Record(ctx, seconds(start), w.t.storeOpts[op][storeResult(err)].record...)
}

func (w *timedStore) CreateClient(ctx context.Context, c *store.Client) error {
	start := time.Now()
	err := w.s.CreateClient(ctx, c)
	w.done(ctx, opCreateClient, start, err)
	return err
}

func (w *timedStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	start := time.Now()
	c, err := w.s.GetClient(ctx, id)
	w.done(ctx, opGetClient, start, err)
	return c, err
}

func (w *timedStore) UpdateClient(ctx context.Context, c *store.Client, prevGeneration int64) error {
	start := time.Now()
	err := w.s.UpdateClient(ctx, c, prevGeneration)
	w.done(ctx, opUpdateClient, start, err)
	return err
}

func (w *timedStore) DeleteClient(ctx context.Context, id string) error {
	start := time.Now()
	err := w.s.DeleteClient(ctx, id)
	w.done(ctx, opDeleteClient, start, err)
	return err
}

func (w *timedStore) ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*store.Client, error) {
	start := time.Now()
	cs, err := w.s.ListClientsByOwner(ctx, owner, limit)
	w.done(ctx, opListClientsByOwner, start, err)
	return cs, err
}

func (w *timedStore) CreateAccount(ctx context.Context, a *store.Account) error {
	start := time.Now()
	err := w.s.CreateAccount(ctx, a)
	w.done(ctx, opCreateAccount, start, err)
	return err
}

func (w *timedStore) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	start := time.Now()
	a, err := w.s.GetAccount(ctx, id)
	w.done(ctx, opGetAccount, start, err)
	return a, err
}

func (w *timedStore) FindAccount(ctx context.Context, login string) (*store.Account, error) {
	start := time.Now()
	a, err := w.s.FindAccount(ctx, login)
	w.done(ctx, opFindAccount, start, err)
	return a, err
}

func (w *timedStore) UpdateAccount(ctx context.Context, a *store.Account, prevGeneration int64) error {
	start := time.Now()
	err := w.s.UpdateAccount(ctx, a, prevGeneration)
	w.done(ctx, opUpdateAccount, start, err)
	return err
}

func (w *timedStore) DeleteAccount(ctx context.Context, id string) error {
	start := time.Now()
	err := w.s.DeleteAccount(ctx, id)
	w.done(ctx, opDeleteAccount, start, err)
	return err
}

func (w *timedStore) CreateRefreshToken(ctx context.Context, rt *store.RefreshToken) error {
	start := time.Now()
	err := w.s.CreateRefreshToken(ctx, rt)
	w.done(ctx, opCreateRefreshToken, start, err)
	return err
}

func (w *timedStore) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	start := time.Now()
	rt, err := w.s.GetRefreshToken(ctx, hash, now)
	w.done(ctx, opGetRefreshToken, start, err)
	return rt, err
}

func (w *timedStore) ConsumeRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	start := time.Now()
	rt, err := w.s.ConsumeRefreshToken(ctx, hash, now)
	w.done(ctx, opConsumeRefreshToken, start, err)
	return rt, err
}

func (w *timedStore) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	start := time.Now()
	err := w.s.RotateRefreshToken(ctx, oldHash, next, now)
	w.done(ctx, opRotateRefreshToken, start, err)
	return err
}

func (w *timedStore) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	start := time.Now()
	err := w.s.RevokeRefreshFamily(ctx, familyID)
	w.done(ctx, opRevokeRefreshFamily, start, err)
	return err
}

func (w *timedStore) CreateAccessToken(ctx context.Context, at *store.AccessToken) error {
	start := time.Now()
	err := w.s.CreateAccessToken(ctx, at)
	w.done(ctx, opCreateAccessToken, start, err)
	return err
}

func (w *timedStore) GetAccessToken(ctx context.Context, hash string, now time.Time) (*store.AccessToken, error) {
	start := time.Now()
	at, err := w.s.GetAccessToken(ctx, hash, now)
	w.done(ctx, opGetAccessToken, start, err)
	return at, err
}

func (w *timedStore) DeleteAccessToken(ctx context.Context, hash string) error {
	start := time.Now()
	err := w.s.DeleteAccessToken(ctx, hash)
	w.done(ctx, opDeleteAccessToken, start, err)
	return err
}

func (w *timedStore) Revoke(ctx context.Context, tokenID string, expiresAt time.Time) error {
	start := time.Now()
	err := w.s.Revoke(ctx, tokenID, expiresAt)
	w.done(ctx, opRevoke, start, err)
	return err
}

func (w *timedStore) IsRevoked(ctx context.Context, tokenID string, now time.Time) (bool, error) {
	start := time.Now()
	revoked, err := w.s.IsRevoked(ctx, tokenID, now)
	w.done(ctx, opIsRevoked, start, err)
	return revoked, err
}

func (w *timedStore) CreateKey(ctx context.Context, k *store.SigningKey) error {
	start := time.Now()
	err := w.s.CreateKey(ctx, k)
	w.done(ctx, opCreateKey, start, err)
	return err
}

func (w *timedStore) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	start := time.Now()
	ks, err := w.s.ListKeys(ctx)
	w.done(ctx, opListKeys, start, err)
	return ks, err
}

func (w *timedStore) UpdateKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error {
	start := time.Now()
	err := w.s.UpdateKeyExpiry(ctx, id, expiresAt)
	w.done(ctx, opUpdateKeyExpiry, start, err)
	return err
}

func (w *timedStore) DeleteKey(ctx context.Context, id string) error {
	start := time.Now()
	err := w.s.DeleteKey(ctx, id)
	w.done(ctx, opDeleteKey, start, err)
	return err
}

// The optional capabilities, each a small type that withCapabilities
// embeds when the wrapped store has it.

type timedSweeper struct {
	w *timedStore
	c store.Sweeper
}

func (s timedSweeper) Sweep(ctx context.Context, now time.Time) (int64, error) {
	start := time.Now()
	n, err := s.c.Sweep(ctx, now)
	s.w.done(ctx, opSweep, start, err)
	return n, err
}

type timedNonces struct {
	w *timedStore
	c store.Nonces
}

func (s timedNonces) UseNonce(ctx context.Context, id string, expiresAt, now time.Time) error {
	start := time.Now()
	err := s.c.UseNonce(ctx, id, expiresAt, now)
	s.w.done(ctx, opUseNonce, start, err)
	return err
}

type timedRefreshExchanger struct {
	w *timedStore
	c store.RefreshExchanger
}

func (s timedRefreshExchanger) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	start := time.Now()
	t, err := s.c.ExchangeRefreshToken(ctx, x)
	s.w.done(ctx, opExchangeRefreshToken, start, err)
	return t, err
}

type timedChangeLog struct {
	w *timedStore
	c store.ChangeLog
}

func (s timedChangeLog) Changes(ctx context.Context, after int64, limit int) ([]store.Change, int64, error) {
	start := time.Now()
	cs, trimmed, err := s.c.Changes(ctx, after, limit)
	s.w.done(ctx, opChanges, start, err)
	return cs, trimmed, err
}

func (s timedChangeLog) TrimChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	start := time.Now()
	n, err := s.c.TrimChanges(ctx, olderThan)
	s.w.done(ctx, opTrimChanges, start, err)
	return n, err
}

type timedPinger struct {
	w *timedStore
	c store.Pinger
}

func (s timedPinger) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.c.Ping(ctx)
	s.w.done(ctx, opPing, start, err)
	return err
}

type timedWatcher struct {
	w *timedStore
	c store.Watcher
}

// Watch is timed until the subscription is established; the events are
// not store calls.
func (s timedWatcher) Watch(ctx context.Context, fn func(store.Event)) error {
	start := time.Now()
	err := s.c.Watch(ctx, fn)
	s.w.done(ctx, opWatch, start, err)
	return err
}

type timedRateLimiter struct {
	w *timedStore
	c store.RateLimiter
}

func (s timedRateLimiter) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	start := time.Now()
	n, reset, err := s.c.Hit(ctx, key, window, now)
	s.w.done(ctx, opHit, start, err)
	return n, reset, err
}

func (s timedRateLimiter) Count(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	start := time.Now()
	n, reset, err := s.c.Count(ctx, key, window, now)
	s.w.done(ctx, opCount, start, err)
	return n, reset, err
}

// CountMany implements [store.RateCounter] for every rate limiter, so that
// the capability needs no combinations of its own in withCapabilities: it
// is timed as one CountMany where the wrapped store has it, and is one
// Count a key (each timed as such) where it does not, as the issuer would
// do itself.
func (s timedRateLimiter) CountMany(ctx context.Context, keys []string, window time.Duration, now time.Time) ([]int64, time.Time, error) {
	if rc, ok := s.c.(store.RateCounter); ok {
		start := time.Now()
		counts, reset, err := rc.CountMany(ctx, keys, window, now)
		s.w.done(ctx, opCountMany, start, err)
		return counts, reset, err
	}
	return store.CountEach(ctx, s, keys, window, now)
}

type timedLister struct {
	w *timedStore
	c store.Lister
}

func (s timedLister) ListClients(ctx context.Context, after string, limit int) ([]*store.Client, error) {
	start := time.Now()
	cs, err := s.c.ListClients(ctx, after, limit)
	s.w.done(ctx, opListClients, start, err)
	return cs, err
}

func (s timedLister) ListAccounts(ctx context.Context, after string, limit int) ([]*store.Account, error) {
	start := time.Now()
	as, err := s.c.ListAccounts(ctx, after, limit)
	s.w.done(ctx, opListAccounts, start, err)
	return as, err
}

type timedStartChecker struct {
	w *timedStore
	c store.StartChecker
}

func (s timedStartChecker) CheckStart(ctx context.Context) ([]string, error) {
	start := time.Now()
	warnings, err := s.c.CheckStart(ctx)
	s.w.done(ctx, opCheckStart, start, err)
	return warnings, err
}
