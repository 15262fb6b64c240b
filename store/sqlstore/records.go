package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/store"
)

// CreateClient implements [store.Clients].
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	const op = "create client"
	scopes, auds, meta, err := clientJSON(c)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qCreateClient, c.ID, c.SecretHash, c.Name, c.OwnerAccount, scopes, auds,
		c.Generation, c.Disabled, micros(c.CreatedAt), micros(c.UpdatedAt), meta)
	if s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// GetClient implements [store.Clients].
//
// An unknown id costs what a known one does, so that the time the issuer
// takes to refuse it does not tell which ids exist: the query returns one
// row either way (a LEFT JOIN from a one-row table), and a miss fills the
// text columns with those of the last client found, which are decoded as a
// hit's are.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	const op = "get client"
	if !s.storable(id) {
		return nil, notFound(op)
	}
	like := s.lastClient.Load()
	if like == nil {
		like = &defaultClientText
	}
	var (
		c   *store.Client
		raw clientText
	)
	err := s.readRow(ctx, qGetClient, func(r rowScanner) (err error) {
		c, raw, err = scanClientText(r)
		return err
	}, id+"-", like.name, like.scopes, like.auds, like.meta, id) // a miss's id is not id
	if err != nil {
		return nil, fail(op, err)
	}
	if c.ID != id {
		return nil, notFound(op)
	}
	s.lastClient.Store(&raw)
	return c, nil
}

// clientText is a client row's text columns as stored.
type clientText struct{ name, scopes, auds, meta string }

// defaultClientText stands in for the last client found until there is one.
var defaultClientText = clientText{
	name:   "a client",
	scopes: `["read","write"]`,
	auds:   `["https://api.example.com"]`,
	meta:   `{"portcullis.grant_types":"client_credentials"}`,
}

func scanClient(r rowScanner) (*store.Client, error) {
	c, _, err := scanClientText(r)
	return c, err
}

// scanClientText scans a client row and also returns its text columns.
func scanClientText(r rowScanner) (*store.Client, clientText, error) {
	var (
		c                store.Client
		t                clientText
		created, updated int64
	)
	if err := r.Scan(&c.ID, &c.SecretHash, &t.name, &c.OwnerAccount, &t.scopes, &t.auds,
		&c.Generation, &c.Disabled, &created, &updated, &t.meta); err != nil {
		return nil, t, err
	}
	c.Name = t.name
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := decode(t.scopes, &c.Scopes); err != nil {
		return nil, t, err
	}
	if err := decode(t.auds, &c.Audiences); err != nil {
		return nil, t, err
	}
	if err := decode(t.meta, &c.Metadata); err != nil {
		return nil, t, err
	}
	return &c, t, nil
}

// clientJSON encodes the client's JSON columns, in the order the queries
// take them: scopes, audiences, metadata.
func clientJSON(c *store.Client) (scopes, auds, meta string, err error) {
	if scopes, err = encode(c.Scopes); err != nil {
		return "", "", "", err
	}
	if auds, err = encode(c.Audiences); err != nil {
		return "", "", "", err
	}
	if meta, err = encode(c.Metadata); err != nil {
		return "", "", "", err
	}
	return scopes, auds, meta, nil
}

// UpdateClient implements [store.Clients]: one conditional UPDATE on the
// generation, so that of two concurrent rotations exactly one wins.
func (s *Store) UpdateClient(ctx context.Context, c *store.Client, prevGeneration int64) error {
	const op = "update client"
	scopes, auds, meta, err := clientJSON(c)
	if err != nil {
		return err
	}
	logAs := store.Change{Event: store.Event{Kind: store.EventClientChanged, ID: c.ID, Generation: c.Generation}}
	n, err := s.logged(ctx, qUpdateClient, logAs, c.SecretHash, c.Name, c.OwnerAccount, scopes, auds,
		c.Generation, c.Disabled, micros(c.CreatedAt), micros(c.UpdatedAt), meta, c.ID, prevGeneration)
	if err != nil {
		return fail(op, err)
	}
	if n == 1 {
		return nil
	}
	return s.casMiss(ctx, op, qClientGeneration, c.ID, prevGeneration)
}

// casMiss explains a compare-and-swap UPDATE that changed no row: the record
// is missing (ErrNotFound) or has another generation (ErrConflict). MySQL
// counts changed rows, not matched ones, so there an update that matched but
// rewrote identical values also lands here: the generation still equals
// prevGeneration and the update did succeed.
func (s *Store) casMiss(ctx context.Context, op string, id queryID, key string, prevGeneration int64) error {
	var gen int64
	err := s.row(ctx, id, func(r rowScanner) error { return r.Scan(&gen) }, key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound(op)
	case err != nil:
		return fail(op, err)
	case gen == prevGeneration && s.d == MySQL:
		return nil
	}
	return fmt.Errorf("sqlstore: %s: %w", op, store.ErrConflict)
}

// DeleteClient implements [store.Clients].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "delete client", qDeleteClient, id, store.EventClientChanged)
}

// The listing arguments the store contract refuses: an empty owner would
// list every unowned client, and the limit bounds what one call reads.
var (
	errNoOwner   = errors.New("empty owner")
	errListLimit = fmt.Errorf("list limit must be from 1 to %d", store.MaxListLimit)
)

// ListClientsByOwner implements [store.Clients] with one indexed query.
func (s *Store) ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*store.Client, error) {
	const op = "list clients by owner"
	if owner == "" {
		return nil, fail(op, errNoOwner)
	}
	if limit < 1 || limit > store.MaxListLimit {
		return nil, fail(op, errListLimit)
	}
	if !s.storable(owner) {
		return nil, nil // no row can hold it, so no client has it
	}
	rows, err := s.query(ctx, qListClientsByOwner, owner, limit)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var cs []*store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fail(op, err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(op, err)
	}
	return cs, nil
}

