package middleware

import "github.com/portcullis/portcullis/internal/token"

// KeyEncryption holds the key-encryption keys that unseal the signing keys
// an issuer sealed in the store (issuer.Config.KeyEncryption); see
// [LocalConfig.KeyEncryption].
type KeyEncryption = token.KeyEncryption

// KEK is a key-encryption key: an ID and 32 bytes.
type KEK = token.KEK

// ErrKeyEncryption is returned, wrapped, by [NewLocalVerifier] when a
// signing key in the store cannot be read with LocalConfig.KeyEncryption.
var ErrKeyEncryption = token.ErrKeyEncryption
