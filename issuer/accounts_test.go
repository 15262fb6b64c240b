package issuer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/password"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// fastPasswords are argon2id parameters that keep the tests fast; they are
// no protection in production.
var fastPasswords = issuer.PasswordConfig{Memory: 64, Iterations: 1, Parallelism: 1}

const (
	alicePassword = "correct horse battery staple"
	newPassword   = "tr0ub4dor&3 is not enough"
)

func newAccountEnv(t testing.TB, mod func(*issuer.Config)) *env {
	return newEnv(t, false, func(c *issuer.Config) {
		c.Passwords = fastPasswords
		if mod != nil {
			mod(c)
		}
	})
}

func (e *env) account(spec issuer.AccountSpec) *store.Account {
	e.t.Helper()
	a, err := e.iss.CreateAccount(e.t.Context(), spec)
	if err != nil {
		e.t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

// accountToken signs an account token for a at generation gen with the
// issuer's key, as the login endpoint will.
func (e *env) accountToken(a *store.Account, gen int64) string {
	e.t.Helper()
	ks, err := issuer.SigningKeySet(e.t.Context(), e.iss)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	raw, err := ks.Sign(&token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   a.ID,
			Audience:  jwt.ClaimStrings{testIssuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(12 * time.Hour)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        "jti-" + a.ID + "-" + strconv.FormatInt(gen, 10),
		},
		AccountID:  a.ID,
		Kind:       "account",
		Generation: gen,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func (e *env) tokenLives(raw string) bool {
	e.t.Helper()
	_, err := e.iss.Verifier().Verify(e.t.Context(), raw)
	if err != nil && !errors.Is(err, middleware.ErrInvalidToken) {
		e.t.Fatalf("Verify: %v", err)
	}
	return err == nil
}

func TestCreateAccount(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{Username: "alice", Email: "Alice@Example.COM", Password: alicePassword, Roles: []string{"admin"}})
	if len(a.ID) != 32 {
		t.Errorf("generated id %q, want 32 hex characters", a.ID)
	}
	if _, err := hex.DecodeString(a.ID); err != nil {
		t.Errorf("generated id %q is not hex", a.ID)
	}
	stored, err := e.st.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Username != "alice" || stored.Email != "alice@example.com" || len(stored.Roles) != 1 || stored.Roles[0] != "admin" ||
		stored.Disabled || stored.Generation != a.Generation || !stored.CreatedAt.Equal(epoch) || !stored.UpdatedAt.Equal(epoch) {
		t.Errorf("stored account %+v", stored)
	}
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(stored.PasswordHash, alicePassword) {
		t.Errorf("stored hash %q", stored.PasswordHash)
	}
	if ok, _, err := password.Verify(alicePassword, stored.PasswordHash, password.Params{Memory: 64, Iterations: 1, Parallelism: 1}); !ok || err != nil {
		t.Errorf("stored hash does not verify the password: %v, %v", ok, err)
	}

	// Found by username (exactly) and by email (any case); got by id.
	for _, login := range []string{"alice", "alice@example.com", "ALICE@example.com", "Alice@Example.COM"} {
		got, err := e.iss.FindAccount(ctx, login)
		if err != nil || got.ID != a.ID {
			t.Errorf("FindAccount(%q) = %+v, %v", login, got, err)
		}
	}
	for _, login := range []string{"Alice", "alice ", "", "bob", "alice@example.org", strings.Repeat("a", 2000)} {
		if got, err := e.iss.FindAccount(ctx, login); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindAccount(%q) = %+v, %v; want ErrNotFound", login, got, err)
		}
	}
	if got, err := e.iss.GetAccount(ctx, a.ID); err != nil || got.Username != "alice" {
		t.Errorf("GetAccount = %+v, %v", got, err)
	}
	if _, err := e.iss.GetAccount(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccount(unknown) = %v, want ErrNotFound", err)
	}

	// Username only, email only, a chosen id, Unicode.
	b := e.account(issuer.AccountSpec{ID: "acct-b", Username: "bob", Password: alicePassword})
	c := e.account(issuer.AccountSpec{Email: "carol@example.com", Password: alicePassword})
	d := e.account(issuer.AccountSpec{Username: "Zoë", Email: "ZOË@exämple.com", Password: "ünïcødé pässwörd"})
	if b.ID != "acct-b" || b.Email != "" || c.Username != "" || d.Email != "zoë@exämple.com" {
		t.Errorf("accounts %+v %+v %+v", b, c, d)
	}
	if got, err := e.iss.FindAccount(ctx, "Zoë@EXÄMPLE.com"); err != nil || got.ID != d.ID {
		t.Errorf("FindAccount(Unicode email) = %+v, %v", got, err)
	}
	// Two accounts with one id, even re-created, never share a generation
	// by construction: the first generation is random.
	if a.Generation == b.Generation && b.Generation == c.Generation {
		t.Errorf("three accounts start at generation %d", a.Generation)
	}
}

func TestCreateAccountDuplicate(t *testing.T) {
	e := newAccountEnv(t, nil)
	e.account(issuer.AccountSpec{ID: "a1", Username: "alice", Email: "alice@example.com", Password: alicePassword})
	for name, spec := range map[string]issuer.AccountSpec{
		"id":                 {ID: "a1", Username: "other", Password: alicePassword},
		"username":           {Username: "alice", Password: alicePassword},
		"email":              {Email: "alice@example.com", Password: alicePassword},
		"email in new case":  {Email: "ALICE@example.com", Password: alicePassword},
		"email with another": {Username: "someone", Email: "Alice@example.com", Password: alicePassword},
	} {
		if _, err := e.iss.CreateAccount(t.Context(), spec); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("%s taken: err = %v, want store.ErrAlreadyExists", name, err)
		}
	}
	// Usernames are compared exactly.
	e.account(issuer.AccountSpec{Username: "Alice", Password: alicePassword})
}

func TestCreateAccountInvalid(t *testing.T) {
	e := newAccountEnv(t, nil)
	pw := alicePassword
	for name, c := range map[string]struct {
		spec issuer.AccountSpec
		also error
	}{
		"no username or email": {spec: issuer.AccountSpec{Password: pw}},
		"space in id":          {spec: issuer.AccountSpec{ID: "a b", Username: "u", Password: pw}},
		"long id":              {spec: issuer.AccountSpec{ID: strings.Repeat("i", 256), Username: "u", Password: pw}},
		"@ in username":        {spec: issuer.AccountSpec{Username: "a@b", Password: pw}},
		": in username":        {spec: issuer.AccountSpec{Username: "a:b", Password: pw}},
		"space in username":    {spec: issuer.AccountSpec{Username: "a b", Password: pw}},
		"nbsp in username":     {spec: issuer.AccountSpec{Username: "a\u00a0b", Password: pw}},
		"tab in username":      {spec: issuer.AccountSpec{Username: "a\tb", Password: pw}},
		"NUL in username":      {spec: issuer.AccountSpec{Username: "a\x00b", Password: pw}},
		"zero-width joiner":    {spec: issuer.AccountSpec{Username: "a\u200db", Password: pw}},
		"invalid UTF-8":        {spec: issuer.AccountSpec{Username: "a\xffb", Password: pw}},
		"long username":        {spec: issuer.AccountSpec{Username: strings.Repeat("u", 256), Password: pw}},
		"email without @":      {spec: issuer.AccountSpec{Email: "alice.example.com", Password: pw}},
		"email with two @":     {spec: issuer.AccountSpec{Email: "a@b@example.com", Password: pw}},
		"email without local":  {spec: issuer.AccountSpec{Email: "@example.com", Password: pw}},
		"email without domain": {spec: issuer.AccountSpec{Email: "alice@", Password: pw}},
		"space in email":       {spec: issuer.AccountSpec{Email: "alice @example.com", Password: pw}},
		": in email":           {spec: issuer.AccountSpec{Email: "a:b@example.com", Password: pw}},
		"newline in email":     {spec: issuer.AccountSpec{Email: "alice@example.com\n", Password: pw}},
		"long email":           {spec: issuer.AccountSpec{Email: strings.Repeat("a", 243) + "@example.com", Password: pw}},
		"too many roles":       {spec: issuer.AccountSpec{Username: "u", Password: pw, Roles: make([]string, 65)}},
		"empty role":           {spec: issuer.AccountSpec{Username: "u", Password: pw, Roles: []string{""}}},
		"space in role":        {spec: issuer.AccountSpec{Username: "u", Password: pw, Roles: []string{"a b"}}},
		"empty password":       {spec: issuer.AccountSpec{Username: "u"}, also: issuer.ErrPasswordTooShort},
		"short password":       {spec: issuer.AccountSpec{Username: "u", Password: "elevenchars"}, also: issuer.ErrPasswordTooShort},
		"long password":        {spec: issuer.AccountSpec{Username: "u", Password: strings.Repeat("p", 1025)}, also: issuer.ErrPasswordTooLong},
	} {
		_, err := e.iss.CreateAccount(t.Context(), c.spec)
		if !errors.Is(err, issuer.ErrInvalidAccountSpec) || (c.also != nil && !errors.Is(err, c.also)) {
			t.Errorf("%s: err = %v, want ErrInvalidAccountSpec (and %v)", name, err, c.also)
		}
	}
	// The edges that pass: 254-byte email, 255-byte username, 12
	// characters of 2 bytes each, 1024-byte password, 64 roles.
	roles := make([]string, 64)
	for i := range roles {
		roles[i] = "r"
	}
	for _, spec := range []issuer.AccountSpec{
		{Email: strings.Repeat("a", 242) + "@example.com", Password: pw},
		{Username: strings.Repeat("u", 255), Password: pw},
		{Username: "twelve", Password: "éééééééééééé"},
		{Username: "long", Password: strings.Repeat("p", 1024), Roles: roles},
	} {
		if _, err := e.iss.CreateAccount(t.Context(), spec); err != nil {
			t.Errorf("CreateAccount(%.40q…): %v", spec.Username+spec.Email, err)
		}
	}
}

func TestPasswordConfig(t *testing.T) {
	// A custom minimum length.
	e := newAccountEnv(t, func(c *issuer.Config) { c.Passwords.MinLength = 20 })
	if _, err := e.iss.CreateAccount(t.Context(), issuer.AccountSpec{Username: "u", Password: "nineteen characters"}); !errors.Is(err, issuer.ErrPasswordTooShort) {
		t.Errorf("19 characters with MinLength 20: %v, want ErrTooShort", err)
	}
	e.account(issuer.AccountSpec{Username: "u", Password: "twenty  characters.."})

	for name, pc := range map[string]issuer.PasswordConfig{
		"negative MinLength":     {MinLength: -1},
		"MinLength above 1 KiB":  {MinLength: 1025},
		"memory above 2 GiB":     {Memory: 2*1024*1024 + 1},
		"memory below 8p":        {Memory: 16, Parallelism: 4},
		"iterations above 32":    {Iterations: 33},
		"work above 4 GiB":       {Memory: 2 * 1024 * 1024, Iterations: 3},
		"parallelism above 64":   {Memory: 1024, Parallelism: 65},
		"salt 8 bytes":           {SaltLength: 8},
		"key 8 bytes":            {KeyLength: 8},
		"negative MaxConcurrent": {MaxConcurrent: -1},
	} {
		_, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: memory.New(), Logger: quietLogger(), Passwords: pc})
		if err == nil {
			t.Errorf("%s: issuer.New accepted %+v", name, pc)
		}
	}
}

