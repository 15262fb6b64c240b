// Package password hashes and checks human passwords with argon2id
// (RFC 9106), stored in the PHC string format that the reference
// implementation and most libraries read and write:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>
//
// where m is the memory in KiB, t the number of passes, p the number of
// lanes, and salt and tag are unpadded standard base64.
//
// # Parameters
//
// The defaults ([DefaultParams]) are RFC 9106 §4's second recommended
// option: m = 64 MiB, t = 3, p = 4, a 128-bit salt and a 256-bit tag. The
// first option (t = 1 with 2 GiB) is meant for machines that can give each
// hash 2 GiB; a login endpoint hashes for many users at once, so the RFC's
// option "if much less memory is available" is the one a server can afford
// (at 64 MiB a hash takes a fraction of a second and 64 MiB for that time).
//
// # Bounds
//
// A stored hash is input like any other: a corrupt or hostile one must not
// make [Verify] allocate gigabytes or run for minutes, so the parser refuses
// (with [ErrMalformedHash]) any of these outside its bounds:
//
//   - m from 8·p KiB (the reference minimum) to [MaxMemory], 2 GiB (RFC 9106's
//     first option, the most any recommendation asks for);
//   - t from 1 to [MaxIterations], 32, and t·m at most [MaxWork], 4 GiB of
//     passes (twice RFC 9106's first option, about 20 times the defaults);
//   - p from 1 to [MaxParallelism], 64 (each lane is a goroutine);
//   - salt from 8 bytes (the reference minimum, so that hashes imported from
//     elsewhere still verify) to 64; tag from 16 bytes (a shorter tag is
//     guessable) to 64;
//   - the whole string at most 256 bytes, version 19 (0x13) only, parameters
//     exactly "m=…,t=…,p=…" in that order, decimal without sign or leading
//     zeros, canonical base64.
//
// [Params.Validate] applies the same bounds to the parameters of new hashes,
// except that a new salt has at least 16 bytes (RFC 9106 §3.1 recommends 128
// bits). Small parameters are allowed (tests use them to stay fast); they
// are no protection in production.
//
// # Policy
//
// [CheckPolicy] bounds a new password: at least [DefaultMinLength] (12)
// characters, counted as Unicode code points (an invalid UTF-8 byte counts
// as one), at most [MaxLength] (1 KiB) bytes, never empty. It imposes no
// composition rules (NIST SP 800-63B §3.1.1.2 advises against them).
// Passwords are hashed as the bytes given, without Unicode normalisation: the
// same password typed as composed and decomposed characters differs.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Sentinel errors, wrapped with details; test them with errors.Is.
var (
	// ErrTooShort: the password is empty or has fewer characters than the
	// policy's minimum.
	ErrTooShort = errors.New("password: too short")
	// ErrTooLong: the password has more than MaxLength bytes.
	ErrTooLong = errors.New("password: too long")
	// ErrMalformedHash: an encoded hash is not an argon2id PHC string this
	// package accepts (syntax, variant, version, or a parameter out of
	// bounds).
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrInvalidParams: Params outside the bounds of new hashes.
	ErrInvalidParams = errors.New("password: invalid argon2id parameters")
)

// Defaults: RFC 9106 §4, second recommended option.
const (
	DefaultMemory      = 64 * 1024 // KiB: 64 MiB
	DefaultIterations  = 3
	DefaultParallelism = 4
	DefaultSaltLength  = 16 // bytes: 128 bits
	DefaultKeyLength   = 32 // bytes: 256 bits
)

// Bounds on the parameters of new and stored hashes (see the package
// documentation for why).
const (
	MaxMemory      = 2 * 1024 * 1024 // KiB: 2 GiB
	MaxIterations  = 32
	MaxWork        = 4 * 1024 * 1024 // Iterations × Memory, in KiB
	MaxParallelism = 64
	MinSaltLength  = 16 // bytes, for new hashes
	MaxSaltLength  = 64
	MinKeyLength   = 16
	MaxKeyLength   = 64

	// minStoredSaltLength is the reference implementation's minimum: a
	// stored hash made elsewhere with an 8-byte salt still verifies (and
	// then needs a rehash).
	minStoredSaltLength = 8
	// maxEncodedLen bounds an encoded hash before it is parsed; the longest
	// one within the bounds above is about 210 bytes.
	maxEncodedLen = 256
)

// Policy bounds.
const (
	// DefaultMinLength is the minimum number of characters of a password.
	DefaultMinLength = 12
	// MaxLength is the maximum number of bytes of a password: enough for
	// any passphrase, small enough that hashing it costs nothing extra.
	MaxLength = 1024
)

// version is the only Argon2 version accepted and written (v=19).
const version = argon2.Version

