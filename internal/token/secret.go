package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"strings"
)

// Prefixes of the secrets and tokens Portcullis mints, so that secret
// scanners and people can tell them from noise and from each other.
const (
	PrefixClientSecret = "pcs_"
	PrefixRefreshToken = "pcr_"
	PrefixAccessToken  = "pca_"
)

const (
	secretBytes   = 32 // 256 bits of randomness
	bodyLen       = 43 // 62^43 > 2^256
	checksumLen   = 6  // 62^6 > 2^32
	base62Letters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewSecret returns prefix followed by 256 random bits in base62 and a
// CRC-32 checksum of both, in base62: 49 characters plus the prefix.
func NewSecret(prefix string) string {
	b := make([]byte, secretBytes)
	rand.Read(b)
	body := padBase62(new(big.Int).SetBytes(b), bodyLen)
	return prefix + body + checksum(prefix+body)
}

// NewClientSecret returns a new client secret ("pcs_…").
func NewClientSecret() string { return NewSecret(PrefixClientSecret) }

// NewClientID returns a new random client id: 128 bits in hex.
func NewClientID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewHexSecret returns a client secret of 256 random bits in lowercase hex
// (64 characters), for APIs whose clients expect that shape. It has no
// prefix or checksum, so secret scanners cannot recognise it as NewSecret's
// can, which is why "pcs_…" is the default.
func NewHexSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// WellFormed reports whether s looks like a secret minted by NewSecret with
// that prefix: right length, alphabet and checksum. It says nothing about
// whether s is valid for anything; it lets a server reject typos and
// scanners spot leaks without a store lookup.
func WellFormed(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+bodyLen+checksumLen {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if strings.IndexByte(base62Letters, s[i]) < 0 {
			return false
		}
	}
	cut := len(s) - checksumLen
	return subtle.ConstantTimeCompare([]byte(checksum(s[:cut])), []byte(s[cut:])) == 1
}

func checksum(s string) string {
	return padBase62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s)))), checksumLen)
}

func padBase62(n *big.Int, width int) string {
	s := n.Text(62)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// Hasher hashes secrets and tokens for storage: SHA-256, or HMAC-SHA-256
// with a server-side pepper when one is set, so that a stolen database alone
// cannot be used to test guesses. A slow KDF would buy nothing for 256
// random bits and would cap the token endpoint's throughput; human
// passwords use argon2id instead. The zero value and nil are plain SHA-256.
type Hasher struct {
	pepper []byte
}

// NewHasher returns a Hasher with the given pepper (nil for plain SHA-256).
func NewHasher(pepper []byte) *Hasher {
	return &Hasher{pepper: append([]byte(nil), pepper...)}
}

// Sum returns the 32-byte hash of s.
func (h *Hasher) Sum(s string) []byte {
	if h == nil || len(h.pepper) == 0 {
		sum := sha256.Sum256([]byte(s))
		return sum[:]
	}
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Hex returns the hash of s in hex, as tokens are keyed in the store.
func (h *Hasher) Hex(s string) string { return hex.EncodeToString(h.Sum(s)) }

// Equal reports in constant time whether s hashes to sum.
func (h *Hasher) Equal(s string, sum []byte) bool {
	if h == nil || len(h.pepper) == 0 {
		// As Sum, with the digest on the stack: this runs for every
		// client authentication. So does the input when it fits, where
		// []byte(s) would allocate (the compiler keeps only 32 bytes
		// on the stack for it, and a secret is longer).
		var buf [128]byte
		d := sha256.Sum256(append(buf[:0], s...))
		return subtle.ConstantTimeCompare(d[:], sum) == 1
	}
	return subtle.ConstantTimeCompare(h.Sum(s), sum) == 1
}

// NewUUID returns an opaque token in the form of a random UUID version 4
// (RFC 9562 §5.4), lowercase: 122 random bits, for APIs whose clients
// expect that shape. It is below the 128 bits RFC 6749 §10.10 asks for,
// which is why the "pca_" form is the default.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// IsUUID reports whether s has the form NewUUID makes: 36 characters of
// lowercase hex in groups of 8-4-4-4-12, version 4, variant 10.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return s[14] == '4' && strings.IndexByte("89ab", s[19]) >= 0
}