func TestAuthenticateAccount(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{Username: "alice", Email: "alice@example.com", Password: alicePassword})
	for _, login := range []string{"alice", "alice@example.com", "Alice@Example.com"} {
		got, err := e.iss.AuthenticateAccount(ctx, login, alicePassword)
		if err != nil || got.ID != a.ID || got.Generation != a.Generation {
			t.Errorf("AuthenticateAccount(%q) = %+v, %v", login, got, err)
		}
	}
	for name, c := range map[string]struct {
		login, pw string
		want      error
	}{
		"wrong password":   {"alice", "correct horse battery stapler", issuer.ErrWrongPassword},
		"empty password":   {"alice", "", issuer.ErrWrongPassword},
		"long password":    {"alice", strings.Repeat(alicePassword, 100), issuer.ErrWrongPassword},
		"unknown login":    {"bob", alicePassword, issuer.ErrUnknownLogin},
		"username in case": {"Alice", alicePassword, issuer.ErrUnknownLogin},
		"empty login":      {"", alicePassword, issuer.ErrUnknownLogin},
		"huge login":       {strings.Repeat("a", 4096), alicePassword, issuer.ErrUnknownLogin},
	} {
		got, err := e.iss.AuthenticateAccount(ctx, c.login, c.pw)
		if got != nil || !errors.Is(err, c.want) || !errors.Is(err, issuer.ErrLoginFailed) {
			t.Errorf("%s: AuthenticateAccount = %+v, %v; want %v", name, got, err, c.want)
		}
	}

	// An unknown login hashes too: with its context already done, it
	// fails for that rather than answering at once.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.iss.AuthenticateAccount(done, "nobody", alicePassword); !errors.Is(err, context.Canceled) {
		t.Errorf("unknown login with a done context: %v, want context.Canceled (the dummy hash waits for a turn)", err)
	}

	// Disabled: refused with the right password, back when enabled.
	if err := e.iss.DisableAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.AuthenticateAccount(ctx, "alice", alicePassword); !errors.Is(err, issuer.ErrAccountDisabled) {
		t.Errorf("disabled account: %v, want ErrAccountDisabled", err)
	}
	if _, err := e.iss.AuthenticateAccount(ctx, "alice", "wrong password!!"); !errors.Is(err, issuer.ErrWrongPassword) {
		t.Errorf("disabled account, wrong password: %v, want ErrWrongPassword", err)
	}
	if err := e.iss.EnableAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := e.iss.AuthenticateAccount(ctx, "alice", alicePassword); err != nil || got.Generation != a.Generation+1 {
		t.Errorf("enabled again: %+v, %v; want generation %d", got, err, a.Generation+1)
	}
}

