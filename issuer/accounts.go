package issuer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/password"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// PasswordConfig configures account passwords: the policy for new ones and
// the argon2id parameters of their hashes. The default parameters are
// RFC 9106 §4's second recommended option (64 MiB, 3 passes, 4 lanes,
// 128-bit salt, 256-bit tag): the first option's 2 GiB per hash is more
// than a server that hashes for many logins at once can give. Changing the
// parameters later is safe: each account's hash is replaced with one made
// with the new parameters at its next successful login, and its tokens
// live on.
//
// Every parameter is bounded, here and in stored hashes (a hash outside the
// bounds never verifies), so that a corrupt or hostile stored hash cannot
// make a login allocate gigabytes or run for minutes.
type PasswordConfig struct {
	// MinLength is the fewest characters (Unicode code points) a new
	// password may have. Default 12; at most 1024. A password has at most
	// 1024 bytes whatever MinLength says, and is never empty.
	MinLength int
	// Memory is argon2id's memory cost in KiB. Default 65536 (64 MiB); from
	// 8 × Parallelism to 2097152 (2 GiB).
	Memory uint32
	// Iterations is argon2id's number of passes over the memory. Default
	// 3; from 1 to 32, and Iterations × Memory at most 4 GiB.
	Iterations uint32
	// Parallelism is argon2id's number of lanes. Default 4; at most 64.
	Parallelism uint8
	// SaltLength in bytes. Default 16; from 16 to 64.
	SaltLength uint32
	// KeyLength is the length of the hash (the tag) in bytes. Default 32;
	// from 16 to 64.
	KeyLength uint32
	// MaxConcurrent bounds how many argon2id computations (logins, new
	// passwords) run at once; the others wait for a turn while their
	// context lasts. Peak memory is about MaxConcurrent × Memory. Default
	// runtime.GOMAXPROCS(0), which already keeps every core busy.
	MaxConcurrent int
}

func (p *PasswordConfig) setDefaults() error {
	if p.MinLength == 0 {
		p.MinLength = password.DefaultMinLength
	}
	if p.MinLength < 0 || p.MinLength > password.MaxLength {
		return fmt.Errorf("issuer: Config.Passwords.MinLength must be 0 (default) or 1 to %d", password.MaxLength)
	}
	params := p.params().WithDefaults()
	if err := params.Validate(); err != nil {
		return fmt.Errorf("issuer: Config.Passwords: %w", err)
	}
	p.Memory, p.Iterations, p.Parallelism = params.Memory, params.Iterations, params.Parallelism
	p.SaltLength, p.KeyLength = params.SaltLength, params.KeyLength
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if p.MaxConcurrent < 0 {
		return errors.New("issuer: Config.Passwords.MaxConcurrent must not be negative")
	}
	return nil
}

func (p *PasswordConfig) params() password.Params {
	return password.Params{Memory: p.Memory, Iterations: p.Iterations, Parallelism: p.Parallelism,
		SaltLength: p.SaltLength, KeyLength: p.KeyLength}
}

// passwords hashes and verifies account passwords, a bounded number at once.
type passwords struct {
	hasher *password.Hasher
	min    int
	turns  chan struct{}
}

