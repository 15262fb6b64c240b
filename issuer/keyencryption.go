package issuer

import "github.com/portcullis/portcullis/internal/token"

// KeyEncryption seals the signing keys in the store with AES-256-GCM under
// a key-encryption key (KEK), so that read access to the store is not
// enough to forge tokens. See [Config.KeyEncryption].
type KeyEncryption = token.KeyEncryption

// KEK is a key-encryption key: an ID recorded in every key it seals (so that
// it can be rotated) and 32 random bytes.
type KEK = token.KEK

// ErrKeyEncryption is returned, wrapped, by [New] when a stored signing key
// cannot be unsealed: it is sealed and Config.KeyEncryption is not set, it
// names a KEK that is not configured, or it does not authenticate under the
// KEK it names (a wrong key, or an altered record).
var ErrKeyEncryption = token.ErrKeyEncryption

// ParseKeyEncryption reads KEKs from a flag or environment variable written
// as "id:base64key", several separated by commas: the first is Current, the
// others Older. Each key is 32 bytes in standard or URL-safe base64, as
// `openssl rand -base64 32` prints. "" is the zero KeyEncryption (no
// sealing).
func ParseKeyEncryption(s string) (KeyEncryption, error) { return token.ParseKeyEncryption(s) }