// TestUnreadableHash: an account whose stored hash cannot be read never
// logs in, and the failure is logged.
func TestUnreadableHash(t *testing.T) {
	var logs bytes.Buffer
	e := newAccountEnv(t, func(c *issuer.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx := t.Context()
	for i, hash := range []string{"", "garbage", "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$gpmTW1R2jxPCE+LZgXm9O8e/YGg9FJBK"} {
		id := string(rune('a' + i))
		if err := e.st.CreateAccount(ctx, &store.Account{ID: id, Username: "user" + id, PasswordHash: hash, Generation: 1}); err != nil {
			t.Fatal(err)
		}
		if got, err := e.iss.AuthenticateAccount(ctx, "user"+id, alicePassword); got != nil || !errors.Is(err, issuer.ErrLoginFailed) {
			t.Errorf("hash %q: %+v, %v; want a failed login", hash, got, err)
		}
	}
	if !strings.Contains(logs.String(), "unreadable") {
		t.Errorf("nothing logged about the unreadable hash: %s", logs.String())
	}
}

func TestSetAccountPassword(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	old := e.accountToken(a, a.Generation)
	if !e.tokenLives(old) || !e.tokenLives(old) { // the second from the cache
		t.Fatal("a fresh account token is refused")
	}
	if err := e.iss.SetAccountPassword(ctx, a.ID, newPassword); err != nil {
		t.Fatal(err)
	}
	got, err := e.iss.GetAccount(ctx, a.ID)
	if err != nil || got.Generation != a.Generation+1 || got.PasswordHash == a.PasswordHash {
		t.Fatalf("after SetAccountPassword: %+v, %v", got, err)
	}
	if e.tokenLives(old) {
		t.Error("an account token from before the password change still lives")
	}
	if _, err := e.iss.AuthenticateAccount(ctx, "alice", alicePassword); !errors.Is(err, issuer.ErrWrongPassword) {
		t.Errorf("old password: %v, want ErrWrongPassword", err)
	}
	if b, err := e.iss.AuthenticateAccount(ctx, "alice", newPassword); err != nil || b.Generation != got.Generation {
		t.Errorf("new password: %+v, %v", b, err)
	}
	if !e.tokenLives(e.accountToken(a, got.Generation)) {
		t.Error("a token of the new generation is refused")
	}

	if err := e.iss.SetAccountPassword(ctx, a.ID, "short"); !errors.Is(err, issuer.ErrInvalidAccountSpec) || !errors.Is(err, issuer.ErrPasswordTooShort) {
		t.Errorf("short password: %v, want ErrInvalidAccountSpec and ErrTooShort", err)
	}
	if err := e.iss.SetAccountPassword(ctx, "nobody", newPassword); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown account: %v, want ErrNotFound", err)
	}
}

func TestDisableDeleteAccount(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{ID: "a1", Username: "alice", Email: "alice@example.com", Password: alicePassword})
	tok := e.accountToken(a, a.Generation)
	if !e.tokenLives(tok) {
		t.Fatal("fresh token refused")
	}
	if err := e.iss.DisableAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if e.tokenLives(tok) {
		t.Error("a disabled account's token lives")
	}
	if err := e.iss.EnableAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if e.tokenLives(tok) {
		t.Error("enabling brought a token from before the disable back")
	}
	b, _ := e.iss.GetAccount(ctx, a.ID)
	tok = e.accountToken(b, b.Generation)
	if !e.tokenLives(tok) {
		t.Fatal("token of the enabled account refused")
	}

	if err := e.iss.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if e.tokenLives(tok) {
		t.Error("a deleted account's token lives")
	}
	if _, err := e.iss.FindAccount(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindAccount after delete: %v", err)
	}
	if _, err := e.iss.AuthenticateAccount(ctx, "alice", alicePassword); !errors.Is(err, issuer.ErrUnknownLogin) {
		t.Errorf("login after delete: %v, want ErrUnknownLogin", err)
	}
	// Re-created with the same id, username and email: the old token stays
	// dead (the new account's generation is random).
	c := e.account(issuer.AccountSpec{ID: "a1", Username: "alice", Email: "alice@example.com", Password: alicePassword})
	if c.Generation == b.Generation || e.tokenLives(tok) {
		t.Errorf("a re-created account revived an old token (generations %d, %d)", b.Generation, c.Generation)
	}
	for name, err := range map[string]error{
		"disable": e.iss.DisableAccount(ctx, "nobody"),
		"enable":  e.iss.EnableAccount(ctx, "nobody"),
		"delete":  e.iss.DeleteAccount(ctx, "nobody"),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s unknown account: %v, want ErrNotFound", name, err)
		}
	}
}

