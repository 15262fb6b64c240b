package sqlstore

import (
	"context"
	"errors"

	"github.com/portcullis/portcullis/store"
)

// errBadAfter: PostgreSQL's TEXT cannot hold the cursor, so it cannot be
// compared; no id the store holds was handed out as one.
var errBadAfter = errors.New("list cursor is not valid UTF-8 without NUL")

// ListClients implements [store.Lister] with one query by primary key.
func (s *Store) ListClients(ctx context.Context, after string, limit int) ([]*store.Client, error) {
	return list(ctx, s, "list clients", qListClients, after, limit, scanClient)
}

// ListAccounts implements [store.Lister] with one query by primary key.
func (s *Store) ListAccounts(ctx context.Context, after string, limit int) ([]*store.Account, error) {
	return list(ctx, s, "list accounts", qListAccounts, after, limit, scanAccount)
}

func list[T any](ctx context.Context, s *Store, op string, q queryID, after string, limit int, scan func(rowScanner) (*T, error)) ([]*T, error) {
	if limit < 1 || limit > store.MaxListLimit {
		return nil, fail(op, errListLimit)
	}
	if !s.storable(after) {
		return nil, fail(op, errBadAfter)
	}
	rows, err := s.query(ctx, q, after, limit)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}
