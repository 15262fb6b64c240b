package token

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMalformedClaims is returned when a token's claims are not the strict
// JSON that [DecodeClaims] accepts.
var ErrMalformedClaims = errors.New("token: malformed claims")

// MaxNumericDate is the largest exp, nbf or iat accepted: the last second
// of the year 9999. Larger values, like negative ones, are refused rather
// than wrapped or saturated.
const MaxNumericDate = 253402300799

// maxDepth bounds the nesting of unknown claims' values that are skipped.
const maxDepth = 32

// Claim bits, for AccessClaims.Has.
const (
	HasIssuer uint16 = 1 << iota
	HasSubject
	HasAudience
	HasExpiresAt
	HasNotBefore
	HasIssuedAt
	HasID
	HasClientID
	HasScope
	HasKind
	HasAccountID
	HasGeneration
	HasFamily
	HasConfirmation
)

// AccessClaims are the claims of a Portcullis access token as verifiers
// read them, decoded by [DecodeClaims]: the claims of [Claims], with
// times as Unix seconds and Has telling which claims were present.
type AccessClaims struct {
	Issuer    string
	Subject   string
	ID        string
	ClientID  string
	Scope     string
	Kind      string
	AccountID string
	Family    string
	// Audience is decoded into the room of the slice given (DecodeClaims
	// resets everything else): a caller may give an empty slice with room,
	// to decode without allocating.
	Audience []string
	// Times in Unix seconds, fractions truncated; zero when absent.
	ExpiresAt, NotBefore, IssuedAt int64
	Generation                     int64
	// Confirmation is cnf.jkt, the thumbprint of the DPoP key the token is
	// bound to (RFC 9449 §6.1); empty for a bearer token.
	Confirmation string
	// Has is the set of claims present, of the Has* bits.
	Has uint16
}

// DecodeClaims decodes the JSON claims set of a JWT (the decoded payload)
// into c, strictly and without reflection:
//
//   - claim names are matched exactly, byte for byte after JSON unescaping
//     ("EXP" or "Scope" are other, unknown claims);
//   - a claim name appears at most once (RFC 7519 §4 lets a parser refuse
//     duplicates, which is safer than the last-wins of encoding/json);
//   - iss, sub, jti, client_id, scope, kind, account_id and fam are strings;
//     aud is a string or an array of strings; exp, nbf and iat are JSON
//     numbers (never strings) from 0 to MaxNumericDate; gen is an integer
//     that fits in an int64; null is not a value of any of them;
//   - unknown claims are skipped, after checking that they are well-formed
//     JSON nested at most 32 deep;
//   - strings are valid UTF-8 with valid escapes (no lone surrogates).
//
// Errors wrap ErrMalformedClaims. String values without escapes share
// payload's memory.
func DecodeClaims(payload string, c *AccessClaims) error {
	*c = AccessClaims{Audience: c.Audience[:0]}
	d := decoder{s: payload}
	if err := d.claims(c); err != nil {
		return fmt.Errorf("%w: %v at offset %d", ErrMalformedClaims, err, d.i)
	}
	return nil
}

// decodeError is a reason without the allocation of an error value per
// call site; DecodeClaims adds the offset.
type decodeError string

func (e decodeError) Error() string { return string(e) }

const (
	errSyntax    = decodeError("invalid JSON")
	errNotObject = decodeError("not a JSON object")
	errDuplicate = decodeError("duplicate name")
	errType      = decodeError("claim of the wrong type")
	errRange     = decodeError("time out of range")
	errInteger   = decodeError("gen is not an integer")
	errDepth     = decodeError("nested too deep")
	errString    = decodeError("invalid string")
	errTrailing  = decodeError("data after the claims")
	errNoJKT     = decodeError("cnf without jkt")
)

type decoder struct {
	s string
	i int
	// unknown holds the names of unknown claims seen, to refuse their
	// duplicates too; more spills into a map.
	unknown  [8]string
	nUnknown int
	more     map[string]struct{}
}

