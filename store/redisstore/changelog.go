package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/store"
)

// The change log ([store.ChangeLog]) is a sorted set of entries scored by
// their seq, beside a counter (INCR hands out the seqs) and the trimmed
// watermark, all in the slot {changes} so that one script reaches them on
// a Cluster too. None has a TTL: TrimChanges removes entries, and counter
// and watermark are one small key each. The Cluster path's request markers
// ({changes}:req:<token>) live a few minutes. Sweep's SCAN passes over
// these keys: it matches only token, revocation, nonce and refresh keys.
func (s *Store) changeLogKey() string     { return s.prefix + "{changes}:log" }
func (s *Store) changeSeqKey() string     { return s.prefix + "{changes}:seq" }
func (s *Store) changeTrimmedKey() string { return s.prefix + "{changes}:trimmed" }
func (s *Store) changeReqKey(token string) string {
	return s.prefix + "{changes}:req:" + token
}

// changeReqTTL is how long a Cluster append remembers its request token:
// well past go-redis' re-sends of one command (its read timeout times its
// retries, 12 s by default).
const changeReqTTL = 5 * time.Minute

// maxChangesPage bounds the page that one Changes call reads, and
// trimBatch what one trimming script removes (a script blocks the server
// while it runs).
const (
	maxChangesPage = store.MaxListLimit
	trimBatch      = 1000
)

var (
	errChangeLimit = errors.New("change log limit must be positive")
	errTrimAge     = errors.New("change log trim age must be positive")
)

// logged returns the keys of a script that changes record: on one server
// the change log's too, so that the script appends the change itself; on
// a Cluster, where the log lies in another slot, the record's alone, and
// the caller appends with appendChange once the change is made.
func (s *Store) logged(record string) []string {
	if s.oneServer {
		return []string{record, s.changeLogKey(), s.changeSeqKey()}
	}
	return []string{record}
}

// changeOf is a change as the scripts store it after its seq and time:
// "<kind> <generation> <expiry µs> <id>" (the id last, as it may hold
// spaces).
func changeOf(kind store.EventKind, id string, generation int64, expiresAt time.Time) string {
	var exp int64
	if !expiresAt.IsZero() {
		exp = expiresAt.UnixMicro()
	}
	return string(kind) + " " + strconv.FormatInt(generation, 10) + " " + strconv.FormatInt(exp, 10) + " " + id
}

// appendChange is a Cluster's second step: it appends change to the log
// after the script that made the change reported success (on one server
// that script appended it already, and this does nothing). It runs even
// when ctx has ended, bounded as a cleanup is: the change is made, and its
// entry should follow. A crash or a failure between the two loses the
// entry; the package documentation says why this order is the safer one.
// A marker named by a random token makes a re-sent append count once.
func (s *Store) appendChange(ctx context.Context, change string) error {
	if s.oneServer {
		return nil
	}
	var tok [12]byte
	rand.Read(tok[:])
	ctx, cancel := detached(ctx)
	defer cancel()
	keys := []string{s.changeLogKey(), s.changeSeqKey(), s.changeReqKey(hex.EncodeToString(tok[:]))}
	return appendChangeScript.Run(ctx, s.rdb, keys, change, changeReqTTL.Milliseconds()).Err()
}

// Changes implements [store.ChangeLog] in one script, which reads the page
// and the trimmed watermark at one instant. A limit above
// [store.MaxListLimit] reads that many.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, int64, error) {
	const op = "changes"
	if limit <= 0 {
		return nil, 0, fail(op, errChangeLimit)
	}
	r, err := changesScript.Run(ctx, s.rdb, []string{s.changeLogKey(), s.changeTrimmedKey()},
		after, min(limit, maxChangesPage)).Slice()
	if err != nil {
		return nil, 0, fail(op, err)
	}
	if len(r) != 2 {
		return nil, 0, fail(op, fmt.Errorf("unexpected script reply of %d parts", len(r)))
	}
	w, _ := r[0].(string)
	trimmed, err := strconv.ParseInt(w, 10, 64)
	if err != nil {
		return nil, 0, fail(op, fmt.Errorf("trimmed watermark %q: %w", w, err))
	}
	entries, _ := r[1].([]any)
	changes := make([]store.Change, 0, len(entries))
	for _, e := range entries {
		m, _ := e.(string)
		c, err := parseChange(m)
		if err != nil {
			return nil, 0, fail(op, err)
		}
		changes = append(changes, c)
	}
	return changes, trimmed, nil
}

// parseChange reads a log entry: "<seq> <at µs> <kind> <generation>
// <expiry µs> <id>".
func parseChange(m string) (store.Change, error) {
	f := strings.SplitN(m, " ", 6)
	if len(f) != 6 {
		return store.Change{}, fmt.Errorf("change log entry %q is malformed", m)
	}
	var n [4]int64
	for i, v := range []string{f[0], f[1], f[3], f[4]} {
		var err error
		if n[i], err = strconv.ParseInt(v, 10, 64); err != nil {
			return store.Change{}, fmt.Errorf("change log entry %q is malformed: %w", m, err)
		}
	}
	c := store.Change{
		Seq:   n[0],
		Event: store.Event{Kind: store.EventKind(f[2]), ID: f[5], Generation: n[2]},
		At:    fromMicro(n[1]),
	}
	if n[3] != 0 {
		c.ExpiresAt = fromMicro(n[3])
	}
	return c, nil
}

// TrimChanges implements [store.ChangeLog]: it removes the oldest entries
// up to the first one stamped olderThan ago or later by the server's clock
// (so what stays is a contiguous tail of the log), at most 1000 per
// script, and raises the trimmed watermark with them.
func (s *Store) TrimChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	const op = "trim changes"
	if olderThan <= 0 {
		return 0, fail(op, errTrimAge)
	}
	var total int64
	for {
		n, err := s.runInt(ctx, trimChangesScript, []string{s.changeLogKey(), s.changeTrimmedKey()},
			olderThan.Microseconds(), trimBatch)
		total += n
		if err != nil {
			return total, fail(op, err)
		}
		if n < trimBatch {
			return total, nil
		}
	}
}
