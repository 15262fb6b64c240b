package token

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/store"
)

// ErrKeyEncryption is returned, wrapped, when a stored signing key cannot
// be read with the configured key-encryption keys: it is sealed and no KEK
// is configured, it was sealed with a KEK that is not configured, or its
// sealed blob fails authentication (a wrong key, or the blob was altered).
// It is never answered by falling back to another key.
var ErrKeyEncryption = errors.New("token: signing key cannot be unsealed")

// KEK is a key-encryption key: an AES-256 key that seals signing keys at
// rest, named by an ID that every blob it seals records.
type KEK struct {
	// ID names the key in the blobs it seals, so that it can be rotated:
	// 1 to 255 bytes, unique among the configured KEKs.
	ID string
	// Key is the AES-256 key: exactly 32 bytes, from a secret store or
	// `openssl rand -base64 32`, never from a password.
	Key []byte
}

// KeyEncryption seals signing keys at rest with AES-256-GCM. The zero
// value seals nothing: keys are stored in the clear, as before sealing
// existed.
//
// To rotate the KEK: first add the new KEK to Older on every process that
// reads the keys, then make it Current and move the old one to Older; the
// key manager then rotates the signing key (publishing the new one ahead,
// as any rotation) so that no published key stays sealed with the old KEK
// past the key retention (25 h by default), after which the old KEK can go.
type KeyEncryption struct {
	// Current seals every new signing key, and unseals the keys it sealed.
	Current KEK
	// Older KEKs only unseal keys sealed before Current replaced them.
	Older []KEK
}

// Enabled reports whether a KEK is configured.
func (e KeyEncryption) Enabled() bool { return e.Current.ID != "" || len(e.Current.Key) > 0 }

// Check reports what is wrong with e, if anything.
func (e KeyEncryption) Check() error {
	if !e.Enabled() {
		if len(e.Older) > 0 {
			return errors.New("token: KeyEncryption.Older is set without a Current KEK")
		}
		return nil
	}
	seen := map[string]bool{}
	for i, k := range append([]KEK{e.Current}, e.Older...) {
		where := "KeyEncryption.Current"
		if i > 0 {
			where = fmt.Sprintf("KeyEncryption.Older[%d]", i-1)
		}
		if k.ID == "" || len(k.ID) > 255 {
			return fmt.Errorf("token: %s.ID must be 1 to 255 bytes", where)
		}
		if len(k.Key) != 32 {
			return fmt.Errorf("token: %s.Key must be 32 bytes (AES-256), not %d", where, len(k.Key))
		}
		if seen[k.ID] {
			return fmt.Errorf("token: KEK id %q is configured twice", k.ID)
		}
		seen[k.ID] = true
	}
	return nil
}

// ParseKeyEncryption reads KEKs written as "id:base64key", several
// separated by commas: the first is Current, the others Older. The key is
// standard or URL-safe base64, padded or not, of 32 bytes. "" is the zero
// KeyEncryption.
func ParseKeyEncryption(s string) (KeyEncryption, error) {
	var e KeyEncryption
	if strings.TrimSpace(s) == "" {
		return e, nil
	}
	for i, part := range strings.Split(s, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return KeyEncryption{}, fmt.Errorf("token: KEK %d: want id:base64key", i+1)
		}
		key, err := decodeBase64(b64)
		if err != nil {
			return KeyEncryption{}, fmt.Errorf("token: KEK %q: %w", id, err)
		}
		if i == 0 {
			e.Current = KEK{ID: id, Key: key}
		} else {
			e.Older = append(e.Older, KEK{ID: id, Key: key})
		}
	}
	if err := e.Check(); err != nil {
		return KeyEncryption{}, err
	}
	return e, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// The sealed form of store.SigningKey.Private, version 1:
//
//	"pcsk" 0x01 | len(kekID) (1 byte) | kekID | len(pub) (2 bytes, big endian) | pub | nonce (12) | AES-256-GCM(private) with its tag
//
// pub is the public key in PKIX DER (empty for HS256), stored in the clear
// so that a verifier without the KEK can still check asymmetric
// signatures. The additional data is everything before the nonce, then
// the key's ID and algorithm, so a blob moved to another key record, or
// its public part or KEK id altered, fails authentication. A key stored in
// the clear (PKCS #8 DER starts with 0x30; an HS256 secret is random) is
// told apart by the magic: a 32-byte random secret starts with it with
// probability 2^-40.
var sealMagic = []byte("pcsk\x01")

// sealed is a parsed sealed blob.
type sealed struct {
	kekID  string
	public []byte
	header []byte // what the nonce follows
	nonce  []byte
	ct     []byte
}

// isSealed reports whether private is a sealed blob (of any version).
func isSealed(private []byte) bool { return bytes.HasPrefix(private, sealMagic[:4]) }