func newPasswords(cfg PasswordConfig) (*passwords, error) {
	h, err := password.NewHasher(cfg.params())
	if err != nil {
		return nil, err
	}
	return &passwords{hasher: h, min: cfg.MinLength, turns: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// turn waits for a free slot, or fails with ctx's error; a request whose
// context is already done gets no turn, even when one is free.
func (p *passwords) turn(ctx context.Context) (done func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case p.turns <- struct{}{}:
		return func() { <-p.turns }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *passwords) hash(ctx context.Context, pw string) (string, error) {
	done, err := p.turn(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	return p.hasher.Hash(pw)
}

func (p *passwords) verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	done, err := p.turn(ctx)
	if err != nil {
		return false, false, err
	}
	defer done()
	return p.hasher.Verify(pw, encoded)
}

func (p *passwords) dummy(ctx context.Context, pw string) error {
	done, err := p.turn(ctx)
	if err != nil {
		return err
	}
	defer done()
	p.hasher.Dummy(pw)
	return nil
}

// ErrInvalidAccountSpec is returned (wrapped) for an AccountSpec that
// cannot be stored, and for a new password that breaks the policy (then
// it also wraps the reason: a password that is too short or too long).
var ErrInvalidAccountSpec = errors.New("issuer: invalid account spec")

// Why a new password breaks the policy; returned wrapped together with
// ErrInvalidAccountSpec.
var (
	// ErrPasswordTooShort: empty, or fewer characters than
	// PasswordConfig.MinLength.
	ErrPasswordTooShort = password.ErrTooShort
	// ErrPasswordTooLong: more than 1024 bytes.
	ErrPasswordTooLong = password.ErrTooLong
)

// AccountSpec describes an account to create. Username or Email (or both)
// and Password are required.
type AccountSpec struct {
	// ID of the account. Default: 128 random bits in hex, like client ids.
	// A given id must be 1 to 255 printable ASCII characters without spaces.
	ID string
	// Username is 1 to 255 bytes of printable UTF-8 without spaces, ':' or
	// '@', compared exactly (no case folding, no Unicode normalisation).
	// Without '@' a login is a username or an email at a glance, never
	// both; without ':' it fits in HTTP Basic (RFC 7617 §2).
	Username string
	// Email is an address of at most 254 bytes (RFC 5321's limit) of
	// printable UTF-8 without spaces or ':', with exactly one '@' between a
	// non-empty local part and domain. It is stored lower-cased, and
	// logins with an '@' are lower-cased before the lookup, so that
	// Alice@Example.com and alice@example.com are one account: domains
	// are case-insensitive, and although RFC 5321 lets a local part be
	// case-sensitive, no mail system in use treats it so, and two accounts
	// that differ only by case would invite impersonation. Nothing checks
	// that the address receives mail.
	Email string
	// Password is checked against the policy (see [PasswordConfig]) and
	// stored as an argon2id hash only.
	Password string
	// Roles are stored with the account: at most 64, each 1 to 255
	// printable ASCII characters without spaces.
	Roles []string
}

// Bounds of an account's fields.
const (
	maxUsernameLen = 255
	maxEmailLen    = 254
	maxRoles       = 64
	maxRoleLen     = 255
	// maxLoginLen bounds a login before it reaches the store; it is larger
	// than any username or email (lower-casing can change the byte length).
	maxLoginLen = 1024
)

// CreateAccount stores a new account with its password hashed (argon2id,
// see [PasswordConfig]) and returns it. Its first generation is random,
// like a client's, so that a later account with the same id does not
// revive the tokens of an earlier one. Errors: ErrInvalidAccountSpec
// (wrapping password policy errors), store.ErrAlreadyExists when the id,
// username or email is taken, ctx's error while waiting for a turn to
// hash, or the store's error.
func (i *Issuer) CreateAccount(ctx context.Context, spec AccountSpec) (*store.Account, error) {
	id := spec.ID
	if id == "" {
		id = token.NewClientID()
	}
	email, err := i.checkAccountSpec(id, spec)
	if err != nil {
		return nil, err
	}
	hash, err := i.passwords.hash(ctx, spec.Password)
	if err != nil {
		return nil, fmt.Errorf("issuer: create account: %w", err)
	}
	now := i.cfg.Now()
	a := &store.Account{
		ID:           id,
		Username:     spec.Username,
		Email:        email,
		PasswordHash: hash,
		Roles:        slices.Clone(spec.Roles),
		Generation:   initialGeneration(),
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := i.store.CreateAccount(ctx, a); err != nil {
		return nil, fmt.Errorf("issuer: create account: %w", err)
	}
	i.accountChanged(ctx, a.ID, ActionCreated)
	return a, nil
}

// checkAccountSpec validates spec with the given id and returns its email,
// normalised.
func (i *Issuer) checkAccountSpec(id string, spec AccountSpec) (string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidAccountSpec}, args...)...)
	}
	if len(id) > maxClientIDLen || !printable(id) {
		return "", bad("account id must be 1 to %d printable ASCII characters without spaces", maxClientIDLen)
	}
	if spec.Username == "" && spec.Email == "" {
		return "", bad("an account needs a username or an email")
	}
	if spec.Username != "" && !validUsername(spec.Username) {
		return "", bad("username must be 1 to %d bytes of printable UTF-8 without spaces, ':' or '@'", maxUsernameLen)
	}
	email := strings.ToLower(spec.Email)
	if email != "" && !validEmail(email) {
		return "", bad("email must be at most %d bytes of printable UTF-8 without spaces or ':', with one '@' between a local part and a domain", maxEmailLen)
	}
	if len(spec.Roles) > maxRoles {
		return "", bad("more than %d roles", maxRoles)
	}
	for _, r := range spec.Roles {
		if len(r) > maxRoleLen || !printable(r) {
			return "", bad("role %q must be 1 to %d printable ASCII characters without spaces", r, maxRoleLen)
		}
	}
	if err := password.CheckPolicy(spec.Password, i.passwords.min); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidAccountSpec, err)
	}
	return email, nil
}

