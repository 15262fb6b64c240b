package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// EnsureClient makes sure the demo client exists as the flags ask and
// returns it, with what was done in How. On a persistent store:
//
//   - without an id, a new demo client is created on every start;
//   - with an id that does not exist yet, it is created (with the secret,
//     or a generated one);
//   - with an existing id and the same secret, it is reused as it is;
//   - with another secret, that secret replaces the stored one and the
//     client's generation moves on, so every token of the old secret is
//     refused from then on, as after a rotation;
//   - with an id but no secret, the client is rotated: a stored secret
//     cannot be shown again, so a new one is issued and printed;
//   - a disabled client (one that moved to another id, or was disabled) is
//     an error: choose another id.
//
// spec gives the rest of a new client (its name, scopes…); its ID and
// Secret are set from id and secret.
func EnsureClient(ctx context.Context, iss *issuer.Issuer, st store.Clients, id, secret string, spec issuer.ClientSpec) (Client, error) {
	spec.ID, spec.Secret = id, secret
	create := func() (Client, error) {
		c, secret, err := iss.CreateClient(ctx, spec)
		if err != nil {
			return Client{}, fmt.Errorf("demo client: %w", err)
		}
		return Client{ID: c.ID, Secret: secret, How: "created"}, nil
	}
	if id == "" {
		return create()
	}
	c, err := st.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return create()
	case err != nil:
		return Client{}, err
	case c.Disabled:
		return Client{}, fmt.Errorf("demo client %q is disabled (did it change its id?): choose another -client-id", id)
	case secret == "":
		secret, err := iss.RotateClient(ctx, id)
		if err != nil {
			return Client{}, err
		}
		return Client{ID: id, Secret: secret, How: "rotated: its stored secret cannot be shown, so it got a new one"}, nil
	case iss.ClientSecretMatches(c, secret):
		return Client{ID: id, Secret: secret, How: "reused"}, nil
	}
	// A different secret: set it, which bumps the generation so that tokens
	// of the old secret die with it.
	if err := iss.SetClientSecret(ctx, id, secret); err != nil {
		return Client{}, fmt.Errorf("set demo client secret: %w", err)
	}
	return Client{ID: id, Secret: secret, How: "secret replaced; tokens issued with the old one are refused"}, nil
}