func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte, or 0 at the end.
func (d *decoder) next() byte {
	d.ws()
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *decoder) claims(c *AccessClaims) error {
	if d.next() != '{' {
		return errNotObject
	}
	d.i++
	if d.next() == '}' {
		d.i++
		return d.end()
	}
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
		if err := d.claim(c, name); err != nil {
			return err
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

func (d *decoder) end() error {
	if d.next() != 0 || d.i != len(d.s) {
		return errTrailing
	}
	return nil
}

// claim decodes the value of claim name, at d.i.
func (d *decoder) claim(c *AccessClaims, name string) error {
	var bit uint16
	var dst *string
	var t *int64
	switch name {
	case "iss":
		bit, dst = HasIssuer, &c.Issuer
	case "sub":
		bit, dst = HasSubject, &c.Subject
	case "jti":
		bit, dst = HasID, &c.ID
	case "client_id":
		bit, dst = HasClientID, &c.ClientID
	case "scope":
		bit, dst = HasScope, &c.Scope
	case "kind":
		bit, dst = HasKind, &c.Kind
	case "account_id":
		bit, dst = HasAccountID, &c.AccountID
	case "fam":
		bit, dst = HasFamily, &c.Family
	case "exp":
		bit, t = HasExpiresAt, &c.ExpiresAt
	case "nbf":
		bit, t = HasNotBefore, &c.NotBefore
	case "iat":
		bit, t = HasIssuedAt, &c.IssuedAt
	case "aud":
		bit = HasAudience
	case "gen":
		bit = HasGeneration
	case "cnf":
		bit = HasConfirmation
	default:
		if err := d.seen(name); err != nil {
			return err
		}
		return d.skip(0)
	}
	if c.Has&bit != 0 {
		return errDuplicate
	}
	c.Has |= bit
	switch {
	case dst != nil:
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return errType
		}
		v, err := d.str()
		*dst = v
		return err
	case t != nil:
		v, err := d.numericDate()
		*t = v
		return err
	case bit == HasGeneration:
		v, err := d.integer()
		c.Generation = v
		return err
	case bit == HasConfirmation:
		return d.confirmation(c)
	}
	return d.audience(c)
}

// confirmation decodes cnf (RFC 7800 §3.1): an object whose jkt member, a
// non-empty string, is kept. Other members are skipped, but a cnf without
// jkt is refused: it binds the token to something this verifier cannot
// check, so accepting the token would drop the binding.
func (d *decoder) confirmation(c *AccessClaims) error {
	if d.next() != '{' {
		return errType
	}
	d.i++
	if d.next() == '}' {
		return errNoJKT
	}
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
		if name != "jkt" {
			if err := d.skip(1); err != nil {
				return err
			}
		} else if c.Confirmation != "" {
			return errDuplicate
		} else if d.i >= len(d.s) || d.s[d.i] != '"' {
			return errType
		} else if c.Confirmation, err = d.str(); err != nil {
			return err
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			if c.Confirmation == "" {
				return errNoJKT
			}
			return nil
		default:
			return errSyntax
		}
	}
}

// seen refuses a second unknown claim of the same name.
func (d *decoder) seen(name string) error {
	for _, n := range d.unknown[:d.nUnknown] {
		if n == name {
			return errDuplicate
		}
	}
	if d.nUnknown < len(d.unknown) {
		d.unknown[d.nUnknown] = name
		d.nUnknown++
		return nil
	}
	if _, dup := d.more[name]; dup {
		return errDuplicate
	}
	if d.more == nil {
		d.more = make(map[string]struct{})
	}
	d.more[name] = struct{}{}
	return nil
}

func (d *decoder) audience(c *AccessClaims) error {
	switch d.peek() {
	case '"':
		v, err := d.str()
		c.Audience = append(c.Audience, v)
		return err
	case '[':
	default:
		return errType
	}
	d.i++
	if d.next() == ']' {
		d.i++
		return nil
	}
	for {
		if d.next() != '"' {
			return errType
		}
		v, err := d.str()
		if err != nil {
			return err
		}
		c.Audience = append(c.Audience, v)
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return errSyntax
		}
	}
}