// Params are argon2id's parameters. A zero field takes its default.
type Params struct {
	// Memory in KiB. Default 65536 (64 MiB); from 8 × Parallelism to
	// MaxMemory (2 GiB).
	Memory uint32
	// Iterations (passes over the memory). Default 3; from 1 to
	// MaxIterations (32), and Iterations × Memory at most MaxWork.
	Iterations uint32
	// Parallelism (lanes). Default 4; at most MaxParallelism (64).
	Parallelism uint8
	// SaltLength in bytes. Default 16; from 16 to 64.
	SaltLength uint32
	// KeyLength is the length of the tag in bytes. Default 32; from 16 to 64.
	KeyLength uint32
}

// DefaultParams returns RFC 9106 §4's second recommended option: 64 MiB,
// 3 passes, 4 lanes, 128-bit salt, 256-bit tag.
func DefaultParams() Params { return Params{}.WithDefaults() }

// WithDefaults returns p with each zero field set to its default.
func (p Params) WithDefaults() Params {
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Iterations == 0 {
		p.Iterations = DefaultIterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = DefaultParallelism
	}
	if p.SaltLength == 0 {
		p.SaltLength = DefaultSaltLength
	}
	if p.KeyLength == 0 {
		p.KeyLength = DefaultKeyLength
	}
	return p
}

// Validate reports, as ErrInvalidParams, whether p (defaults filled in) is
// outside the bounds of new hashes.
func (p Params) Validate() error {
	p = p.WithDefaults()
	if err := p.check(MinSaltLength); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidParams, err)
	}
	return nil
}

// check applies the bounds, with minSalt as the smallest salt; it returns a
// description of the first violation.
func (p Params) check(minSalt uint32) error {
	switch {
	case p.Parallelism < 1 || p.Parallelism > MaxParallelism:
		return fmt.Errorf("parallelism %d is not in 1..%d", p.Parallelism, MaxParallelism)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > MaxMemory:
		return fmt.Errorf("memory %d KiB is not in %d..%d", p.Memory, 8*uint32(p.Parallelism), MaxMemory)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("iterations %d is not in 1..%d", p.Iterations, MaxIterations)
	case uint64(p.Iterations)*uint64(p.Memory) > MaxWork:
		return fmt.Errorf("iterations × memory %d KiB is more than %d", uint64(p.Iterations)*uint64(p.Memory), MaxWork)
	case p.SaltLength < minSalt || p.SaltLength > MaxSaltLength:
		return fmt.Errorf("salt length %d is not in %d..%d", p.SaltLength, minSalt, MaxSaltLength)
	case p.KeyLength < MinKeyLength || p.KeyLength > MaxKeyLength:
		return fmt.Errorf("key length %d is not in %d..%d", p.KeyLength, MinKeyLength, MaxKeyLength)
	}
	return nil
}

// Hash returns the PHC string of password hashed with p (defaults filled
// in) and a fresh random salt. It does not apply the policy (see
// CheckPolicy) except that a password longer than MaxLength is ErrTooLong.
// Errors: ErrInvalidParams, ErrTooLong.
func Hash(password string, p Params) (string, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return "", err
	}
	if len(password) > MaxLength {
		return "", fmt.Errorf("%w: more than %d bytes", ErrTooLong, MaxLength)
	}
	salt := make([]byte, p.SaltLength)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	return encode(p, salt, key), nil
}

// Verify reports whether password matches the encoded hash, comparing in
// constant time, and, when it does, whether the hash should be replaced by
// one made with current (defaults filled in) because its parameters differ.
// A wrong password is (false, false, nil); a password longer than
// MaxLength is one without any hashing (no stored hash can be of it).
// Errors: ErrMalformedHash for an encoded hash outside the bounds (see the
// package documentation), ErrInvalidParams for current.
func Verify(password, encoded string, current Params) (ok, needsRehash bool, err error) {
	current = current.WithDefaults()
	if err := current.Validate(); err != nil {
		return false, false, err
	}
	h, err := parse(encoded)
	if err != nil {
		return false, false, err
	}
	if len(password) > MaxLength {
		return false, false, nil
	}
	key := argon2.IDKey([]byte(password), h.salt, h.p.Iterations, h.p.Memory, h.p.Parallelism, h.p.KeyLength)
	if subtle.ConstantTimeCompare(key, h.key) != 1 {
		return false, false, nil
	}
	return true, h.p != current, nil
}

// CheckPolicy reports whether password may be set as a new password: not
// empty, at least min characters (Unicode code points; min ≤ 0 means
// DefaultMinLength) and at most MaxLength bytes. Errors: ErrTooShort,
// ErrTooLong.
func CheckPolicy(password string, min int) error {
	if min <= 0 {
		min = DefaultMinLength
	}
	// Bytes first, so that counting runes is bounded too.
	if len(password) > MaxLength {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLong, MaxLength)
	}
	if password == "" || utf8.RuneCountInString(password) < min {
		return fmt.Errorf("%w: fewer than %d characters", ErrTooShort, min)
	}
	return nil
}

