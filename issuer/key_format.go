package issuer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// KeyFormat is the wire format of the account-keys endpoint
// (Paths.AccountKeys), declared in [DialectSpec.Keys] beside the token
// endpoint's, so that an API whose accounts manage their client keys in
// another shape is one more declaration too. The zero value of each field
// is the issuer's own format:
//
//	POST   {path}      → 201 {"client_id":"…","client_secret":"pcs_…","name":"…","created_at":"…"}
//	GET    {path}      → 200 {"keys":[{"client_id":"…","name":"…","created_at":"…"},…]}
//	DELETE {path}/{id} → 204
//
// Whatever it declares, a secret appears once, in the answer to POST, and
// a listing never carries one. [New] checks the declaration like the rest
// of the DialectSpec.
type KeyFormat struct {
	// CreatedStatus is the status of the answer to POST:
	// http.StatusCreated (default) or http.StatusOK.
	CreatedStatus int
	// Created lists the members of the answer to POST, in the order they
	// are written; one must be KeyClientID and one KeyClientSecret.
	// Default: "client_id", "client_secret", "name", "created_at".
	Created []KeyMember
	// Listed lists the members of each key in the answer to GET, in order;
	// one must be KeyClientID, and none may be KeyClientSecret. Default:
	// "client_id", "name", "created_at".
	Listed []KeyMember
	// List names the member of GET's JSON object that holds the keys.
	// Default "keys".
	List string
	// Array answers GET with the keys as a top-level JSON array instead of
	// an object; List must then be empty. Default false.
	Array bool
	// Secret is the form of the secrets of new keys. Default
	// SecretPrefixed.
	Secret SecretFormat
}

// KeyMember is one member of a client key as the account-keys endpoint
// writes it: its name, and what it carries.
type KeyMember struct {
	Name  string
	Field KeyField
}

// KeyField is a value of a client key, as a [KeyMember] carries it.
type KeyField int

// Key fields.
const (
	// KeyClientID: the key's client id, a JSON string.
	KeyClientID KeyField = iota + 1
	// KeyClientSecret: its secret, in the answer to POST only.
	KeyClientSecret
	// KeyName: the name given when it was made; left out when empty.
	KeyName
	// KeyCreatedAt: when it was made, an RFC 3339 JSON string.
	KeyCreatedAt
)

// SecretFormat is the form of the secrets the account-keys endpoint makes.
type SecretFormat string

// Secret formats.
const (
	// SecretPrefixed: "pcs_" and 256 random bits in base62 with a checksum,
	// which secret scanners and people recognise. The default.
	SecretPrefixed SecretFormat = "prefixed"
	// SecretHex: 256 random bits in lowercase hex (64 characters), for APIs
	// whose clients expect that shape. As strong, but with nothing a
	// scanner can recognise it by.
	SecretHex SecretFormat = "hex"
)

// The issuer's own key format, the defaults of KeyFormat.
var (
	defaultCreatedKey = []KeyMember{
		{"client_id", KeyClientID}, {"client_secret", KeyClientSecret}, {"name", KeyName}, {"created_at", KeyCreatedAt},
	}
	defaultListedKey = []KeyMember{{"client_id", KeyClientID}, {"name", KeyName}, {"created_at", KeyCreatedAt}}
)

// keyFormat is the key format of dialect d with its defaults filled in,
// copied from the caller's; dialects that declare none get the issuer's
// own.
func keyFormat(d Dialect) KeyFormat {
	var f KeyFormat
	if spec, ok := asSpec(d); ok {
		f = spec.Keys
		f.Created, f.Listed = slices.Clone(f.Created), slices.Clone(f.Listed)
	}
	if f.CreatedStatus == 0 {
		f.CreatedStatus = http.StatusCreated
	}
	if f.Created == nil {
		f.Created = defaultCreatedKey
	}
	if f.Listed == nil {
		f.Listed = defaultListedKey
	}
	if f.List == "" && !f.Array {
		f.List = "keys"
	}
	if f.Secret == "" {
		f.Secret = SecretPrefixed
	}
	return f
}

func (f KeyFormat) check() error {
	switch f.CreatedStatus {
	case 0, http.StatusOK, http.StatusCreated:
	default:
		return fmt.Errorf("Keys.CreatedStatus must be 200 or 201, not %d", f.CreatedStatus)
	}
	if err := checkKeyMembers("Created", f.Created, true); err != nil {
		return err
	}
	if err := checkKeyMembers("Listed", f.Listed, false); err != nil {
		return err
	}
	if f.Array && f.List != "" {
		return fmt.Errorf("Keys.List names an object member, but Keys.Array answers an array")
	}
	switch f.Secret {
	case "", SecretPrefixed, SecretHex:
	default:
		return fmt.Errorf("Keys.Secret %q is unknown: want %q (the default) or %q", f.Secret, SecretPrefixed, SecretHex)
	}
	return nil
}

// checkKeyMembers checks a declared member list; nil is the default.
func checkKeyMembers(what string, ms []KeyMember, created bool) error {
	if ms == nil {
		return nil
	}
	seen := map[KeyField]bool{}
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		switch {
		case m.Name == "":
			return fmt.Errorf("a Keys.%s member has no name", what)
		case m.Field < KeyClientID || m.Field > KeyCreatedAt:
			return fmt.Errorf("Keys.%s member %q has an unknown Field %d", what, m.Name, m.Field)
		case seen[m.Field]:
			return fmt.Errorf("Keys.%s carries one Field in two members (the second is %q)", what, m.Name)
		}
		seen[m.Field] = true
		names = append(names, m.Name)
	}
	if err := distinct(names); err != nil {
		return fmt.Errorf("Keys.%s: %v", what, err)
	}
	switch {
	case !seen[KeyClientID]:
		return fmt.Errorf("Keys.%s has no KeyClientID member", what)
	case created && !seen[KeyClientSecret]:
		return fmt.Errorf("Keys.%s has no KeyClientSecret member: the secret could never be shown", what)
	case !created && seen[KeyClientSecret]:
		return fmt.Errorf("Keys.%s has a KeyClientSecret member: a listing never shows a secret", what)
	}
	return nil
}

// newSecret makes the secret of a new key.
func (f KeyFormat) newSecret() string {
	if f.Secret == SecretHex {
		return token.NewHexSecret()
	}
	return token.NewClientSecret()
}

// key encodes c with the members ms; secret is written only where a
// member asks for it.
func (f KeyFormat) key(ms []KeyMember, c *store.Client, secret string) []byte {
	var doc document
	for _, m := range ms {
		switch m.Field {
		case KeyClientID:
			doc.add(m.Name, c.ID)
		case KeyClientSecret:
			doc.add(m.Name, secret)
		case KeyName:
			if c.Name != "" {
				doc.add(m.Name, c.Name)
			}
		case KeyCreatedAt:
			doc.add(m.Name, c.CreatedAt)
		}
	}
	return doc.bytes()
}

// list encodes a listing of keys: an array, or an object holding it.
func (f KeyFormat) list(cs []*store.Client) []byte {
	var b bytes.Buffer
	if !f.Array {
		name, _ := json.Marshal(f.List)
		b.WriteByte('{')
		b.Write(name)
		b.WriteByte(':')
	}
	b.WriteByte('[')
	for n, c := range cs {
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(f.key(f.Listed, c, ""))
	}
	b.WriteByte(']')
	if !f.Array {
		b.WriteByte('}')
	}
	return b.Bytes()
}
