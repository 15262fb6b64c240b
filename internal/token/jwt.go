package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// ErrMalformedHeader is returned when a token's protected header is not
// the strict JSON that [DecodeHeader] accepts, or asks for what Portcullis
// does not do (crit, b64).
var ErrMalformedHeader = errors.New("token: malformed header")

// Header is the protected header of a JWS as Portcullis reads it: the
// parameters it uses. Others (jku, x5u, jwk, cty…) are skipped and never
// trusted.
type Header struct {
	Alg string
	Kid string
	Typ string
}

// DecodeHeader decodes the JSON of a JWS protected header into h, with the
// rules of [DecodeClaims] (exact names, no duplicates, alg, kid and typ
// strings when present), and refuses a header that holds crit (RFC 7515
// §4.1.11: Portcullis understands no extension, so it must refuse every
// token that says one is critical) or b64 (RFC 7797: an unencoded payload,
// which Portcullis never signs). Errors wrap ErrMalformedHeader.
func DecodeHeader(header string, h *Header) error {
	d := decoder{s: header}
	if err := d.header(h); err != nil {
		return fmt.Errorf("%w: %v at offset %d", ErrMalformedHeader, err, d.i)
	}
	return nil
}

const (
	errCrit = decodeError("crit: no extension is understood")
	errB64  = decodeError("b64: unencoded payloads are not accepted")
)

func (d *decoder) header(h *Header) error {
	if d.next() != '{' {
		return errNotObject
	}
	d.i++
	if d.next() == '}' {
		d.i++
		return d.end()
	}
	var has uint8
	for {
		if d.next() != '"' {
			return errSyntax
		}
		name, err := d.str()
		if err != nil {
			return err
		}
		if d.next() != ':' {
			return errSyntax
		}
		d.i++
		d.ws()
		var bit uint8
		var dst *string
		switch name {
		case "alg":
			bit, dst = 1, &h.Alg
		case "kid":
			bit, dst = 2, &h.Kid
		case "typ":
			bit, dst = 4, &h.Typ
		case "crit":
			return errCrit
		case "b64":
			return errB64
		default:
			if err := d.seen(name); err != nil {
				return err
			}
			if err := d.skip(0); err != nil {
				return err
			}
		}
		if dst != nil {
			if has&bit != 0 {
				return errDuplicate
			}
			has |= bit
			if d.peek() != '"' {
				return errType
			}
			if *dst, err = d.str(); err != nil {
				return err
			}
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return d.end()
		default:
			return errSyntax
		}
	}
}

// b64 is the strict base64url of JWS segments: no padding, and the unused
// low bits of the last character must be zero, so that a token has one
// spelling only.
var b64 = base64.RawURLEncoding.Strict()

// maxInline is how much decoded header and payload VerifyJWT decodes on
// the stack before it needs a heap buffer.
const maxInline = 1024

// VerifyJWT checks a compact JWS signed by a key of the set and decodes
// it: three segments of strict base64url (no padding, no line breaks, no
// stray bits: a token has one spelling), the header with DecodeHeader, the
// signature with the algorithm its kid's key is pinned to (the header's
// alg must name that algorithm; the check itself is golang-jwt's
// SigningMethod), then the claims with DecodeClaims into c. The claims'
// values (times, audience, kind) are the caller's to judge.
// It returns the header (its Kid names the key that verified). A token
// whose kid the set does not hold, or that names none, fails with
// ErrUnknownKey before its signature is checked; every other failure wraps
// one of golang-jwt's errors (ErrTokenMalformed, ErrTokenUnverifiable,
// ErrTokenSignatureInvalid).
//
// The decoded header and claims strings share one allocation, which c's
// strings then keep alive.
func (s *KeySet) VerifyJWT(raw string, c *AccessClaims) (Header, error) {
	var h Header
	if strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		// The base64 decoder would skip them: one token, many spellings.
		return h, malformed("line break", nil)
	}
	dot1 := strings.IndexByte(raw, '.')
	if dot1 < 0 {
		return h, malformed("not three segments", nil)
	}
	dot2 := dot1 + 1 + strings.IndexByte(raw[dot1+1:], '.')
	if dot2 <= dot1 || strings.IndexByte(raw[dot2+1:], '.') >= 0 {
		return h, malformed("not three segments", nil)
	}
	hseg, pseg, sseg := raw[:dot1], raw[dot1+1:dot2], raw[dot2+1:]

	// Header and payload decode into one buffer, turned into one string.
	hn, pn := b64.DecodedLen(len(hseg)), b64.DecodedLen(len(pseg))
	var inline [maxInline]byte
	buf := inline[:]
	if hn+pn > len(buf) {
		buf = make([]byte, hn+pn)
	}
	hn, err := b64.Decode(buf, []byte(hseg))
	if err != nil {
		return h, malformed("header is not base64url", err)
	}
	pn, err = b64.Decode(buf[hn:], []byte(pseg))
	if err != nil {
		return h, malformed("payload is not base64url", err)
	}
	text := string(buf[:hn+pn])
	if err := DecodeHeader(text[:hn], &h); err != nil {
		return h, malformed("", err)
	}
	key, ok := s.byID[h.Kid]
	if !ok {
		return h, ErrUnknownKey
	}
	if h.Alg != key.Algorithm {
		return h, fmt.Errorf("%w: key %q is pinned to %s, not %q", jwt.ErrTokenSignatureInvalid, h.Kid, key.Algorithm, h.Alg)
	}
	sig := make([]byte, b64.DecodedLen(len(sseg)))
	n, err := b64.Decode(sig, []byte(sseg))
	if err != nil {
		return h, malformed("signature is not base64url", err)
	}
	if err := key.method.Verify(raw[:dot2], sig[:n], key.public); err != nil {
		return h, fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, err)
	}
	if err := DecodeClaims(text[hn:], c); err != nil {
		return h, malformed("", err)
	}
	return h, nil
}

func malformed(why string, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s", jwt.ErrTokenMalformed, why)
	case why == "":
		return fmt.Errorf("%w: %w", jwt.ErrTokenMalformed, err)
	}
	return fmt.Errorf("%w: %s: %w", jwt.ErrTokenMalformed, why, err)
}
