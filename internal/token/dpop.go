package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// DPoP (RFC 9449): a client proves, with a JWT signed by a key it holds,
// that it is the one a token was bound to. The issuer binds an access token
// to the key's thumbprint (cnf.jkt); a resource server checks each request's
// proof against that thumbprint, the request and the token.

// DPoPType is the typ header of a DPoP proof (RFC 9449 §4.2).
const DPoPType = "dpop+jwt"

// DPoPAlgorithms are the proof algorithms Portcullis verifies: public-key
// signatures only (RFC 9449 §4.2 forbids symmetric ones and none).
var DPoPAlgorithms = []string{ES256, EdDSA, RS256}

// ErrDPoPProof is wrapped by every refusal of a DPoP proof.
var ErrDPoPProof = errors.New("invalid DPoP proof")

// maxDPoPProofLen bounds a proof before anything parses it.
const maxDPoPProofLen = 8 << 10

// DPoPCheck is what a proof must match.
type DPoPCheck struct {
	// Method and URL of the request the proof came with; the URL's query
	// and fragment are ignored (RFC 9449 §4.3).
	Method, URL string
	// AccessToken, when set, must be what the proof's ath hashes (at a
	// resource server); at the token endpoint it is empty and ath is not
	// checked.
	AccessToken string
	// Now, MaxAge and Leeway bound iat: not older than MaxAge, not newer
	// than Leeway ahead.
	Now            time.Time
	MaxAge, Leeway time.Duration
	// Nonces, when set, are the server nonces (RFC 9449 §8, §9) of which
	// the proof must carry a live one; Leeway is also the clock skew
	// allowed between the replicas that give them out. Nil: a nonce is
	// not required, and one the proof carries is ignored.
	Nonces *DPoPNonces
}

// DPoPProof is a proof that verified.
type DPoPProof struct {
	// JKT is the SHA-256 JWK thumbprint (RFC 7638) of the proof's key,
	// base64url: what cnf.jkt of a bound token holds.
	JKT string
	// ID is the proof's jti, to remember against replay.
	ID string
	// IssuedAt is its iat.
	IssuedAt time.Time
	// ReplayID and RememberUntil are what a verifier gives
	// store.Nonces.UseNonce so that the proof is accepted once: its jti
	// under its key, kept until its iat can no longer pass the check.
	ReplayID      string
	RememberUntil time.Time
	// RenewNonce is set when the proof's server nonce is accepted but
	// about to expire: the response should carry a fresh one.
	RenewNonce bool
}

