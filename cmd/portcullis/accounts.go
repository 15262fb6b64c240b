package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// accountView is an account as printed: never its password hash.
type accountView struct {
	ID         string    `json:"id"`
	Username   string    `json:"username,omitempty"`
	Email      string    `json:"email,omitempty"`
	Roles      []string  `json:"roles"`
	Generation int64     `json:"generation"`
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func viewAccount(a *store.Account) accountView {
	return accountView{ID: a.ID, Username: a.Username, Email: a.Email, Roles: nonNil(a.Roles),
		Generation: a.Generation, Disabled: a.Disabled, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func (v accountView) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", v.ID)
	fmt.Fprintf(tw, "username:\t%s\n", dash(v.Username))
	fmt.Fprintf(tw, "email:\t%s\n", dash(v.Email))
	fmt.Fprintf(tw, "roles:\t%s\n", dash(strings.Join(v.Roles, " ")))
	fmt.Fprintf(tw, "generation:\t%d\n", v.Generation)
	fmt.Fprintf(tw, "disabled:\t%t\n", v.Disabled)
	fmt.Fprintf(tw, "created:\t%s\n", v.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "updated:\t%s\n", v.UpdatedAt.Format(time.RFC3339))
	tw.Flush()
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// passwordNotice follows a generated password printed as text.
const passwordNotice = "Store it now: it is shown once and cannot be shown again (only its argon2id hash is kept)."

func (a *app) accountsCommand() *cobra.Command {
	return group("accounts", "Create, list, disable, enable and delete accounts, and set their passwords",
		a.accountsCreate(), a.accountsList(), a.accountsShow(), a.accountsPasswd(),
		a.accountsSetState("disable", "Refuse an account's logins and every token issued to it", (*issuer.Issuer).DisableAccount, "disabled"),
		a.accountsSetState("enable", "Let a disabled account log in again (its old tokens stay dead)", (*issuer.Issuer).EnableAccount, "enabled"),
		a.accountsSetState("delete", "Delete an account and every client it owns", (*issuer.Issuer).DeleteAccount, "deleted"),
	)
}

// password returns the password from stdin with fromStdin, or a new random
// one (128 bits in hex) that the caller must print.
func (a *app) password(fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		pw, err = a.readSecret("password", 1024)
		return pw, false, err
	}
	return token.NewClientID(), true, nil
}

func (a *app) accountsCreate() *cobra.Command {
	var (
		spec    issuer.AccountSpec
		pwStdin bool
	)
	c := &cobra.Command{
		Use:   "create",
		Short: "Create an account; its password comes from stdin or is generated and printed once",
		Long: `Create an account with a username, an email or both. Its password is read
from stdin with --password-stdin (never from a flag, which would show in ps and
in shell history), or generated (128 random bits in hex) and printed once.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec.Username == "" && spec.Email == "" {
				return usagef("an account needs --username or --email")
			}
			pw, generated, err := a.password(pwStdin)
			if err != nil {
				return err
			}
			spec.Password = pw
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				acct, err := env.iss.CreateAccount(ctx, spec)
				if err != nil {
					return err
				}
				v := viewAccount(acct)
				out := struct {
					Account  accountView `json:"account"`
					Password string      `json:"password,omitempty"`
				}{Account: v}
				if generated {
					out.Password = pw
				}
				return a.emit(out, func(w io.Writer) {
					fmt.Fprintf(w, "Account created.\n\n")
					v.print(w)
					if generated {
						fmt.Fprintf(w, "\npassword: %s\n\n%s\n", pw, passwordNotice)
					}
				})
			})
		},
	}
	f := c.Flags()
	f.StringVar(&spec.ID, "id", "", "account id (default: 128 random bits in hex)")
	f.StringVar(&spec.Username, "username", "", "username")
	f.StringVar(&spec.Email, "email", "", "email address (stored lower-cased)")
	f.StringSliceVar(&spec.Roles, "role", nil, "role (repeat, or comma-separated)")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin (default: generate one)")
	return c
}

// findAccount finds an account by id, or else by username or email.
func findAccount(ctx context.Context, iss *issuer.Issuer, ref string) (*store.Account, error) {
	a, err := iss.GetAccount(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		a, err = iss.FindAccount(ctx, ref)
	}
	if err != nil {
		return nil, notFound("account", ref, err)
	}
	return a, nil
}

func (a *app) accountsShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|LOGIN",
		Short: "Show an account, found by id, username or email (never its password)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				acct, err := findAccount(ctx, env.iss, args[0])
				if err != nil {
					return err
				}
				v := viewAccount(acct)
				return a.emit(v, v.print)
			})
		},
	}
}

func (a *app) accountsPasswd() *cobra.Command {
	var pwStdin bool
	c := &cobra.Command{
		Use:   "passwd ID|LOGIN",
		Short: "Set an account's password; every token issued to it before is refused",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, generated, err := a.password(pwStdin)
			if err != nil {
				return err
			}
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				acct, err := findAccount(ctx, env.iss, args[0])
				if err != nil {
					return err
				}
				if err := env.iss.SetAccountPassword(ctx, acct.ID, pw); err != nil {
					return notFound("account", acct.ID, err)
				}
				out := struct {
					ID       string `json:"id"`
					Password string `json:"password,omitempty"`
				}{ID: acct.ID}
				if generated {
					out.Password = pw
				}
				return a.emit(out, func(w io.Writer) {
					fmt.Fprintf(w, "Password of account %s set; its earlier tokens are refused.\n", acct.ID)
					if generated {
						fmt.Fprintf(w, "\npassword: %s\n\n%s\n", pw, passwordNotice)
					}
				})
			})
		},
	}
	c.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from stdin (default: generate one)")
	return c
}

func (a *app) accountsSetState(verb, short string, do func(*issuer.Issuer, context.Context, string) error, done string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID|LOGIN",
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				acct, err := findAccount(ctx, env.iss, args[0])
				if err != nil {
					return err
				}
				if err := do(env.iss, ctx, acct.ID); err != nil {
					return notFound("account", acct.ID, err)
				}
				return a.emit(map[string]string{"id": acct.ID, "status": done}, func(w io.Writer) {
					fmt.Fprintf(w, "Account %s %s.\n", acct.ID, done)
				})
			})
		},
	}
}

func (a *app) accountsList() *cobra.Command {
	var (
		after string
		limit int
		all   bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List accounts, in id order, a page at a time",
		Long: `List accounts in id order (bytewise), --limit at a time: pass the last id of
a page as --after to read the next; --all reads every page.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxListLimit {
				return usagef("--limit must be from 1 to %d", store.MaxListLimit)
			}
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				as, next, err := listPages(ctx, env.store.Store, after, limit, all, store.Lister.ListAccounts,
					func(a *store.Account) string { return a.ID })
				if err != nil {
					return err
				}
				views := make([]accountView, len(as))
				for i, acct := range as {
					views[i] = viewAccount(acct)
				}
				return a.emit(struct {
					Accounts []accountView `json:"accounts"`
					Next     string        `json:"next,omitempty"`
				}{views, next}, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tROLES\tDISABLED\tCREATED")
					for _, v := range views {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", v.ID, dash(v.Username), dash(v.Email),
							dash(strings.Join(v.Roles, ",")), v.Disabled, v.CreatedAt.Format(time.RFC3339))
					}
					tw.Flush()
					if next != "" {
						fmt.Fprintf(w, "\nMore: --after %s\n", next)
					}
				})
			})
		},
	}
	f := c.Flags()
	f.StringVar(&after, "after", "", "start after this id (the last of the previous page)")
	f.IntVar(&limit, "limit", 100, fmt.Sprintf("page size, 1 to %d", store.MaxListLimit))
	f.BoolVar(&all, "all", false, "read every page")
	return c
}
