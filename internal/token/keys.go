package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/store"
)

// Signing algorithms a key can be pinned to.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
	HS256 = "HS256"
)

// ErrUnsupportedAlgorithm is returned for an algorithm Portcullis does not
// sign or verify with.
var ErrUnsupportedAlgorithm = errors.New("token: unsupported algorithm")

// Key is a parsed signing key pinned to one algorithm.
type Key struct {
	ID        string
	Algorithm string
	method    jwt.SigningMethod
	private   any // *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey or []byte (HS256)
	public    any // what the verifier uses: the public key, or the secret for HS256
	ActiveAt  time.Time
	ExpiresAt time.Time
	Seq       int64
	// kekID is the KEK the stored key is sealed with; "" in the clear.
	kekID string
	// signHeader is the base64url header of the tokens the key signs,
	// and pads its HMAC pads (HS256): see SignAccess.
	signHeader string
	pads       *hmacPads
}

// Symmetric reports whether the key is an HMAC secret, which is never
// published.
func (k *Key) Symmetric() bool { return k.Algorithm == HS256 }

// Public returns the key that verifies signatures: a public key, or the
// secret itself for HS256.
func (k *Key) Public() any { return k.public }

func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case ES256:
		return jwt.SigningMethodES256, nil
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	case HS256:
		return jwt.SigningMethodHS256, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
}

// GenerateKey makes a new signing key for alg, ready to store. Its id is
// random; the caller sets Seq, ActiveAt and ExpiresAt.
func GenerateKey(alg string, now time.Time) (*store.SigningKey, error) {
	var priv any
	switch alg {
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	case RS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		priv = k
	case HS256:
		secret := make([]byte, 32)
		rand.Read(secret)
		return &store.SigningKey{ID: randomID(12), Algorithm: alg, Private: secret, CreatedAt: now, ActiveAt: now}, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{ID: randomID(12), Algorithm: alg, Private: der, CreatedAt: now, ActiveAt: now}, nil
}

// ParseKey turns a stored key into a Key, checking that the key material
// matches the algorithm it is pinned to.
func ParseKey(sk *store.SigningKey) (*Key, error) {
	m, err := signingMethod(sk.Algorithm)
	if err != nil {
		return nil, err
	}
	k := &Key{ID: sk.ID, Algorithm: sk.Algorithm, method: m, ActiveAt: sk.ActiveAt, ExpiresAt: sk.ExpiresAt, Seq: sk.Seq}
	if sk.Algorithm == HS256 {
		if len(sk.Private) < 32 {
			return nil, fmt.Errorf("token: HS256 key %q is shorter than 256 bits", sk.ID)
		}
		secret := append([]byte(nil), sk.Private...)
		k.private, k.public = secret, secret
		k.pads = newHMACPads(secret)
		return k, k.prepareSigning()
	}
	priv, err := x509.ParsePKCS8PrivateKey(sk.Private)
	if err != nil {
		return nil, fmt.Errorf("token: key %q: %w", sk.ID, err)
	}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if sk.Algorithm != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("token: key %q is not an %s key", sk.ID, sk.Algorithm)
		}
		k.private, k.public = p, &p.PublicKey
	case ed25519.PrivateKey:
		if sk.Algorithm != EdDSA {
			return nil, fmt.Errorf("token: key %q is not an %s key", sk.ID, sk.Algorithm)
		}
		k.private, k.public = p, p.Public()
	case *rsa.PrivateKey:
		if sk.Algorithm != RS256 || p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("token: key %q is not an %s key of at least 2048 bits", sk.ID, sk.Algorithm)
		}
		k.private, k.public = p, &p.PublicKey
	default:
		return nil, fmt.Errorf("token: key %q has an unsupported type %T", sk.ID, priv)
	}
	return k, k.prepareSigning()
}

// prepareSigning encodes the header of the tokens k signs, once.
func (k *Key) prepareSigning() (err error) {
	k.signHeader, err = signHeader(k)
	return err
}

// NewPublicKey makes a verification-only Key from a public key (or an HMAC
// secret for HS256), for verifiers that do not hold private keys.
func NewPublicKey(id, alg string, public any) (*Key, error) {
	m, err := signingMethod(alg)
	if err != nil {
		return nil, err
	}
	ok := false
	switch p := public.(type) {
	case *ecdsa.PublicKey:
		ok = alg == ES256 && p.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == EdDSA
	case *rsa.PublicKey:
		ok = alg == RS256 && p.N.BitLen() >= 2048
	case []byte:
		ok = alg == HS256 && len(p) >= 32
	}
	if !ok {
		return nil, fmt.Errorf("token: key %q of type %T cannot verify %s", id, public, alg)
	}
	return &Key{ID: id, Algorithm: alg, method: m, public: public}, nil
}

// sign signs claims with this key, setting typ and kid.
func (k *Key) sign(claims jwt.Claims) (string, error) {
	if k.private == nil {
		return "", fmt.Errorf("token: key %q has no private part", k.ID)
	}
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["typ"] = JWTType
	t.Header["kid"] = k.ID
	return t.SignedString(k.private)
}

// JWK is one public key in a JSON Web Key Set (RFC 7517).
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWK returns the key's public JWK; ok is false for symmetric keys, which
// are never published.
func (k *Key) JWK() (jwk JWK, ok bool) {
	b64 := base64.RawURLEncoding.EncodeToString
	jwk = JWK{Use: "sig", Alg: k.Algorithm, Kid: k.ID}
	switch p := k.public.(type) {
	case *ecdsa.PublicKey:
		jwk.Kty, jwk.Crv = "EC", "P-256"
		pub, err := p.Bytes() // uncompressed point: 0x04 || X || Y
		if err != nil {
			return JWK{}, false
		}
		jwk.X, jwk.Y = b64(pub[1:33]), b64(pub[33:65])
	case ed25519.PublicKey:
		jwk.Kty, jwk.Crv, jwk.X = "OKP", "Ed25519", b64(p)
	case *rsa.PublicKey:
		jwk.Kty, jwk.N, jwk.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	default:
		return JWK{}, false
	}
	return jwk, true
}

// Signer is the private half of a Key, for callers that need crypto.Signer.
func (k *Key) Signer() (crypto.Signer, bool) {
	s, ok := k.private.(crypto.Signer)
	return s, ok
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