// TestDeleteAccountClients: deleting an account deletes every client it
// owns, more than a page of them, and their tokens die; another account's
// clients live on.
func TestDeleteAccountClients(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	b := e.account(issuer.AccountSpec{Username: "bob", Password: alicePassword})
	var owned []string
	for range 205 {
		id, _ := e.client(issuer.ClientSpec{OwnerAccount: a.ID})
		owned = append(owned, id)
	}
	id, secret := e.client(issuer.ClientSpec{OwnerAccount: a.ID})
	owned = append(owned, id)
	tok := e.getToken(id, secret).AccessToken
	otherID, otherSecret := e.client(issuer.ClientSpec{OwnerAccount: b.ID})
	otherTok := e.getToken(otherID, otherSecret).AccessToken
	if !e.tokenLives(tok) || !e.tokenLives(otherTok) {
		t.Fatal("fresh client tokens refused")
	}

	if err := e.iss.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range owned {
		if _, err := e.st.GetClient(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("client %s of the deleted account: %v, want ErrNotFound", id, err)
		}
	}
	if e.tokenLives(tok) {
		t.Error("a token of a deleted account's client lives")
	}
	if left, err := e.st.ListClientsByOwner(ctx, a.ID, 10); err != nil || len(left) != 0 {
		t.Errorf("ListClientsByOwner after delete = %d clients, %v", len(left), err)
	}
	if _, err := e.st.GetClient(ctx, otherID); err != nil || !e.tokenLives(otherTok) {
		t.Errorf("another account's client: %v, token lives %v", err, e.tokenLives(otherTok))
	}
	if _, err := e.st.GetAccount(ctx, b.ID); err != nil {
		t.Errorf("another account: %v", err)
	}
}

