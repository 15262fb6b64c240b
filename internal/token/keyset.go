package token

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnknownKey is returned when a token names a kid the key set does not
// hold, or names none.
var ErrUnknownKey = errors.New("token: unknown signing key")

// KeySet is an immutable set of keys: the ones that verify, and the one that
// signs. Build a new set to change it.
type KeySet struct {
	byID    map[string]*Key
	ordered []*Key // by Seq
	signing *Key
	methods []string
	jwks    []byte
}

// NewKeySet builds a set from keys. signing is the id of the key that signs
// (empty for a verify-only set).
func NewKeySet(keys []*Key, signing string) (*KeySet, error) {
	s := &KeySet{byID: make(map[string]*Key, len(keys))}
	var pub []JWK
	for _, k := range keys {
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("token: duplicate key id %q", k.ID)
		}
		s.byID[k.ID] = k
		s.ordered = append(s.ordered, k)
		if !containsString(s.methods, k.Algorithm) {
			s.methods = append(s.methods, k.Algorithm)
		}
		if jwk, ok := k.JWK(); ok {
			pub = append(pub, jwk)
		}
	}
	if signing != "" {
		s.signing = s.byID[signing]
		if s.signing == nil || s.signing.private == nil {
			return nil, fmt.Errorf("token: signing key %q is not in the set or has no private part", signing)
		}
	}
	if pub == nil {
		pub = []JWK{}
	}
	var err error
	s.jwks, err = json.Marshal(struct {
		Keys []JWK `json:"keys"`
	}{pub})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Key returns the key with id kid.
func (s *KeySet) Key(kid string) (*Key, bool) {
	k, ok := s.byID[kid]
	return k, ok
}

// Keys returns every key in the set, oldest first.
func (s *KeySet) Keys() []*Key { return append([]*Key(nil), s.ordered...) }

// SigningKey returns the key that signs, or nil for a verify-only set.
func (s *KeySet) SigningKey() *Key { return s.signing }

// Methods returns the algorithms of the keys in the set.
func (s *KeySet) Methods() []string { return s.methods }

// JWKS returns the public keys as a JSON Web Key Set document. Symmetric
// keys are never in it.
func (s *KeySet) JWKS() []byte { return s.jwks }

// Sign signs claims with the set's signing key.
func (s *KeySet) Sign(claims jwt.Claims) (string, error) {
	if s.signing == nil {
		return "", errors.New("token: key set has no signing key")
	}
	return s.signing.sign(claims)
}

// Keyfunc resolves the key for a parsed token: it must name a kid in the
// set, and the token's alg must be the one that key is pinned to. Anything
// else about the header (jku, x5u, jwk) is ignored.
func (s *KeySet) Keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	k, ok := s.byID[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	if t.Method == nil || t.Method.Alg() != k.Algorithm {
		return nil, fmt.Errorf("%w: key %q is pinned to %s", jwt.ErrTokenSignatureInvalid, kid, k.Algorithm)
	}
	return k.public, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