func parseSealed(b []byte) (*sealed, error) {
	if !bytes.HasPrefix(b, sealMagic) {
		return nil, errors.New("unknown sealed key version")
	}
	rest := b[len(sealMagic):]
	if len(rest) < 1 || len(rest) < 1+int(rest[0])+2 {
		return nil, errors.New("truncated sealed key")
	}
	n := int(rest[0])
	s := &sealed{kekID: string(rest[1 : 1+n])}
	rest = rest[1+n:]
	p := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) < p+12+16 {
		return nil, errors.New("truncated sealed key")
	}
	s.public = rest[:p]
	s.header = b[:len(b)-len(rest)+p]
	s.nonce = rest[p : p+12]
	s.ct = rest[p+12:]
	return s, nil
}

func additionalData(header []byte, id, alg string) []byte {
	ad := append([]byte(nil), header...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(id)))
	ad = append(ad, id...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(alg)))
	return append(ad, alg...)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal replaces sk.Private by its sealed form under the Current KEK. It
// does nothing when no KEK is configured.
func (e KeyEncryption) seal(sk *store.SigningKey) error {
	if !e.Enabled() {
		return nil
	}
	var pub []byte
	if sk.Algorithm != HS256 {
		k, err := ParseKey(sk)
		if err != nil {
			return err
		}
		if pub, err = x509.MarshalPKIXPublicKey(k.public); err != nil {
			return err
		}
	}
	header := append([]byte(nil), sealMagic...)
	header = append(header, byte(len(e.Current.ID)))
	header = append(header, e.Current.ID...)
	header = binary.BigEndian.AppendUint16(header, uint16(len(pub)))
	header = append(header, pub...)
	aead, err := newGCM(e.Current.Key)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := append(header, nonce...)
	sk.Private = aead.Seal(out, nonce, sk.Private, additionalData(header, sk.ID, sk.Algorithm))
	return nil
}

// parseStored parses a stored key, sealed or in the clear. A sealed key is
// unsealed with the configured KEK its blob names, and its blob
// authenticated; with no KEK configured and publicOnly set, an asymmetric
// sealed key is read from its public part alone (a verifier needs no
// more). kekID is the KEK the key was sealed with, "" when in the clear.
func (e KeyEncryption) parseStored(sk *store.SigningKey, publicOnly bool) (k *Key, kekID string, err error) {
	if !isSealed(sk.Private) {
		k, err := ParseKey(sk)
		return k, "", err
	}
	s, err := parseSealed(sk.Private)
	if err != nil {
		return nil, "", fmt.Errorf("%w: key %q: %v", ErrKeyEncryption, sk.ID, err)
	}
	var kek []byte
	for _, c := range append([]KEK{e.Current}, e.Older...) {
		if c.ID != "" && c.ID == s.kekID {
			kek = c.Key
		}
	}
	switch {
	case kek == nil && e.Enabled():
		return nil, "", fmt.Errorf("%w: key %q is sealed with KEK %q, which is not configured", ErrKeyEncryption, sk.ID, s.kekID)
	case kek == nil && publicOnly && sk.Algorithm != HS256:
		pub, err := x509.ParsePKIXPublicKey(s.public)
		if err != nil {
			return nil, "", fmt.Errorf("%w: key %q: public part: %v", ErrKeyEncryption, sk.ID, err)
		}
		k, err := NewPublicKey(sk.ID, sk.Algorithm, pub)
		if err != nil {
			return nil, "", err
		}
		k.ActiveAt, k.ExpiresAt, k.Seq = sk.ActiveAt, sk.ExpiresAt, sk.Seq
		return k, s.kekID, nil
	case kek == nil:
		return nil, "", fmt.Errorf("%w: key %q (%s) is sealed with KEK %q and no key encryption is configured", ErrKeyEncryption, sk.ID, sk.Algorithm, s.kekID)
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, "", err
	}
	private, err := aead.Open(nil, s.nonce, s.ct, additionalData(s.header, sk.ID, sk.Algorithm))
	if err != nil {
		return nil, "", fmt.Errorf("%w: key %q does not open with KEK %q (wrong key, or the stored key was altered)", ErrKeyEncryption, sk.ID, s.kekID)
	}
	plain := *sk
	plain.Private = private
	k, err = ParseKey(&plain)
	if err != nil {
		return nil, "", err
	}
	return k, s.kekID, nil
}

// Clone returns a deep copy of e, so that a caller changing its slices
// later cannot change a running configuration.
func (e KeyEncryption) Clone() KeyEncryption {
	c := KeyEncryption{Current: KEK{ID: e.Current.ID, Key: bytes.Clone(e.Current.Key)}}
	for _, k := range e.Older {
		c.Older = append(c.Older, KEK{ID: k.ID, Key: bytes.Clone(k.Key)})
	}
	return c
}