// undeletableClients lists clients that DeleteClient says are gone: a
// broken store, which must fail DeleteAccount rather than loop it.
type undeletableClients struct{ store.Store }

func (undeletableClients) DeleteClient(context.Context, string) error { return store.ErrNotFound }

func TestDeleteAccountStuckStore(t *testing.T) {
	base := newAccountEnv(t, nil)
	e := newEnv(t, false, func(c *issuer.Config) { c.Store = undeletableClients{base.st}; c.Passwords = fastPasswords })
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	e.client(issuer.ClientSpec{OwnerAccount: a.ID})
	if err := e.iss.DeleteAccount(t.Context(), a.ID); err == nil {
		t.Fatal("DeleteAccount succeeded although the owned client stays")
	}
	// Disabled, not deleted: it can do nothing until the deletion is retried.
	if got, err := base.st.GetAccount(t.Context(), a.ID); err != nil || !got.Disabled {
		t.Errorf("account after a failed delete: %+v, %v; want it disabled", got, err)
	}
}

// TestRehash: after the parameters change, a successful login replaces the
// hash with one made with the new parameters, and keeps the generation (and
// so every live token).
func TestRehash(t *testing.T) {
	e := newAccountEnv(t, nil)
	ctx := t.Context()
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	stronger := fastPasswords
	stronger.Memory, stronger.Iterations = 128, 2
	e2 := newEnv(t, false, func(c *issuer.Config) { c.Store = e.st; c.Passwords = stronger })
	tok := e2.accountToken(a, a.Generation)
	if !e2.tokenLives(tok) {
		t.Fatal("fresh token refused")
	}

	// A wrong password changes nothing.
	if _, err := e2.iss.AuthenticateAccount(ctx, "alice", "wrong password!!"); !errors.Is(err, issuer.ErrWrongPassword) {
		t.Fatal(err)
	}
	if got, _ := e.st.GetAccount(ctx, a.ID); got.PasswordHash != a.PasswordHash {
		t.Errorf("a wrong password rehashed: %s", got.PasswordHash)
	}

	e2.clock.Advance(time.Minute)
	got, err := e2.iss.AuthenticateAccount(ctx, "alice", alicePassword)
	if err != nil || got.Generation != a.Generation {
		t.Fatalf("login with new parameters: %+v, %v", got, err)
	}
	stored, _ := e.st.GetAccount(ctx, a.ID)
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") || stored.PasswordHash != got.PasswordHash {
		t.Errorf("after login, stored hash %s (returned %s), want m=128,t=2", stored.PasswordHash, got.PasswordHash)
	}
	if stored.Generation != a.Generation || !stored.UpdatedAt.Equal(epoch.Add(time.Minute)) {
		t.Errorf("rehash changed generation %d → %d or did not touch UpdatedAt %v", a.Generation, stored.Generation, stored.UpdatedAt)
	}
	if !e2.tokenLives(tok) || !e.tokenLives(e.accountToken(a, a.Generation)) {
		t.Error("a rehash killed a live token")
	}
	// Both issuers still log in; the second does not rehash again, the
	// first (older parameters) does, back to its own.
	if _, err := e2.iss.AuthenticateAccount(ctx, "alice", alicePassword); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.st.GetAccount(ctx, a.ID); again.PasswordHash != stored.PasswordHash {
		t.Errorf("rehashed although the parameters are current")
	}
	if _, err := e.iss.AuthenticateAccount(ctx, "alice", alicePassword); err != nil {
		t.Fatal(err)
	}
	if back, _ := e.st.GetAccount(ctx, a.ID); !strings.HasPrefix(back.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || back.Generation != a.Generation {
		t.Errorf("the first issuer did not rehash to its parameters: %+v", back)
	}
}

