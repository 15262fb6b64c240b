package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/store"
)

// Accounts. Each account is a hash in its own slot ({account:<id>}). Each
// username and email is reserved by a string key in a slot of its own
// ({username:<u>}, {email:<e>}) whose value names the account and the write
// that claimed it (see reservation in state.go). A reservation is only ever
// set where there was none (SET NX) or swapped for one proved dead, and the
// account record keeps the exact value it holds in 'ru' and 're'; so a name
// is never held by two accounts, and FindAccount follows the reservation and
// believes it only if the account still holds that very value.

// stTaken: a username or email belongs to another account.
const stTaken = -2

// accountFields are what a reservation is judged by, in the order of the
// indexes in name.
var accountFields = []string{"j", "u", "e", "ru", "re", "w"}

// name is one username or email to reserve, with where an account record
// keeps it.
type name struct {
	key   string // the reservation key
	value string // the username or email
	field int    // its index in accountFields
	res   int    // the index of its reservation in accountFields
}

func (s *Store) username(u string) name {
	return name{key: s.usernameKey(u), value: u, field: 1, res: 3}
}
func (s *Store) email(e string) name { return name{key: s.emailKey(e), value: e, field: 2, res: 4} }

// What a reservation is, judged from its account record.
type verdict int

const (
	held    verdict = iota // the account holds the name through it
	pending                // its write may still commit
	stuck                  // a rename's, pending for longer than any live one: fence it
	dead                   // its write can never commit: anyone may delete it
)

// judge tells what the reservation v of n is, from rec, the accountFields of
// the account it names (nil values when there is none). A value that does
// not parse is treated as held: nothing of ours wrote it, so nothing of ours
// deletes it.
func (s *Store) judge(n name, v string, rec []any) verdict {
	r, ok := parseReservation(v)
	if !ok || len(rec) != len(accountFields) {
		return held
	}
	_, live := rec[0].(string)
	if live && rec[n.field] == n.value && rec[n.res] == v {
		return held
	}
	if w, _ := rec[5].(string); w != r.required {
		return dead
	}
	// A stub (no JSON) expires by itself; a rename has no TTL, so one whose
	// process died would hold its new name until the account's next write.
	// The clock only decides when to fence it, never whether that is safe.
	if live && time.Since(time.UnixMilli(r.at)) > pendingTTL+s.skew {
		return stuck
	}
	return pending
}

// claim reserves every name for the reservation r. It reports false when a
// name is taken, and then (as on an error) releases what it reserved.
func (s *Store) claim(ctx context.Context, names []name, r string) (bool, error) {
	if len(names) == 0 {
		return true, nil
	}
	pipe := s.rdb.Pipeline()
	sets := make([]*redis.BoolCmd, len(names))
	for i, n := range names {
		sets[i] = pipe.SetNX(ctx, n.key, r, 0)
	}
	err := exec(ctx, pipe)
	for i, n := range names {
		if err != nil {
			break
		}
		if sets[i].Val() {
			continue
		}
		var ok bool
		if ok, err = s.reclaim(ctx, n, r); err == nil && !ok {
			s.release(ctx, names, r)
			return false, nil
		}
	}
	if err != nil {
		s.release(ctx, names, r)
		return false, err
	}
	return true, nil
}