// loginRune reports whether r may appear in a username or an email:
// printable, not a space, and not ':' (the HTTP Basic separator).
func loginRune(r rune) bool {
	return r != utf8.RuneError && unicode.IsPrint(r) && !unicode.IsSpace(r) && r != ':'
}

func validUsername(s string) bool {
	if s == "" || len(s) > maxUsernameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !loginRune(r) || r == '@' {
			return false
		}
	}
	return true
}

func validEmail(s string) bool {
	if len(s) > maxEmailLen || !utf8.ValidString(s) {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	for _, r := range s {
		if !loginRune(r) {
			return false
		}
	}
	return true
}

// loginKey is what the store is asked for a login: emails lower-cased as
// they were stored, usernames as given. False for a login no account can
// have.
func loginKey(login string) (string, bool) {
	if login == "" || len(login) > maxLoginLen {
		return "", false
	}
	if strings.Contains(login, "@") {
		return strings.ToLower(login), true
	}
	return login, true
}

// GetAccount returns the account with that id, or an error wrapping
// store.ErrNotFound.
func (i *Issuer) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	a, err := i.store.GetAccount(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("issuer: get account: %w", err)
	}
	return a, nil
}

// FindAccount returns the account whose username or email is login: a
// login with an '@' is an email, compared lower-cased; one without is a
// username, compared exactly. No account: an error wrapping
// store.ErrNotFound.
func (i *Issuer) FindAccount(ctx context.Context, login string) (*store.Account, error) {
	key, ok := loginKey(login)
	if !ok {
		return nil, fmt.Errorf("issuer: find account: %w", store.ErrNotFound)
	}
	a, err := i.store.FindAccount(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("issuer: find account: %w", err)
	}
	return a, nil
}

// SetAccountPassword replaces the account's password and bumps its
// generation, so that every token issued to the account before is refused
// from now on (by this issuer's Verifier at once, by other replicas'
// within their StateTTL). The update is a compare-and-swap on the
// generation, retried a few times when another update races it; after
// that the error wraps store.ErrConflict. Errors: ErrInvalidAccountSpec
// (wrapping the policy's reason), store.ErrNotFound, ctx's error while
// waiting for a turn to hash, or the store's error.
func (i *Issuer) SetAccountPassword(ctx context.Context, id, newPassword string) error {
	if err := password.CheckPolicy(newPassword, i.passwords.min); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAccountSpec, err)
	}
	hash, err := i.passwords.hash(ctx, newPassword)
	if err != nil {
		return fmt.Errorf("issuer: set account password: %w", err)
	}
	if err := i.updateAccount(ctx, id, func(a *store.Account) {
		a.PasswordHash = hash
		a.Generation++
	}); err != nil {
		return fmt.Errorf("issuer: set account password: %w", err)
	}
	i.accountChanged(ctx, id, ActionRotated)
	return nil
}