func (d *decoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// str reads the string at d.i (its opening quote) and returns its value:
// a substring of d.s when it has no escapes.
func (d *decoder) str() (string, error) {
	start := d.i + 1
	ascii := true
	for i := start; i < len(d.s); i++ {
		switch c := d.s[i]; {
		case c == '"':
			v := d.s[start:i]
			d.i = i + 1
			if !ascii && !utf8.ValidString(v) {
				return "", errString
			}
			return v, nil
		case c == '\\':
			return d.unescape(start)
		case c < 0x20:
			d.i = i
			return "", errString
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.i = len(d.s)
	return "", errSyntax
}

// unescape is str's slow path for strings with escapes.
func (d *decoder) unescape(start int) (string, error) {
	b := make([]byte, 0, 32)
	i := start
	for i < len(d.s) {
		c := d.s[i]
		switch {
		case c == '"':
			d.i = i + 1
			if !utf8.Valid(b) {
				return "", errString
			}
			return string(b), nil
		case c < 0x20:
			d.i = i
			return "", errString
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(d.s) {
			break
		}
		i += 2
		switch d.s[i-1] {
		case '"', '\\', '/':
			b = append(b, d.s[i-1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d.s, i)
			if !ok {
				d.i = i
				return "", errString
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by a low one is a rune.
				r2, ok := rune(0), false
				if i+6 <= len(d.s) && d.s[i] == '\\' && d.s[i+1] == 'u' {
					r2, ok = hex4(d.s, i+2)
				}
				dec := utf16.DecodeRune(r, r2)
				if !ok || dec == utf8.RuneError {
					d.i = i
					return "", errString
				}
				r = dec
				i += 6
			}
			b = utf8.AppendRune(b, r)
		default:
			d.i = i - 1
			return "", errString
		}
	}
	d.i = len(d.s)
	return "", errSyntax
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads the JSON number at d.i and returns its text, and whether
// it is an integer (no fraction or exponent).
func (d *decoder) number() (string, bool, error) {
	start := d.i
	i := d.i
	if i < len(d.s) && d.s[i] == '-' {
		i++
	}
	switch {
	case i < len(d.s) && d.s[i] == '0':
		i++
	case i < len(d.s) && '1' <= d.s[i] && d.s[i] <= '9':
		for i < len(d.s) && '0' <= d.s[i] && d.s[i] <= '9' {
			i++
		}
	default:
		return "", false, errSyntax
	}
	integer := true
	if i < len(d.s) && d.s[i] == '.' {
		integer = false
		i++
		if i >= len(d.s) || d.s[i] < '0' || d.s[i] > '9' {
			return "", false, errSyntax
		}
		for i < len(d.s) && '0' <= d.s[i] && d.s[i] <= '9' {
			i++
		}
	}
	if i < len(d.s) && (d.s[i] == 'e' || d.s[i] == 'E') {
		integer = false
		i++
		if i < len(d.s) && (d.s[i] == '+' || d.s[i] == '-') {
			i++
		}
		if i >= len(d.s) || d.s[i] < '0' || d.s[i] > '9' {
			return "", false, errSyntax
		}
		for i < len(d.s) && '0' <= d.s[i] && d.s[i] <= '9' {
			i++
		}
	}
	d.i = i
	return d.s[start:i], integer, nil
}

// numericDate reads exp, nbf or iat: a JSON number from 0 to
// MaxNumericDate without a minus sign (-0 included), its fraction
// truncated as golang-jwt does.
func (d *decoder) numericDate() (int64, error) {
	switch c := d.peek(); {
	case c == '-':
		return 0, errRange
	case c < '0' || c > '9':
		return 0, errType
	}
	text, integer, err := d.number()
	if err != nil {
		return 0, err
	}
	if integer {
		// At most 12 digits: no overflow, and the bound decides.
		if len(text) > 12 {
			return 0, errRange
		}
		var v int64
		for _, c := range []byte(text) {
			v = v*10 + int64(c-'0')
		}
		if v > MaxNumericDate {
			return 0, errRange
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f >= MaxNumericDate+1 {
		return 0, errRange
	}
	return int64(f), nil
}

// integer reads gen: a JSON integer that fits in an int64.
func (d *decoder) integer() (int64, error) {
	c := d.peek()
	if c != '-' && (c < '0' || c > '9') {
		return 0, errType
	}
	text, integer, err := d.number()
	if err != nil {
		return 0, err
	}
	if !integer {
		return 0, errInteger
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, errInteger
	}
	return v, nil
}

// skip checks and skips the value at d.i.
func (d *decoder) skip(depth int) error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		_, _, err := d.number()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return errDepth
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		d.i++
		if d.next() == closer {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if d.next() != '"' {
					return errSyntax
				}
				if _, err := d.str(); err != nil {
					return err
				}
				if d.next() != ':' {
					return errSyntax
				}
				d.i++
			}
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.next() {
			case ',':
				d.i++
			case closer:
				d.i++
				return nil
			default:
				return errSyntax
			}
		}
	}
	return errSyntax
}

func (d *decoder) literal(lit string) error {
	if len(d.s)-d.i < len(lit) || d.s[d.i:d.i+len(lit)] != lit {
		return errSyntax
	}
	d.i += len(lit)
	return nil
}

// AppendScope appends the scopes of a space-separated scope string to dst,
// split as ParseScope splits them (empty ones and duplicates dropped, in
// their first order), and returns the extended slice. It allocates nothing
// when dst has room.
func AppendScope(dst []string, s string) []string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			// strings.Fields also splits on Unicode spaces.
			for _, f := range ParseScope(s) {
				dst = append(dst, f)
			}
			return dst
		}
	}
	base := len(dst)
	for i := 0; i < len(s); {
		if asciiSpace[s[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && !asciiSpace[s[j]] {
			j++
		}
		if f := s[i:j]; !slices.Contains(dst[base:], f) {
			dst = append(dst, f)
		}
		i = j
	}
	return dst
}

// asciiSpace are the ASCII bytes strings.Fields splits on.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}