// reclaim tries again to reserve n for r, which SET NX refused: it succeeds
// if the reservation in place is r itself (set by an earlier send), or dead
// (then swapped for r), or vanished meanwhile.
func (s *Store) reclaim(ctx context.Context, n name, r string) (bool, error) {
	for range maxStaleRetries {
		v, err := s.rdb.Get(ctx, n.key).Result()
		if errors.Is(err, redis.Nil) {
			ok, err := s.rdb.SetNX(ctx, n.key, r, 0).Result()
			if err != nil || ok {
				return ok, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		if v == r {
			return true, nil
		}
		res, _ := parseReservation(v)
		rec, err := s.rdb.HMGet(ctx, s.accountKey(res.id), accountFields...).Result()
		if err != nil {
			return false, err
		}
		switch s.judge(n, v, rec) {
		case held, pending:
			return false, nil
		case stuck:
			// Make the rename's commit fail (it then releases and retries),
			// and its reservation dead.
			if err := fenceScript.Run(ctx, s.rdb, []string{s.accountKey(res.id)}, res.required, newState()).Err(); err != nil {
				return false, err
			}
		}
		ok, err := s.runInt(ctx, swapIfEqualScript, []string{n.key}, v, r)
		if err != nil || ok == 1 {
			return ok == 1, err
		}
	}
	return false, errors.New("reservation keeps changing")
}

// release deletes the reservations of names that still hold r, best effort:
// r is only released when its write will never commit, so a reservation
// left behind is dead and goes at its next claim or lookup.
func (s *Store) release(ctx context.Context, names []name, r string) {
	kv := make([][2]string, len(names))
	for i, n := range names {
		kv[i] = [2]string{n.key, r}
	}
	s.deleteIfEqual(ctx, kv...)
}

// deleteIfEqual deletes each key that still holds its value, in one
// pipeline, best effort (see cleanup).
func (s *Store) deleteIfEqual(ctx context.Context, kv ...[2]string) {
	if len(kv) == 0 {
		return
	}
	cleanup(ctx, func(ctx context.Context) error {
		pipe := s.rdb.Pipeline()
		for _, p := range kv {
			deleteIfEqualScript.Eval(ctx, pipe, []string{p[0]}, p[1])
		}
		return exec(ctx, pipe)
	})
}

// CreateAccount stores a; ErrAlreadyExists if its id, username or email is
// taken. Usernames and emails are separate namespaces, as in the SQL store.
//
// Three round trips: a stub claims the id (one minute at most), the username
// and email are reserved together, then the record replaces the stub. A
// name already reserved costs two more round trips (reading the reservation
// and its account), and a third to swap it if it is dead.
func (s *Store) CreateAccount(ctx context.Context, a *store.Account) error {
	const op = "create account"
	j, err := encodeAccount(a)
	if err != nil {
		return fail(op, err)
	}
	key, state := s.accountKey(a.ID), newState()
	if a.Username == "" && a.Email == "" {
		n, err := s.runInt(ctx, createScript, []string{key}, "", state,
			"g", a.Generation, "j", j, "u", "", "e", "", "ru", "", "re", "")
		if err != nil {
			return fail(op, err)
		}
		if n == stNotFound {
			return sentinel(op, store.ErrAlreadyExists)
		}
		return casResult(op, n)
	}

	stub := newState()
	n, err := s.runInt(ctx, stubScript, []string{key}, stub, pendingTTL.Milliseconds())
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return sentinel(op, store.ErrAlreadyExists)
	}
	r := reservation{state: state, required: stub, at: time.Now().UnixMilli(), id: a.ID}.String()
	var names []name
	var ru, re string
	if a.Username != "" {
		names, ru = append(names, s.username(a.Username)), r
	}
	if a.Email != "" {
		names, re = append(names, s.email(a.Email)), r
	}
	ok, err := s.claim(ctx, names, r)
	if err != nil || !ok {
		cleanup(ctx, func(ctx context.Context) error {
			return dropStubScript.Run(ctx, s.rdb, []string{key}, stub).Err()
		})
		if err != nil {
			return fail(op, err)
		}
		return sentinel(op, store.ErrAlreadyExists)
	}
	n, err = s.runInt(ctx, createScript, []string{key}, stub, state,
		"g", a.Generation, "j", j, "u", a.Username, "e", a.Email, "ru", ru, "re", re)
	if err != nil {
		return fail(op, err) // the reservations are held, or pending until the stub expires
	}
	if n != stOK {
		s.release(ctx, names, r)
	}
	return casResult(op, n)
}

// GetAccount returns the account or ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	b, err := s.rdb.HGet(ctx, s.accountKey(id), "j").Bytes()
	if err != nil {
		return nil, fail("get account", err)
	}
	a, err := decodeAccount(b)
	if err != nil {
		return nil, fail("get account", err)
	}
	return a, nil
}

// FindAccount returns the account whose username, or else whose email,
// equals login: it reads both reservations, then the accounts they name
// (two round trips, each one pipeline), and believes a reservation only if
// its account holds it. A dead reservation met on the way is deleted.
func (s *Store) FindAccount(ctx context.Context, login string) (*store.Account, error) {
	const op = "find account"
	if login == "" {
		return nil, sentinel(op, store.ErrNotFound) // never reserved
	}
	names := []name{s.username(login), s.email(login)}
	pipe := s.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(names))
	for i, n := range names {
		gets[i] = pipe.Get(ctx, n.key)
	}
	if err := exec(ctx, pipe); err != nil {
		return nil, fail(op, err)
	}
	vals := make([]string, len(names))
	recs := make([]*redis.SliceCmd, len(names))
	pipe = s.rdb.Pipeline()
	for i, g := range gets {
		vals[i] = g.Val()
		if r, ok := parseReservation(vals[i]); ok {
			recs[i] = pipe.HMGet(ctx, s.accountKey(r.id), accountFields...)
		}
	}
	if pipe.Len() == 0 {
		return nil, sentinel(op, store.ErrNotFound)
	}
	if err := exec(ctx, pipe); err != nil {
		return nil, fail(op, err)
	}
	var found *store.Account
	var stale [][2]string
	for i, n := range names {
		if recs[i] == nil {
			continue
		}
		rec := recs[i].Val()
		switch s.judge(n, vals[i], rec) {
		case held:
			if found == nil {
				j, _ := rec[0].(string)
				a, err := decodeAccount([]byte(j))
				if err != nil {
					return nil, fail(op, err)
				}
				found = a
			}
		case dead:
			stale = append(stale, [2]string{n.key, vals[i]})
		}
	}
	s.deleteIfEqual(ctx, stale...)
	if found == nil {
		return nil, sentinel(op, store.ErrNotFound)
	}
	return found, nil
}