// conflictStore makes every UpdateAccount lose a compare-and-swap.
type conflictStore struct{ store.Store }

func (conflictStore) UpdateAccount(context.Context, *store.Account, int64) error {
	return store.ErrConflict
}

// TestRehashConflict: a rehash that loses a race is dropped, and the login
// still succeeds.
func TestRehashConflict(t *testing.T) {
	var logs bytes.Buffer
	e := newAccountEnv(t, nil)
	a := e.account(issuer.AccountSpec{Username: "alice", Password: alicePassword})
	e2 := newEnv(t, false, func(c *issuer.Config) {
		c.Store = conflictStore{e.st}
		c.Passwords = issuer.PasswordConfig{Memory: 128, Iterations: 1, Parallelism: 1}
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	got, err := e2.iss.AuthenticateAccount(t.Context(), "alice", alicePassword)
	if err != nil || got.Generation != a.Generation {
		t.Fatalf("login: %+v, %v", got, err)
	}
	if stored, _ := e.st.GetAccount(t.Context(), a.ID); stored.PasswordHash != a.PasswordHash {
		t.Errorf("hash changed although the update conflicted")
	}
	if !strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "rehash") {
		t.Errorf("conflict not logged at debug: %s", logs.String())
	}
}

// TestLoginRacesPasswordChange: logins with the old password race a
// password change. They go through two issuers with different parameters
// over one store, so that nearly every login also rehashes, racing the
// change. No login that starts after SetAccountPassword returned succeeds
// with the old password, and every login that succeeded with it carries the
// old generation, whose tokens the change killed.
func TestLoginRacesPasswordChange(t *testing.T) {
	base := newAccountEnv(t, nil)
	ctx := t.Context()
	for round := range 3 {
		a := base.account(issuer.AccountSpec{Username: "user" + string(rune('a'+round)), Password: alicePassword})
		e := newEnv(t, false, func(c *issuer.Config) {
			c.Store = base.st
			c.Passwords = issuer.PasswordConfig{Memory: 128, Iterations: 1, Parallelism: 1}
		})
		issuers := []*issuer.Issuer{base.iss, e.iss}
		var (
			changed  atomic.Bool
			stop     atomic.Bool
			oks      atomic.Int64
			mu       sync.Mutex
			problems []string
			wg       sync.WaitGroup
		)
		const workers = 4
		after := make([]atomic.Int64, workers) // logins started after the change
		for w := range workers {
			wg.Go(func() {
				for !stop.Load() {
					late := changed.Load()
					got, err := issuers[w%2].AuthenticateAccount(ctx, a.Username, alicePassword)
					if late {
						after[w].Add(1)
					}
					switch {
					case err == nil && late:
						mu.Lock()
						problems = append(problems, "old password accepted after the change")
						mu.Unlock()
					case err == nil && got.Generation != a.Generation:
						mu.Lock()
						problems = append(problems, "old password accepted with a new generation")
						mu.Unlock()
					case err == nil:
						oks.Add(1)
					case !errors.Is(err, issuer.ErrWrongPassword):
						mu.Lock()
						problems = append(problems, "unexpected error: "+err.Error())
						mu.Unlock()
					}
				}
			})
		}
		// waitFor gives up after a while, so that a broken login fails the
		// test instead of hanging it.
		deadline := time.Now().Add(30 * time.Second)
		waitFor := func(what string, cond func() bool) {
			for !cond() {
				if time.Now().After(deadline) {
					stop.Store(true)
					wg.Wait()
					t.Fatalf("round %d: gave up waiting for %s; problems: %q", round, what, problems)
				}
				time.Sleep(time.Millisecond)
			}
		}
		waitFor("logins with the old password", func() bool { return oks.Load() >= 2*workers })
		if err := issuers[round%2].SetAccountPassword(ctx, a.ID, newPassword); err != nil {
			t.Fatal(err)
		}
		changed.Store(true)
		for w := range after {
			waitFor("logins after the change", func() bool { return after[w].Load() >= 5 })
		}
		stop.Store(true)
		wg.Wait()
		for _, p := range problems {
			t.Errorf("round %d: %s", round, p)
		}
		stored, _ := base.st.GetAccount(ctx, a.ID)
		if stored.Generation != a.Generation+1 {
			t.Errorf("round %d: generation %d, want %d", round, stored.Generation, a.Generation+1)
		}
		if e.tokenLives(e.accountToken(a, a.Generation)) || base.tokenLives(base.accountToken(a, a.Generation)) {
			t.Errorf("round %d: a token of the old generation lives", round)
		}
		for _, iss := range issuers {
			if _, err := iss.AuthenticateAccount(ctx, a.Username, newPassword); err != nil {
				t.Errorf("round %d: new password: %v", round, err)
			}
			if _, err := iss.AuthenticateAccount(ctx, a.Username, alicePassword); !errors.Is(err, issuer.ErrWrongPassword) {
				t.Errorf("round %d: old password at the end: %v", round, err)
			}
		}
	}
}

// BenchmarkAuthenticateAccount measures a login's password check at the
// default argon2id parameters: a known login with the right or a wrong
// password, and an unknown one (the dummy hash), which should all cost the
// same.
func BenchmarkAuthenticateAccount(b *testing.B) {
	e := newEnv(b, false, nil)
	if _, err := e.iss.CreateAccount(b.Context(), issuer.AccountSpec{Username: "alice", Password: alicePassword}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, login, pw string }{
		{"known", "alice", alicePassword},
		{"wrong", "alice", "wrong password!!"},
		{"unknown", "bob", alicePassword},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = e.iss.AuthenticateAccount(b.Context(), c.login, c.pw)
			}
		})
	}
}