// VerifyDPoPProof checks a DPoP proof (RFC 9449 §4.3): a JWT with typ
// dpop+jwt, an algorithm of DPoPAlgorithms, a public jwk header (no private
// part) that verifies its signature, no crit header, jti, htm and htu
// matching the request, iat within the window, ath matching the access
// token when one is given, and a live server nonce when c.Nonces is set.
// Replay of jti is the caller's to check. A proof that passes every check
// but the nonce's is refused with an error that wraps ErrDPoPNonce (and
// not ErrDPoPProof): the server then answers use_dpop_nonce.
func VerifyDPoPProof(proof string, c DPoPCheck) (*DPoPProof, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrDPoPProof}, args...)...)
	}
	if len(proof) > maxDPoPProofLen {
		return nil, bad("proof too long")
	}
	var jkt string
	var claims jwt.MapClaims
	p := jwt.NewParser(jwt.WithValidMethods(DPoPAlgorithms), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	_, err := p.ParseWithClaims(proof, &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != DPoPType {
			return nil, fmt.Errorf("typ %q is not %s", typ, DPoPType)
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header")
		}
		raw, err := json.Marshal(t.Header["jwk"])
		if err != nil || t.Header["jwk"] == nil {
			return nil, errors.New("no jwk header")
		}
		pub, thumb, err := publicJWK(raw)
		if err != nil {
			return nil, err
		}
		if _, err := NewPublicKey("", t.Method.Alg(), pub); err != nil {
			return nil, err // the key does not fit the alg
		}
		jkt = thumb
		return pub, nil
	})
	if err != nil {
		return nil, bad("%v", err)
	}
	str := func(name string) string { s, _ := claims[name].(string); return s }
	jti, htm, htu := str("jti"), str("htm"), str("htu")
	switch {
	case jti == "" || len(jti) > 256:
		return nil, bad("jti must be 1 to 256 characters")
	case htm != c.Method:
		return nil, bad("htm %q is not %s", htm, c.Method)
	case !sameHTU(htu, c.URL):
		return nil, bad("htu %q is not this request's URL", htu)
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return nil, bad("iat is required and must be a number")
	}
	if iat.Time.Before(c.Now.Add(-c.MaxAge-c.Leeway)) || iat.Time.After(c.Now.Add(c.Leeway)) {
		return nil, bad("iat outside the accepted window")
	}
	if c.AccessToken != "" {
		sum := sha256.Sum256([]byte(c.AccessToken))
		if str("ath") != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, bad("ath does not match the access token")
		}
	}
	var renew bool
	if c.Nonces != nil {
		// Last, so that use_dpop_nonce is only ever said of a proof that
		// is otherwise good: the client's retry with the nonce then
		// succeeds.
		if v, ok := claims["nonce"]; ok {
			if _, isString := v.(string); !isString {
				return nil, bad("nonce must be a string")
			}
		}
		if renew, err = c.Nonces.Check(str("nonce"), c.Now, c.Leeway); err != nil {
			return nil, err
		}
	}
	return &DPoPProof{JKT: jkt, ID: jti, IssuedAt: iat.Time, RenewNonce: renew,
		ReplayID: "dpop:" + jkt + ":" + jti, RememberUntil: iat.Time.Add(c.MaxAge + 2*c.Leeway + time.Second)}, nil
}

// sameHTU compares a proof's htu with the request URL, ignoring query and
// fragment, scheme and host case-insensitively (RFC 9449 §4.3 and RFC 3986
// §6.2.2.1 normalisation; default ports are dropped).
func sameHTU(htu, want string) bool {
	a, err1 := url.Parse(htu)
	b, err2 := url.Parse(want)
	if err1 != nil || err2 != nil || a.Scheme == "" || a.Host == "" {
		return false
	}
	norm := func(u *url.URL) string {
		host := strings.ToLower(u.Host)
		scheme := strings.ToLower(u.Scheme)
		host = strings.TrimSuffix(host, map[string]string{"https": ":443", "http": ":80"}[scheme])
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path
	}
	return norm(a) == norm(b)
}

// publicJWK parses a JWK that must be a public key of a type DPoP
// verifies, and returns the key and its RFC 7638 SHA-256 thumbprint.
func publicJWK(raw []byte) (crypto.PublicKey, string, error) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("jwk: %w", err)
	}
	if m.D != "" || m.K != "" || m.P != "" {
		return nil, "", errors.New("jwk has a private or symmetric part")
	}
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("jwk: %w", err)
	}
	pub := j.Key()
	thumb, err := Thumbprint(pub)
	if err != nil {
		return nil, "", err
	}
	return pub, thumb, nil
}

// Thumbprint is the base64url SHA-256 JWK thumbprint (RFC 7638) of a
// public key: the hash of its required members in lexicographic order,
// without whitespace.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var canon string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		e, err := k.ECDH()
		if err != nil || k.Curve.Params().Name != "P-256" {
			return "", errors.New("jwk: only P-256 EC keys")
		}
		raw := e.Bytes()
		canon = fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":%q,"y":%q}`, b64(raw[1:33]), b64(raw[33:]))
	case ed25519.PublicKey:
		canon = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, b64(k))
	case *rsa.PublicKey:
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, b64(big.NewInt(int64(k.E)).Bytes()), b64(k.N.Bytes()))
	default:
		return "", fmt.Errorf("jwk: key type %T is not one DPoP verifies", pub)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:]), nil
}