// maxStaleRetries bounds the optimistic loops, which only repeat while
// another writer changes the same record (or reservation) between our read
// and our script.
const maxStaleRetries = 32

// UpdateAccount replaces the account if its stored generation equals
// prevGeneration. Keeping both names is one round trip. A new username or
// email is reserved first, the record swapped if still in the state read,
// and the old reservation released after.
func (s *Store) UpdateAccount(ctx context.Context, a *store.Account, prevGeneration int64) error {
	const op = "update account"
	j, err := encodeAccount(a)
	if err != nil {
		return fail(op, err)
	}
	ev := encodeEvent(store.Event{Kind: store.EventAccountChanged, ID: a.ID, Generation: a.Generation})
	change := changeOf(store.EventAccountChanged, a.ID, a.Generation, time.Time{})
	for range maxStaleRetries {
		n, r, err := s.runStatus(ctx, updateAccountScript, s.logged(s.accountKey(a.ID)),
			prevGeneration, a.Generation, j, a.Username, a.Email, newState(), s.channel, ev, change)
		if err != nil {
			return fail(op, err)
		}
		if n != stStale {
			return s.changed(ctx, op, n, change)
		}
		if len(r) != 5 {
			return fail(op, fmt.Errorf("unexpected script reply of %d parts", len(r)))
		}
		n, err = s.renameAccount(ctx, a, j, ev, change, prevGeneration, r[0], r[1], r[2], r[3], r[4])
		if err != nil {
			return fail(op, err)
		}
		if n != stStale {
			return s.changed(ctx, op, n, change)
		}
	}
	return sentinel(op, store.ErrConflict)
}

// renameAccount is one attempt to update an account whose username or email
// changes, from the record state required, which held the names u, e
// through the reservations ru, re.
func (s *Store) renameAccount(ctx context.Context, a *store.Account, j, ev []byte, change string, prevGeneration int64,
	required, u, e, ru, re string) (int64, error) {
	state := newState()
	r := reservation{state: state, required: required, at: time.Now().UnixMilli(), id: a.ID}.String()
	var names []name
	if a.Username != u {
		ru = ""
		if a.Username != "" {
			names, ru = append(names, s.username(a.Username)), r
		}
	}
	if a.Email != e {
		re = ""
		if a.Email != "" {
			names, re = append(names, s.email(a.Email)), r
		}
	}
	ok, err := s.claim(ctx, names, r)
	if err != nil {
		return 0, err
	}
	if !ok {
		return stTaken, nil
	}
	n, old, err := s.runStatus(ctx, swapScript, s.logged(s.accountKey(a.ID)),
		prevGeneration, required, state, s.channel, ev, change, 4,
		"u", a.Username, "e", a.Email, "ru", ru, "re", re, "g", a.Generation, "j", j)
	if err != nil {
		return 0, err // the new reservations are held, or pending until the next write
	}
	if n != stOK {
		s.release(ctx, names, r)
		return n, nil
	}
	// old is empty when an earlier send did the swap; the old reservations
	// are then dead, and go at their next claim or lookup.
	if len(old) == 4 {
		var kv [][2]string
		if old[0] != "" && old[0] != a.Username {
			kv = append(kv, [2]string{s.usernameKey(old[0]), old[2]})
		}
		if old[1] != "" && old[1] != a.Email {
			kv = append(kv, [2]string{s.emailKey(old[1]), old[3]})
		}
		s.deleteIfEqual(ctx, kv...)
	}
	return stOK, nil
}

// DeleteAccount removes the account, announces it with generation -1, then
// releases its username and email.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	const op = "delete account"
	ev := encodeEvent(store.Event{Kind: store.EventAccountChanged, ID: id, Generation: -1})
	change := changeOf(store.EventAccountChanged, id, -1, time.Time{})
	n, old, err := s.runStatus(ctx, deleteRecordScript, s.logged(s.accountKey(id)), s.channel, ev, change, "u", "e", "ru", "re")
	if err != nil {
		return fail(op, err)
	}
	if n != stOK {
		return casResult(op, n)
	}
	_ = s.appendChange(ctx, change) // see changed
	if len(old) == 4 {
		var kv [][2]string
		if old[0] != "" {
			kv = append(kv, [2]string{s.usernameKey(old[0]), old[2]})
		}
		if old[1] != "" {
			kv = append(kv, [2]string{s.emailKey(old[1]), old[3]})
		}
		s.deleteIfEqual(ctx, kv...)
	}
	return nil
}
