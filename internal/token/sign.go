package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Minted are the claims of an access token to sign with
// [KeySet.SignAccess]: those of [Claims], with the times as Unix seconds.
// Empty strings, an empty Audience and zero times are left out, as
// golang-jwt leaves out those of a Claims; Kind and Generation are always
// written.
type Minted struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt int64
	NotBefore int64
	IssuedAt  int64
	ID        string
	ClientID  string
	Scope     string
	Kind      string
	AccountID string
	// Generation of the client (or account) when the token was issued.
	Generation int64
	// Family is the refresh token family, if any (the fam claim).
	Family string
	// Confirmation binds the token to a DPoP key (the cnf claim).
	Confirmation *Confirmation
}

// AppendJSON appends the claims as the JSON object that golang-jwt writes
// for the equivalent [Claims] (the same names, order and escaping: aud is
// always an array, times are integers), without reflection.
func (c *Minted) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	name := func(n string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, n...)
		b = append(b, '"', ':')
	}
	str := func(n, v string) {
		if v != "" {
			name(n)
			b = AppendJSONString(b, v)
		}
	}
	num := func(n string, v int64) {
		if v != 0 {
			name(n)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	str("iss", c.Issuer)
	str("sub", c.Subject)
	if len(c.Audience) > 0 {
		name("aud")
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, a)
		}
		b = append(b, ']')
	}
	num("exp", c.ExpiresAt)
	num("nbf", c.NotBefore)
	num("iat", c.IssuedAt)
	str("jti", c.ID)
	str("client_id", c.ClientID)
	str("scope", c.Scope)
	name("kind")
	b = AppendJSONString(b, c.Kind)
	str("account_id", c.AccountID)
	name("gen")
	b = strconv.AppendInt(b, c.Generation, 10)
	str("fam", c.Family)
	if c.Confirmation != nil {
		name("cnf")
		b = append(b, `{"jkt":`...)
		b = AppendJSONString(b, c.Confirmation.JKT)
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string, escaped exactly as
// encoding/json escapes it (HTML characters and U+2028/U+2029 as \u
// sequences, invalid UTF-8 as U+FFFD). The common case, printable ASCII
// with nothing to escape, is copied as it is.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if jsonPlain[s[i]] == 0 {
			// Rare (ids, scopes and URLs are plain ASCII): the standard
			// encoder's rules, whatever they are, rather than a copy.
			q, err := json.Marshal(s)
			if err != nil { // a string always marshals
				panic(err)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain is 1 for the bytes that encoding/json writes as they are in a
// string: printable ASCII but '"', '\\', '<', '>' and '&' (which it
// escapes for HTML). One table load per byte: a token response runs this
// over the whole access token.
var jsonPlain = func() (t [256]uint8) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		if c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			t[c] = 1
		}
	}
	return t
}()

// signHeader returns the base64url protected header that every token
// k signs carries: alg, kid and typ, in golang-jwt's (sorted) order.
func signHeader(k *Key) (string, error) {
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.Algorithm, k.ID, JWTType})
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(h), nil
}

// hmacPads are an HS256 key's inner and outer pads (RFC 2104), so that
// signing hashes with sha256.Sum256 on the stack instead of building (and
// allocating) an HMAC state for every token.
type hmacPads struct{ inner, outer [sha256.BlockSize]byte }

func newHMACPads(secret []byte) *hmacPads {
	if len(secret) > sha256.BlockSize {
		sum := sha256.Sum256(secret)
		secret = sum[:]
	}
	p := &hmacPads{}
	copy(p.inner[:], secret)
	copy(p.outer[:], secret)
	for i := range p.inner {
		p.inner[i] ^= 0x36
		p.outer[i] ^= 0x5c
	}
	return p
}

// maxSignedInline is the signing input and signature that SignAccess
// builds in its pooled buffer; longer ones (a large audience) go to a
// buffer of their own.
const maxSignedInline = 2048

// signBuffer is the room SignAccess works in: the claims, the signing
// input after room for HMAC's inner pad, and the signature.
type signBuffer struct {
	claims [512]byte
	input  [sha256.BlockSize + maxSignedInline]byte
	sig    [maxSignature]byte
}

// signBuffers hold SignAccess's buffers between calls. On its stack,
// their 3 KiB took a token request past a goroutine's initial 8 KiB, and
// net/http's connection goroutines, whose stacks each GC shrinks back
// while they wait, grew and copied their stacks again after every GC
// (about 3 % of an HS256 token request's instructions). A sync.Pool is
// only a cache; the HMAC pad is cleared before a buffer goes back, so no
// key material waits in it.
var signBuffers = sync.Pool{New: func() any { return new(signBuffer) }}

