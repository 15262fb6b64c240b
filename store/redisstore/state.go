package redisstore

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/store"
)

// States, and why index entries can be repaired safely.
//
// A client lives in its own slot and its owner's index in the owner's, so no
// script can change both: every write is a few ordered steps, and a reader
// may find an index entry (or a username or email reservation) whose record
// says otherwise. Such an entry is either stale (its record moved on, or the
// write that added it failed or died) or pending (its write has added it and
// not yet committed the record). Dropping a stale one from a listing is easy;
// deleting it is only safe if it can never become current again, or a
// reader would delete the entry of a write that commits just after.
//
// So every record carries a state 'w', a fresh random value that each write
// sets, and every entry or reservation a write adds names two states: the
// one the write will commit, and the one it requires (the state it read,
// or for a create the state of its stub, written first). The commit is a
// compare-and-swap on the required state. A state is set once and replaced
// for ever by the next write, so:
//
//   - the entry is current when the record names it (the member for an owner
//     index, the reservation value for a name);
//   - else, while the record is still in the required state, the write may
//     commit: the entry is pending, and readers skip it but leave it;
//   - else the write can never commit (the required state existed before
//     the entry was added, and is gone): the entry is dead and anyone may
//     delete it.
//
// Nothing here depends on timing: a write delayed for any time in the
// network either commits while its entry is pending, or fails. Creates
// write their stub before any entry, so that "no record" proves the
// required state gone; the stub's TTL only bounds how long a crashed create
// keeps its id.

// stateLen is the length of a state: 16 hex digits, 64 random bits.
// updateClientScript strips the two states off a member with
// string.sub(m, 1, -33): change both together.
const stateLen = 16

// pendingTTL bounds how long a create may take between its stub and its
// commit; a stub left by a create that died goes after that. A rename
// pending for longer (plus the clock skew) may be fenced by a create or
// rename that wants its new name.
const pendingTTL = time.Minute

// newState returns a fresh state.
func newState() string {
	var b [stateLen / 2]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}

// sortKey is the part of a client's owner index member that orders it.
// Every member has score 0, so the sorted set orders members bytewise:
// 16 hex digits of CreatedAt in µs, its sign bit flipped so that unsigned
// order is time order, then the id with each NUL byte escaped as NUL 0xff
// and a NUL after it. That is (CreatedAt, ID) order, exact for every int64 of
// µs, where a score (a double) would round beyond 2^53 µs; the escape keeps
// an id before its own extensions ("a" before "a\x00") whatever follows.
func sortKey(c *store.Client) string {
	return padHex(uint64(toMicro(c.CreatedAt))^(1<<63)) + escapeID(c.ID)
}

// padHex is u in 16 hex digits.
func padHex(u uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[u&0xf]
		u >>= 4
	}
	return string(b[:])
}

func escapeID(id string) string {
	return strings.ReplaceAll(id, "\x00", "\x00\xff") + "\x00"
}

// ownerMember is an owner index entry: the sort key, the state its write
// commits, and the state that write requires.
func ownerMember(key, state, required string) string { return key + state + required }

// parseMember splits an owner index member.
func parseMember(m string) (id, state, required string, ok bool) {
	end := len(m) - 2*stateLen - 1 // the NUL after the id
	if end < 16 || m[end] != 0 {
		return "", "", "", false
	}
	esc := m[16:end]
	var b strings.Builder
	for i := 0; i < len(esc); i++ {
		b.WriteByte(esc[i])
		if esc[i] == 0 {
			if i+1 >= len(esc) || esc[i+1] != 0xff {
				return "", "", "", false
			}
			i++
		}
	}
	return b.String(), m[end+1 : end+1+stateLen], m[end+1+stateLen:], true
}

// reservation is the value of a username or email key: the state its write
// commits, the state it requires, when it was claimed (Unix ms, by the
// claimer's clock; only to tell a rename that died from one in flight), and
// the account id, last because it may hold any byte.
type reservation struct {
	state, required string
	at              int64
	id              string
}

func (r reservation) String() string {
	return r.state + ":" + r.required + ":" + strconv.FormatInt(r.at, 10) + ":" + r.id
}

func parseReservation(v string) (reservation, bool) {
	if len(v) < 2*stateLen+3 || v[stateLen] != ':' || v[2*stateLen+1] != ':' {
		return reservation{}, false
	}
	rest := v[2*stateLen+2:]
	i := strings.IndexByte(rest, ':')
	if i < 0 {
		return reservation{}, false
	}
	at, err := strconv.ParseInt(rest[:i], 10, 64)
	if err != nil {
		return reservation{}, false
	}
	return reservation{state: v[:stateLen], required: v[stateLen+1 : 2*stateLen+1], at: at, id: rest[i+1:]}, true
}