// DisableAccount refuses the account's logins and every token issued to
// it. It also bumps the generation, so that [Issuer.EnableAccount] does not
// bring those tokens back.
func (i *Issuer) DisableAccount(ctx context.Context, id string) error {
	if err := i.updateAccount(ctx, id, func(a *store.Account) {
		a.Disabled = true
		a.Generation++
	}); err != nil {
		return fmt.Errorf("issuer: disable account: %w", err)
	}
	i.accountChanged(ctx, id, ActionDisabled)
	return nil
}

// EnableAccount lets a disabled account log in again. Tokens issued before
// it was disabled stay dead.
func (i *Issuer) EnableAccount(ctx context.Context, id string) error {
	if err := i.updateAccount(ctx, id, func(a *store.Account) { a.Disabled = false }); err != nil {
		return fmt.Errorf("issuer: enable account: %w", err)
	}
	i.accountChanged(ctx, id, ActionEnabled)
	return nil
}

// DeleteAccount removes the account and every client it owns
// (store.Client.OwnerAccount); the tokens of all of them are refused from
// then on. It disables the account first, so that no account token can
// create a client while the owned ones are being deleted, and so that if
// the deletion fails half-way the account can do nothing until it is
// retried. Errors: store.ErrNotFound, or the store's error.
func (i *Issuer) DeleteAccount(ctx context.Context, id string) error {
	if err := i.DisableAccount(ctx, id); err != nil {
		return fmt.Errorf("issuer: delete account: %w", err)
	}
	if err := i.deleteOwnedClients(ctx, id); err != nil {
		return fmt.Errorf("issuer: delete account: %w", err)
	}
	if err := i.store.DeleteAccount(ctx, id); err != nil {
		return fmt.Errorf("issuer: delete account: %w", err)
	}
	i.forget(store.Event{Kind: store.EventAccountChanged, ID: id, Generation: -1})
	i.accountChanged(ctx, id, ActionDeleted)
	return nil
}

// ownedClientsPage is how many clients deleteOwnedClients lists at a time.
const ownedClientsPage = 100

// deleteOwnedClients deletes the clients owner owns, a page at a time, until
// the store lists none. A client already gone (a concurrent deletion) is no
// error; a store that keeps listing only clients it says are gone is, rather
// than a loop without end.
func (i *Issuer) deleteOwnedClients(ctx context.Context, owner string) error {
	gone := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cs, err := i.store.ListClientsByOwner(ctx, owner, ownedClientsPage)
		if err != nil {
			return err
		}
		progress := false
		for _, c := range cs {
			if gone[c.ID] {
				continue
			}
			progress = true
			err := i.store.DeleteClient(ctx, c.ID)
			if errors.Is(err, store.ErrNotFound) {
				gone[c.ID] = true
			} else if err != nil {
				return err
			}
			i.forget(store.Event{Kind: store.EventClientChanged, ID: c.ID, Generation: -1})
			i.clientChanged(ctx, c.ID, owner, ActionDeleted)
		}
		if len(cs) == 0 {
			return nil
		}
		if !progress {
			return errors.New("issuer: the store keeps listing clients it cannot delete")
		}
	}
}