// ExampleIssuer_CreateAccount creates an account, finds it by its email
// in another case, and changes its password, which kills every token the
// account had.
func ExampleIssuer_CreateAccount() {
	ctx := context.Background()
	iss, err := issuer.New(issuer.Config{
		Issuer: "https://auth.example.com",
		Store:  memory.New(),
		// Small argon2id parameters keep the example fast. Leave them out
		// in production: the defaults (64 MiB, 3 passes, 4 lanes) are
		// RFC 9106's recommendation for servers.
		Passwords: issuer.PasswordConfig{Memory: 64, Iterations: 1, Parallelism: 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	a, err := iss.CreateAccount(ctx, issuer.AccountSpec{
		Username: "alice",
		Email:    "Alice@Example.com",
		Password: "correct horse battery staple",
	})
	if err != nil {
		log.Fatal(err)
	}
	found, err := iss.FindAccount(ctx, "ALICE@example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found.ID == a.ID, found.Email, found.PasswordHash[:28])

	// The policy refuses short passwords; a change bumps the generation.
	err = iss.SetAccountPassword(ctx, a.ID, "hunter2")
	fmt.Println(errors.Is(err, issuer.ErrInvalidAccountSpec), errors.Is(err, issuer.ErrPasswordTooShort))
	if err := iss.SetAccountPassword(ctx, a.ID, "a much longer passphrase"); err != nil {
		log.Fatal(err)
	}
	now, _ := iss.GetAccount(ctx, a.ID)
	fmt.Println(now.Generation == a.Generation+1)
	// Output:
	// true alice@example.com $argon2id$v=19$m=64,t=1,p=1$
	// true true
	// true
}