// SignAccess signs the claims of an access token with the set's signing
// key, as a compact JWS whose header is alg, kid and typ "at+jwt". It
// produces the token that Sign produces for the equivalent Claims, with no
// reflection and a handful of allocations: the header is encoded once per
// key, the claims are appended by hand, and an ES256 signature goes from
// its ASN.1 form to the raw r‖s of RFC 7518 §3.4 without big integers.
func (s *KeySet) SignAccess(c *Minted) (string, error) {
	k := s.signing
	if k == nil {
		return "", errors.New("token: key set has no signing key")
	}
	if k.private == nil || k.signHeader == "" || k.Symmetric() && k.pads == nil {
		return "", fmt.Errorf("token: key %q has no private part", k.ID)
	}
	sb := signBuffers.Get().(*signBuffer)
	defer signBuffers.Put(sb)
	// The signing input is built after room for HMAC's inner pad, so that
	// HS256 hashes pad and input in one call, with no copy.
	const pad = sha256.BlockSize
	payload := c.AppendJSON(sb.claims[:0])
	n := len(k.signHeader) + 1 + b64.EncodedLen(len(payload)) + 1 + b64.EncodedLen(maxSignature)
	full := sb.input[:]
	if pad+n > len(full) {
		full = make([]byte, pad+n)
	}
	buf := append(full[pad:pad], k.signHeader...)
	buf = append(buf, '.')
	buf = appendB64(buf, payload)
	var sigb []byte
	var err error
	if k.pads != nil {
		copy(full[:pad], k.pads.inner[:])
		sigb = k.pads.sign(full[:pad+len(buf)], sb.sig[:0])
		clear(full[:pad])
	} else if sigb, err = k.signBytes(buf, sb.sig[:0]); err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = appendB64(buf, sigb)
	return string(buf), nil
}

// b64Pairs holds, for each 12-bit value, its two base64url characters
// (the first in the high byte), so that appendB64 encodes three bytes
// with two table loads and one four-byte store where encoding/base64 makes
// four loads and four stores: encoding a token's claims and signature was
// 4 % of an HS256 token request's instructions. 8 KiB, computed once and
// only ever read.
var b64Pairs = func() (t [1 << 12]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for v := range t {
		t[v] = uint16(alphabet[v>>6])<<8 | uint16(alphabet[v&63])
	}
	return t
}()

// appendB64 appends src to dst in unpadded base64url, as
// b64.AppendEncode does (TestAppendB64 holds it to that): whole groups of
// three bytes from b64Pairs, the last one or two bytes, which base64
// encodes on their own, by encoding/base64.
func appendB64(dst, src []byte) []byte {
	groups := len(src) / 3
	n := len(dst)
	dst = slices.Grow(dst, groups*4)[:n+groups*4]
	out := dst[n:]
	for len(src) >= 3 && len(out) >= 4 {
		v := uint32(src[0])<<16 | uint32(src[1])<<8 | uint32(src[2])
		binary.BigEndian.PutUint32(out, uint32(b64Pairs[v>>12&0xfff])<<16|uint32(b64Pairs[v&0xfff]))
		src, out = src[3:], out[4:]
	}
	return b64.AppendEncode(dst, src)
}

// maxSignature is the longest signature SignAccess makes room for
// without a buffer of its own: RSA up to 4096 bits.
const maxSignature = 512

// sign appends HMAC-SHA256 to dst, of the input that follows the inner
// pad in padded (whose first BlockSize bytes are p.inner).
func (p *hmacPads) sign(padded, dst []byte) []byte {
	innerSum := sha256.Sum256(padded)
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], p.outer[:])
	copy(outer[sha256.BlockSize:], innerSum[:])
	sum := sha256.Sum256(outer[:])
	return append(dst, sum[:]...)
}

// signBytes appends the signature of input by k's asymmetric private key
// to dst. ES256 signatures are deterministic (RFC 6979, through
// ecdsa.PrivateKey.Sign with no random source), as EdDSA's are: no random
// nonce to draw, and about a third less CPU than Go's hedged signature,
// whose DRBG runs over SHA-512.
func (k *Key) signBytes(input, dst []byte) ([]byte, error) {
	switch p := k.private.(type) {
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(input)
		der, err := p.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return appendRawECDSA(dst, der, 32)
	case ed25519.PrivateKey:
		return append(dst, ed25519.Sign(p, input)...), nil
	case *rsa.PrivateKey:
		digest := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(nil, p, crypto.SHA256, digest[:])
		if err != nil {
			return nil, err
		}
		return append(dst, sig...), nil
	}
	return nil, fmt.Errorf("token: key %q of type %T cannot sign", k.ID, k.private)
}

// appendRawECDSA appends the ASN.1 ECDSA signature der as JWS wants it
// (RFC 7518 §3.4): r and s as big-endian integers of size bytes each.
func appendRawECDSA(dst, der []byte, size int) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("token: malformed ECDSA signature")
	}
	for _, v := range [][]byte{r, s} {
		for len(v) > 0 && v[0] == 0 {
			v = v[1:] // the sign byte of a positive INTEGER
		}
		if len(v) > size {
			return nil, errors.New("token: ECDSA signature integer too large")
		}
		for range size - len(v) {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst, nil
}