// deleteOne runs a DELETE by key and reports ErrNotFound when it removed
// nothing (DELETE counts are exact on every dialect). A deletion of kind
// logAs (none when empty) goes to the change log, as generation -1.
func (s *Store) deleteOne(ctx context.Context, op string, id queryID, key string, logAs store.EventKind) error {
	if !s.storable(key) {
		return notFound(op)
	}
	var (
		n   int64
		err error
	)
	if logAs == "" {
		n, err = s.affected(ctx, id, key)
	} else {
		n, err = s.logged(ctx, id, store.Change{Event: store.Event{Kind: logAs, ID: key, Generation: -1}}, key)
	}
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// CreateAccount implements [store.Accounts]. Empty usernames and emails are
// stored as NULL, so they never collide.
func (s *Store) CreateAccount(ctx context.Context, a *store.Account) error {
	const op = "create account"
	roles, err := encode(a.Roles)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qCreateAccount, a.ID, nullable(a.Username), nullable(a.Email), a.PasswordHash, roles,
		a.Generation, a.Disabled, micros(a.CreatedAt), micros(a.UpdatedAt))
	if s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// GetAccount implements [store.Accounts].
func (s *Store) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	if !s.storable(id) {
		return nil, notFound("get account")
	}
	return s.getAccount(ctx, "get account", qGetAccount, id)
}

// FindAccount implements [store.Accounts]. If login is one account's
// username and another's email, the username wins.
func (s *Store) FindAccount(ctx context.Context, login string) (*store.Account, error) {
	if login == "" || !s.storable(login) {
		return nil, notFound("find account")
	}
	return s.getAccount(ctx, "find account", qFindAccount, login, login, login)
}

func (s *Store) getAccount(ctx context.Context, op string, id queryID, args ...any) (*store.Account, error) {
	var a *store.Account
	err := s.readRow(ctx, id, func(r rowScanner) (err error) {
		a, err = scanAccount(r)
		return err
	}, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op)
	}
	if err != nil {
		return nil, fail(op, err)
	}
	return a, nil
}

func scanAccount(r rowScanner) (*store.Account, error) {
	var (
		a                store.Account
		username, email  sql.NullString
		roles            string
		created, updated int64
	)
	if err := r.Scan(&a.ID, &username, &email, &a.PasswordHash, &roles,
		&a.Generation, &a.Disabled, &created, &updated); err != nil {
		return nil, err
	}
	a.Username, a.Email = username.String, email.String
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := decode(roles, &a.Roles); err != nil {
		return nil, err
	}
	return &a, nil
}

// UpdateAccount implements [store.Accounts].
func (s *Store) UpdateAccount(ctx context.Context, a *store.Account, prevGeneration int64) error {
	const op = "update account"
	roles, err := encode(a.Roles)
	if err != nil {
		return err
	}
	logAs := store.Change{Event: store.Event{Kind: store.EventAccountChanged, ID: a.ID, Generation: a.Generation}}
	n, err := s.logged(ctx, qUpdateAccount, logAs, nullable(a.Username), nullable(a.Email), a.PasswordHash, roles,
		a.Generation, a.Disabled, micros(a.CreatedAt), micros(a.UpdatedAt), a.ID, prevGeneration)
	if s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	if n == 1 {
		return nil
	}
	return s.casMiss(ctx, op, qAccountGeneration, a.ID, prevGeneration)
}

// DeleteAccount implements [store.Accounts].
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "delete account", qDeleteAccount, id, store.EventAccountChanged)
}

// CreateKey implements [store.Keys]. The primary key on id and the unique
// key on seq make of replicas racing to create key n exactly one winner.
func (s *Store) CreateKey(ctx context.Context, k *store.SigningKey) error {
	const op = "create key"
	_, err := s.exec(ctx, qCreateKey, k.ID, k.Seq, k.Algorithm, k.Private,
		micros(k.CreatedAt), micros(k.ActiveAt), micros(k.ExpiresAt))
	if s.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrAlreadyExists)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// ListKeys implements [store.Keys].
func (s *Store) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	const op = "list keys"
	rows, err := s.query(ctx, qListKeys)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var keys []*store.SigningKey
	for rows.Next() {
		var (
			k                        store.SigningKey
			created, active, expires int64
		)
		if err := rows.Scan(&k.ID, &k.Seq, &k.Algorithm, &k.Private, &created, &active, &expires); err != nil {
			return nil, fail(op, err)
		}
		k.CreatedAt, k.ActiveAt, k.ExpiresAt = fromMicros(created), fromMicros(active), fromMicros(expires)
		keys = append(keys, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(op, err)
	}
	return keys, nil
}

// UpdateKeyExpiry implements [store.Keys].
func (s *Store) UpdateKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error {
	const op = "update key expiry"
	n, err := s.affected(ctx, qUpdateKeyExpiry, micros(expiresAt), id)
	if err != nil {
		return fail(op, err)
	}
	if n == 1 {
		return nil
	}
	// MySQL reports 0 when the expiry was already that value.
	var one int
	err = s.row(ctx, qKeyExists, func(r rowScanner) error { return r.Scan(&one) }, id)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(op)
	}
	if err != nil {
		return fail(op, err)
	}
	return nil
}

// DeleteKey implements [store.Keys].
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "delete key", qDeleteKey, id, "")
}