// updateAccount applies change to the stored account with a
// compare-and-swap on its generation, re-reading and retrying on
// store.ErrConflict, and tells the verifier.
func (i *Issuer) updateAccount(ctx context.Context, id string, change func(*store.Account)) error {
	var err error
	for range maxRetries {
		var a *store.Account
		if a, err = i.store.GetAccount(ctx, id); err != nil {
			return err
		}
		prev := a.Generation
		change(a)
		a.UpdatedAt = i.cfg.Now()
		if err = i.store.UpdateAccount(ctx, a, prev); err == nil {
			i.forget(store.Event{Kind: store.EventAccountChanged, ID: id, Generation: a.Generation})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}

// Reasons a login fails. The login endpoint answers all of them alike;
// they differ for logs and hooks only.
var (
	errLoginFailed     = errors.New("issuer: login failed")
	errUnknownLogin    = fmt.Errorf("%w: unknown login", errLoginFailed)
	errWrongPassword   = fmt.Errorf("%w: wrong password", errLoginFailed)
	errAccountDisabled = fmt.Errorf("%w: account disabled", errLoginFailed)
	errUnreadableHash  = fmt.Errorf("%w: stored password hash unreadable", errLoginFailed)
)

// authenticateAccount checks a login (username or email) and password and
// returns the account. Every failure wraps errLoginFailed, except ctx's
// error while waiting for a turn to hash and the store's errors (a 503).
//
// An unknown login costs what a wrong password costs: one argon2id run
// with the current parameters, against a dummy hash. A disabled account is
// refused after the password check, so that its answer costs the same too.
//
// When the account's hash has other parameters than the current ones, it
// is replaced by a hash made with them, with a compare-and-swap that keeps
// the generation: a rehash must not kill live tokens. A rehash that loses
// a race with another update (a password change, say) is dropped: the
// other update wins, and the next login tries again. Any update of an
// account that does not bump the generation could be overwritten by a
// concurrent rehash; today that is only EnableAccount, which cannot race
// a successful login (the account was disabled when it was read).
//
// The returned account's Generation is the one read before the password
// was checked: mint with it, so that a password change that races this
// login kills the token it gets.
func (i *Issuer) authenticateAccount(ctx context.Context, login, pw string) (*store.Account, error) {
	a, err := i.FindAccount(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		if err := i.passwords.dummy(ctx, pw); err != nil {
			return nil, err
		}
		return nil, errUnknownLogin
	}
	if err != nil {
		return nil, err
	}
	ok, rehash, err := i.passwords.verify(ctx, pw, a.PasswordHash)
	if errors.Is(err, password.ErrMalformedHash) {
		i.log.ErrorContext(ctx, "issuer: an account's stored password hash is unreadable; set a new password",
			"account", a.ID, "err", err)
		// Parsing failed before any hashing: spend what a check costs.
		if err := i.passwords.dummy(ctx, pw); err != nil {
			return nil, err
		}
		return nil, errUnreadableHash
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errWrongPassword
	}
	if a.Disabled {
		return nil, errAccountDisabled
	}
	if rehash {
		i.rehash(ctx, a, pw)
	}
	return a, nil
}

// rehash stores a hash of pw made with the current parameters in a,
// keeping its generation. Failures are logged and otherwise ignored: the
// old hash still works.
func (i *Issuer) rehash(ctx context.Context, a *store.Account, pw string) {
	hash, err := i.passwords.hash(ctx, pw)
	if err != nil {
		i.log.WarnContext(ctx, "issuer: rehashing a password failed", "account", a.ID, "err", err)
		return
	}
	b := *a
	b.PasswordHash = hash
	b.UpdatedAt = i.cfg.Now()
	switch err := i.store.UpdateAccount(ctx, &b, a.Generation); {
	case err == nil:
		a.PasswordHash, a.UpdatedAt = b.PasswordHash, b.UpdatedAt
	case errors.Is(err, store.ErrConflict):
		i.log.DebugContext(ctx, "issuer: password rehash lost a race with another update; dropped", "account", a.ID)
	default:
		i.log.WarnContext(ctx, "issuer: storing a rehashed password failed", "account", a.ID, "err", err)
	}
}

// accountChanged tells the Credentials hook.
func (i *Issuer) accountChanged(ctx context.Context, id, action string) {
	call(ctx, i.cfg.Hooks.Credentials, CredentialsChanged{Subject: SubjectAccount, ID: id, Action: action})
}
