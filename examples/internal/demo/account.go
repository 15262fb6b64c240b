package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// AccountFlags are the demo account's flags, -user, -email and -password,
// for [EnsureAccount].
type AccountFlags struct{ User, Email, Password string }

// Register registers the flags on fs.
func (f *AccountFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.User, "user", "demo", "the demo account's username")
	fs.StringVar(&f.Email, "email", "demo@example.com", "the demo account's email")
	fs.StringVar(&f.Password, "password", "", "the demo account's password (default: a new random one)")
}

// Ensure is [EnsureAccount] with the flags.
func (f AccountFlags) Ensure(ctx context.Context, iss *issuer.Issuer) (Account, error) {
	return EnsureAccount(ctx, iss, f.User, f.Email, f.Password)
}

// Account is the demo account as printed.
type Account struct {
	ID, Username, Email, Password string
	// How says what was done to make it ("created", …).
	How string
}

// Login is what the account logs in with: its username, or its email
// when it has none.
func (a Account) Login() string {
	if a.Username != "" {
		return a.Username
	}
	return a.Email
}

// EnsureAccount makes sure the demo account exists with the username,
// email and password asked for and returns it. An empty password is a new
// random one (128 bits in hex). On a persistent store an existing account
// (found by its username, or its email without one) gets the password of
// this start, which kills its earlier account tokens, as after a password
// change; one whose email differs from the one asked for is an error.
func EnsureAccount(ctx context.Context, iss *issuer.Issuer, username, email, password string) (Account, error) {
	if password == "" {
		password = token.NewClientID()
	}
	login := username
	if login == "" {
		login = email
	}
	if login == "" {
		return Account{}, errors.New("the demo account needs a -user or an -email")
	}
	a, err := iss.FindAccount(ctx, login)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a, err := iss.CreateAccount(ctx, issuer.AccountSpec{Username: username, Email: email, Password: password})
		if err != nil {
			return Account{}, fmt.Errorf("demo account: %w", err)
		}
		return Account{ID: a.ID, Username: a.Username, Email: a.Email, Password: password, How: "created"}, nil
	case err != nil:
		return Account{}, fmt.Errorf("demo account: %w", err)
	case email != "" && a.Email != strings.ToLower(email):
		return Account{}, fmt.Errorf("demo account %q exists with the email %q: pass that -email, or another -user", login, a.Email)
	}
	if err := iss.SetAccountPassword(ctx, a.ID, password); err != nil {
		return Account{}, fmt.Errorf("demo account: %w", err)
	}
	return Account{ID: a.ID, Username: a.Username, Email: a.Email, Password: password,
		How: "password set; its earlier account tokens are refused"}, nil
}

// EnsureAccountKey is [EnsureClient] for a client key the account owns:
// an empty secret is a new one of 256 random bits in hex, and an existing
// key of another owner (or none) is an error, left untouched.
func EnsureAccountKey(ctx context.Context, iss *issuer.Issuer, st store.Clients, account, id, secret, name string) (Client, error) {
	if secret == "" {
		secret = token.NewHexSecret()
	}
	if id != "" {
		c, err := st.GetClient(ctx, id)
		switch {
		case err == nil && c.OwnerAccount != account:
			return Client{}, fmt.Errorf("demo key %q is not the demo account's: choose another -client-id", id)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return Client{}, err
		}
	}
	return EnsureClient(ctx, iss, st, id, secret, issuer.ClientSpec{Name: name, OwnerAccount: account})
}
