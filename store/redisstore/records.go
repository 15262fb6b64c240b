package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/store"
)

// The stored forms. Field names are spelled out so that an operator reading
// a key with redis-cli understands it; times are Unix microseconds. Slices
// and maps are not omitempty, so nil and empty survive the round trip.

func toMicro(t time.Time) int64 { return t.UnixMicro() }

// fromMicro is the inverse of toMicro, in UTC. The zero time round-trips to
// the zero time.
func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }

type clientJSON struct {
	ID           string            `json:"id"`
	SecretHash   []byte            `json:"secret_hash"`
	Name         string            `json:"name"`
	OwnerAccount string            `json:"owner_account"`
	Scopes       []string          `json:"scopes"`
	Audiences    []string          `json:"audiences"`
	Generation   int64             `json:"generation"`
	Disabled     bool              `json:"disabled"`
	CreatedAt    int64             `json:"created_at"`
	UpdatedAt    int64             `json:"updated_at"`
	Metadata     map[string]string `json:"metadata"`
}

func encodeClient(c *store.Client) ([]byte, error) {
	if c == nil {
		return nil, errors.New("nil client")
	}
	return json.Marshal(clientJSON{
		ID: c.ID, SecretHash: c.SecretHash, Name: c.Name, OwnerAccount: c.OwnerAccount,
		Scopes: c.Scopes, Audiences: c.Audiences, Generation: c.Generation, Disabled: c.Disabled,
		CreatedAt: toMicro(c.CreatedAt), UpdatedAt: toMicro(c.UpdatedAt), Metadata: c.Metadata,
	})
}

func decodeClient(b []byte) (*store.Client, error) {
	var j clientJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("decode client: %w", err)
	}
	return &store.Client{
		ID: j.ID, SecretHash: j.SecretHash, Name: j.Name, OwnerAccount: j.OwnerAccount,
		Scopes: j.Scopes, Audiences: j.Audiences, Generation: j.Generation, Disabled: j.Disabled,
		CreatedAt: fromMicro(j.CreatedAt), UpdatedAt: fromMicro(j.UpdatedAt), Metadata: j.Metadata,
	}, nil
}

