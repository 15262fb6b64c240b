package token

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DPoP server nonces (RFC 9449 §8 at the authorization server, §9 at a
// resource server): the server makes a proof carry a value it chose, so
// that a proof cannot be made ahead of time and used later.
//
// The nonces are stateless, so that any replica accepts a nonce any other
// replica gave out, and no store is written per nonce. Time is cut into
// windows; the nonce of window w is
//
//	base64url( w as 8 bytes, big endian | HMAC-SHA-256(key, label | w)[:16] )
//
// where key is derived with HKDF-SHA-256 from a secret every replica
// shares, and label names the server role (authorization or resource
// server), so that a nonce of one is no nonce of the other even under one
// secret. A nonce is accepted in its window and the next one, so it lives
// between one and two windows; a nonce of the window after now's is
// accepted within the clock leeway (replicas' clocks differ). Everybody
// gets the same nonce within a window: a nonce is about when a proof was
// made, not by whom, and a client cannot predict the next window's tag,
// which is all that stops proofs made in advance. In exchange the current
// and previous nonces are computed once per window, and a check is a
// decode and a constant-time comparison.

// ErrDPoPNonce is returned for a proof whose nonce is missing, stale,
// malformed or not one of this server's: the server answers
// use_dpop_nonce with a fresh nonce, and the client retries.
var ErrDPoPNonce = errors.New("DPoP nonce missing, stale or invalid")

// MinNonceSecretLen is the shortest secret NewDPoPNonces accepts.
const MinNonceSecretLen = 32

// Labels for NewDPoPNonces: the roles a nonce is made for.
const (
	NonceAuthorizationServer = "portcullis DPoP nonce v1: authorization server"
	NonceResourceServer      = "portcullis DPoP nonce v1: resource server"
)

const (
	nonceWindowBytes = 8
	nonceTagBytes    = 16
	nonceLen         = (nonceWindowBytes + nonceTagBytes) * 4 / 3 // base64url, no padding: 32
)

// DPoPNonces makes and checks the server nonces of one role. It is safe
// for concurrent use.
type DPoPNonces struct {
	key    []byte
	label  string
	window time.Duration
	// recent caches the nonces of the latest window asked about and the
	// one before.
	recent atomic.Pointer[nonceCache]
}

type nonceCache struct {
	w         int64
	cur, prev string
}

// NewDPoPNonces returns nonces for label (one of the Nonce* constants)
// keyed by secret (at least MinNonceSecretLen bytes, the same on every
// replica), in windows of the given length (at least a second).
func NewDPoPNonces(secret []byte, label string, window time.Duration) (*DPoPNonces, error) {
	if len(secret) < MinNonceSecretLen {
		return nil, fmt.Errorf("DPoP nonce secret: %d bytes, want at least %d", len(secret), MinNonceSecretLen)
	}
	if window < time.Second {
		return nil, errors.New("DPoP nonce window: want at least 1s")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, label, sha256.Size)
	if err != nil {
		return nil, err
	}
	return &DPoPNonces{key: key, label: label, window: window}, nil
}

// index is the window now falls in.
func (n *DPoPNonces) index(now time.Time) int64 {
	return now.UnixNano() / int64(n.window)
}

// make computes the nonce of window w.
func (n *DPoPNonces) make(w int64) string {
	var buf [nonceWindowBytes + sha256.Size]byte
	binary.BigEndian.PutUint64(buf[:nonceWindowBytes], uint64(w))
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte(n.label))
	m.Write(buf[:nonceWindowBytes])
	m.Sum(buf[:nonceWindowBytes])
	return base64.RawURLEncoding.EncodeToString(buf[:nonceWindowBytes+nonceTagBytes])
}

// cache returns the nonces of window w and the one before, computing them
// once per window.
func (n *DPoPNonces) cache(w int64) *nonceCache {
	c := n.recent.Load()
	if c != nil && c.w == w {
		return c
	}
	next := &nonceCache{w: w, cur: n.make(w), prev: n.make(w - 1)}
	if c == nil || c.w < w {
		// A racing caller may store the same; an older window never
		// replaces a newer one.
		n.recent.CompareAndSwap(c, next)
	}
	return next
}

// Current is the nonce to hand out at now.
func (n *DPoPNonces) Current(now time.Time) string {
	return n.cache(n.index(now)).cur
}

// Check reports whether nonce is one this server gave out and still
// accepts at now, leeway being the clock skew allowed between replicas.
// renew is true when the nonce is of the previous window: it is accepted,
// and the response should carry Current. Every refusal wraps ErrDPoPNonce.
// Check never panics, whatever nonce holds.
func (n *DPoPNonces) Check(nonce string, now time.Time, leeway time.Duration) (renew bool, err error) {
	if nonce == "" {
		return false, fmt.Errorf("%w: the proof has no nonce", ErrDPoPNonce)
	}
	if len(nonce) != nonceLen {
		return false, fmt.Errorf("%w: malformed nonce", ErrDPoPNonce)
	}
	var raw [nonceWindowBytes + nonceTagBytes]byte
	if k, err := base64.RawURLEncoding.Decode(raw[:], []byte(nonce)); err != nil || k != len(raw) {
		return false, fmt.Errorf("%w: malformed nonce", ErrDPoPNonce)
	}
	w := int64(binary.BigEndian.Uint64(raw[:nonceWindowBytes]))
	cur := n.index(now)
	var want string
	switch {
	case w == cur:
		want = n.cache(cur).cur
	case w == cur-1:
		want, renew = n.cache(cur).prev, true
	case w > cur && w <= n.index(now.Add(max(leeway, 0))):
		want = n.make(w) // another replica's clock is ahead
	case w < cur:
		return false, fmt.Errorf("%w: stale nonce", ErrDPoPNonce)
	default:
		return false, fmt.Errorf("%w: nonce from the future", ErrDPoPNonce)
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(want)) != 1 {
		return false, fmt.Errorf("%w: nonce not made by this server", ErrDPoPNonce)
	}
	return renew, nil
}