// Hasher hashes and verifies with fixed, validated parameters, and has a
// dummy hash for logins that name no account.
type Hasher struct {
	p     Params
	dummy string
}

// NewHasher validates p (defaults filled in) and returns a Hasher. It does
// not hash anything: the dummy hash is a random salt and tag, encoded with
// p, which verifying costs exactly what verifying a real hash made with p
// costs and which no password matches. Errors: ErrInvalidParams.
func NewHasher(p Params) (*Hasher, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	salt := make([]byte, p.SaltLength)
	key := make([]byte, p.KeyLength)
	rand.Read(salt)
	rand.Read(key)
	return &Hasher{p: p, dummy: encode(p, salt, key)}, nil
}

// Params returns the hasher's parameters, defaults filled in.
func (h *Hasher) Params() Params { return h.p }

// Hash is [Hash] with the hasher's parameters.
func (h *Hasher) Hash(password string) (string, error) { return Hash(password, h.p) }

// Verify is [Verify] with the hasher's parameters as the current ones.
func (h *Hasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	return Verify(password, encoded, h.p)
}

// Dummy verifies password against the dummy hash and always fails: call it
// when a login names no account, so that answering costs the same as for an
// account with a wrong password (one argon2id run with the current
// parameters). An account whose hash still has older parameters costs what
// those cost, until its next successful login rehashes it.
func (h *Hasher) Dummy(password string) {
	// The result is discarded; a match would need the random tag's preimage.
	_, _, _ = Verify(password, h.dummy, h.p)
}

func encode(p Params, salt, key []byte) string {
	b := make([]byte, 0, 64+base64.RawStdEncoding.EncodedLen(len(salt))+base64.RawStdEncoding.EncodedLen(len(key)))
	b = append(b, "$argon2id$v="...)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, "$m="...)
	b = strconv.AppendUint(b, uint64(p.Memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(p.Iterations), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(p.Parallelism), 10)
	b = append(b, '$')
	b = base64.RawStdEncoding.AppendEncode(b, salt)
	b = append(b, '$')
	b = base64.RawStdEncoding.AppendEncode(b, key)
	return string(b)
}

// decoded is a parsed hash. p.SaltLength and p.KeyLength are the lengths of
// salt and key, so that p compares with the current Params.
type decoded struct {
	p         Params
	salt, key []byte
}

var b64 = base64.RawStdEncoding.Strict()

// parse reads an argon2id PHC string strictly, within the package's bounds.
func parse(s string) (*decoded, error) {
	bad := func(why string) (*decoded, error) {
		return nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(s) > maxEncodedLen {
		return bad("longer than " + strconv.Itoa(maxEncodedLen) + " bytes")
	}
	// The base64 decoder skips newlines; nothing else may either.
	for i := 0; i < len(s); i++ {
		if !phcByte(s[i]) {
			return bad("a byte outside the PHC alphabet")
		}
	}
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, tag
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("not a PHC string $argon2id$v=…$m=…,t=…,p=…$salt$tag")
	}
	if f[1] != "argon2id" {
		return bad("not argon2id")
	}
	if v, ok := strings.CutPrefix(f[2], "v="); !ok {
		return bad("no version")
	} else if n, ok := decimal(v, 0xff); !ok || n != version {
		return bad("version is not 19")
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return bad("parameters are not exactly m, t and p")
	}
	var nums [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return bad("parameters are not exactly m, t and p, in that order")
		}
		if nums[i], ok = decimal(v, MaxMemory); !ok {
			return bad("parameter " + name[:1] + " is not a decimal number in bounds")
		}
	}
	if nums[2] > MaxParallelism {
		return bad("parameter p is out of bounds")
	}
	d := &decoded{p: Params{Memory: uint32(nums[0]), Iterations: uint32(nums[1]), Parallelism: uint8(nums[2])}}
	var err error
	if d.salt, err = b64.DecodeString(f[4]); err != nil {
		return bad("salt is not canonical unpadded base64")
	}
	if d.key, err = b64.DecodeString(f[5]); err != nil {
		return bad("tag is not canonical unpadded base64")
	}
	d.p.SaltLength, d.p.KeyLength = uint32(len(d.salt)), uint32(len(d.key))
	if err := d.p.check(minStoredSaltLength); err != nil {
		return bad(err.Error())
	}
	return d, nil
}

// phcByte reports whether c may appear in an argon2id PHC string:
// separators, digits and the standard base64 alphabet.
func phcByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '+' || c == '/' || c == '$' || c == ',' || c == '='
}

// decimal parses a non-negative decimal number without sign or leading
// zeros, at most max.
func decimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= max
}