type accountJSON struct {
	ID           string   `json:"id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	PasswordHash string   `json:"password_hash"`
	Roles        []string `json:"roles"`
	Generation   int64    `json:"generation"`
	Disabled     bool     `json:"disabled"`
	CreatedAt    int64    `json:"created_at"`
	UpdatedAt    int64    `json:"updated_at"`
}

func encodeAccount(a *store.Account) ([]byte, error) {
	if a == nil {
		return nil, errors.New("nil account")
	}
	return json.Marshal(accountJSON{
		ID: a.ID, Username: a.Username, Email: a.Email, PasswordHash: a.PasswordHash,
		Roles: a.Roles, Generation: a.Generation, Disabled: a.Disabled,
		CreatedAt: toMicro(a.CreatedAt), UpdatedAt: toMicro(a.UpdatedAt),
	})
}

func decodeAccount(b []byte) (*store.Account, error) {
	var j accountJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("decode account: %w", err)
	}
	return &store.Account{
		ID: j.ID, Username: j.Username, Email: j.Email, PasswordHash: j.PasswordHash,
		Roles: j.Roles, Generation: j.Generation, Disabled: j.Disabled,
		CreatedAt: fromMicro(j.CreatedAt), UpdatedAt: fromMicro(j.UpdatedAt),
	}, nil
}

type grantJSON struct {
	Kind       string   `json:"kind"`
	Subject    string   `json:"subject"`
	ClientID   string   `json:"client_id"`
	AccountID  string   `json:"account_id"`
	Scopes     []string `json:"scopes"`
	Audience   []string `json:"audience"`
	Generation int64    `json:"generation"`
	IssuedAt   int64    `json:"issued_at"`
	ExpiresAt  int64    `json:"expires_at"`
}

func encodeGrant(g *store.Grant) grantJSON {
	return grantJSON{
		Kind: g.Kind, Subject: g.Subject, ClientID: g.ClientID, AccountID: g.AccountID,
		Scopes: g.Scopes, Audience: g.Audience, Generation: g.Generation,
		IssuedAt: toMicro(g.IssuedAt), ExpiresAt: toMicro(g.ExpiresAt),
	}
}

func (j *grantJSON) grant() store.Grant {
	return store.Grant{
		Kind: j.Kind, Subject: j.Subject, ClientID: j.ClientID, AccountID: j.AccountID,
		Scopes: j.Scopes, Audience: j.Audience, Generation: j.Generation,
		IssuedAt: fromMicro(j.IssuedAt), ExpiresAt: fromMicro(j.ExpiresAt),
	}
}

// refreshJSON leaves out UsedAt: the scripts keep it in its own hash field so
// that marking a token used never rewrites (or parses) the JSON.
// So does ReplacedBy (field 'n'). FamilyIssuedAt is absent from records
// written before it existed, and reads as zero.
type refreshJSON struct {
	Hash           string    `json:"hash"`
	FamilyID       string    `json:"family_id"`
	Grant          grantJSON `json:"grant"`
	FamilyIssuedAt int64     `json:"family_issued_at,omitempty"`
}

func encodeRefresh(t *store.RefreshToken) ([]byte, error) {
	if t == nil {
		return nil, errors.New("nil refresh token")
	}
	j := refreshJSON{Hash: t.Hash, FamilyID: t.FamilyID, Grant: encodeGrant(&t.Grant)}
	if !t.FamilyIssuedAt.IsZero() {
		j.FamilyIssuedAt = toMicro(t.FamilyIssuedAt)
	}
	return json.Marshal(j)
}

func decodeRefresh(b []byte) (*store.RefreshToken, error) {
	var j refreshJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("decode refresh token: %w", err)
	}
	t := &store.RefreshToken{Hash: j.Hash, FamilyID: j.FamilyID, Grant: j.Grant.grant()}
	if j.FamilyIssuedAt != 0 {
		t.FamilyIssuedAt = fromMicro(j.FamilyIssuedAt)
	}
	return t, nil
}

type accessJSON struct {
	Hash     string    `json:"hash"`
	ID       string    `json:"id"`
	FamilyID string    `json:"family_id,omitempty"`
	Grant    grantJSON `json:"grant"`
}

func encodeAccess(t *store.AccessToken) ([]byte, error) {
	if t == nil {
		return nil, errors.New("nil access token")
	}
	return json.Marshal(accessJSON{Hash: t.Hash, ID: t.ID, FamilyID: t.FamilyID, Grant: encodeGrant(&t.Grant)})
}

func decodeAccess(b []byte) (*store.AccessToken, error) {
	var j accessJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("decode access token: %w", err)
	}
	return &store.AccessToken{Hash: j.Hash, ID: j.ID, FamilyID: j.FamilyID, Grant: j.Grant.grant()}, nil
}

// keyJSON leaves out ExpiresAt, which lives in its own hash so that
// UpdateKeyExpiry and Sweep work inside a script without parsing JSON.
type keyJSON struct {
	ID        string `json:"id"`
	Seq       int64  `json:"seq"`
	Algorithm string `json:"algorithm"`
	Private   []byte `json:"private"`
	CreatedAt int64  `json:"created_at"`
	ActiveAt  int64  `json:"active_at"`
}

func encodeKey(k *store.SigningKey) ([]byte, error) {
	if k == nil {
		return nil, errors.New("nil signing key")
	}
	return json.Marshal(keyJSON{
		ID: k.ID, Seq: k.Seq, Algorithm: k.Algorithm, Private: k.Private,
		CreatedAt: toMicro(k.CreatedAt), ActiveAt: toMicro(k.ActiveAt),
	})
}

// decodeKeyList turns the list script's reply, {HGETALL record, HGETALL
// expiry}, into keys ordered by Seq.
func decodeKeyList(r []any) ([]*store.SigningKey, error) {
	if len(r) != 2 {
		return nil, fmt.Errorf("unexpected list reply of %d parts", len(r))
	}
	recs, ok1 := r[0].([]any)
	exps, ok2 := r[1].([]any)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("unexpected list reply %T, %T", r[0], r[1])
	}
	expiry := make(map[string]int64, len(exps)/2)
	for i := 0; i+1 < len(exps); i += 2 {
		id, _ := exps[i].(string)
		v, _ := exps[i+1].(string)
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("key %q expiry: %w", id, err)
		}
		expiry[id] = us
	}
	keys := make([]*store.SigningKey, 0, len(recs)/2)
	for i := 0; i+1 < len(recs); i += 2 {
		v, _ := recs[i+1].(string)
		var j keyJSON
		if err := json.Unmarshal([]byte(v), &j); err != nil {
			return nil, fmt.Errorf("decode signing key: %w", err)
		}
		k := &store.SigningKey{
			ID: j.ID, Seq: j.Seq, Algorithm: j.Algorithm, Private: j.Private,
			CreatedAt: fromMicro(j.CreatedAt), ActiveAt: fromMicro(j.ActiveAt),
		}
		if us, ok := expiry[j.ID]; ok {
			k.ExpiresAt = fromMicro(us)
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b *store.SigningKey) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return keys, nil
}

// eventJSON is the message on the events channel.
type eventJSON struct {
	Kind       store.EventKind `json:"kind"`
	ID         string          `json:"id"`
	Generation int64           `json:"generation"`
}

func encodeEvent(e store.Event) []byte {
	// Marshalling a struct of a string kind, a string and an int cannot fail.
	b, _ := json.Marshal(eventJSON(e))
	return b
}

func decodeEvent(s string) (store.Event, error) {
	var j eventJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return store.Event{}, err
	}
	if j.Kind == "" {
		return store.Event{}, errors.New("event without kind")
	}
	return store.Event(j), nil
}
