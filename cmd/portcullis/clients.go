package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// clientView is a client as printed: never its secret hash.
type clientView struct {
	ID            string            `json:"id"`
	Name          string            `json:"name,omitempty"`
	OwnerAccount  string            `json:"owner_account,omitempty"`
	Scopes        []string          `json:"scopes"`
	Audiences     []string          `json:"audiences"`
	GrantTypes    []string          `json:"grant_types,omitempty"`
	IntrospectAny bool              `json:"introspect_any,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	Generation    int64             `json:"generation"`
	Disabled      bool              `json:"disabled"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

func viewClient(c *store.Client) clientView {
	v := clientView{ID: c.ID, Name: c.Name, OwnerAccount: c.OwnerAccount, Scopes: nonNil(c.Scopes),
		Audiences: nonNil(c.Audiences), Generation: c.Generation, Disabled: c.Disabled,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	meta := maps.Clone(c.Metadata)
	if g, ok := meta[issuer.MetaGrantTypes]; ok {
		v.GrantTypes = strings.Fields(g)
		delete(meta, issuer.MetaGrantTypes)
	}
	if meta[issuer.MetaIntrospect] == "any" {
		v.IntrospectAny = true
		delete(meta, issuer.MetaIntrospect)
	}
	if len(meta) > 0 {
		v.Metadata = meta
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// orAll prints an empty list as what it means.
func orAll(s []string, all string) string {
	if len(s) == 0 {
		return all
	}
	return strings.Join(s, " ")
}

func (v clientView) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", v.ID)
	if v.Name != "" {
		fmt.Fprintf(tw, "name:\t%s\n", v.Name)
	}
	if v.OwnerAccount != "" {
		fmt.Fprintf(tw, "owner account:\t%s\n", v.OwnerAccount)
	}
	fmt.Fprintf(tw, "scopes:\t%s\n", orAll(v.Scopes, "(every configured scope)"))
	fmt.Fprintf(tw, "audiences:\t%s\n", orAll(v.Audiences, "(the configured audiences)"))
	fmt.Fprintf(tw, "grant types:\t%s\n", orAll(v.GrantTypes, "(every enabled grant)"))
	if v.IntrospectAny {
		fmt.Fprintf(tw, "introspects:\tany token\n")
	}
	for _, k := range sortedKeys(v.Metadata) {
		fmt.Fprintf(tw, "metadata %s:\t%s\n", k, v.Metadata[k])
	}
	fmt.Fprintf(tw, "generation:\t%d\n", v.Generation)
	fmt.Fprintf(tw, "disabled:\t%t\n", v.Disabled)
	fmt.Fprintf(tw, "created:\t%s\n", v.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "updated:\t%s\n", v.UpdatedAt.Format(time.RFC3339))
	tw.Flush()
}

// secretNotice follows every secret printed as text.
const secretNotice = "Store it now: it is shown once and cannot be shown again (only its hash is kept)."

func (a *app) clientsCommand() *cobra.Command {
	return group("clients", "Create, list, show, rotate, disable, enable and delete clients",
		a.clientsCreate(), a.clientsList(), a.clientsShow(), a.clientsRotate(),
		a.clientsSetState("disable", "Refuse a client and every token issued to it", (*issuer.Issuer).DisableClient, "disabled"),
		a.clientsSetState("enable", "Let a disabled client authenticate again (its old tokens stay dead)", (*issuer.Issuer).EnableClient, "enabled"),
		a.clientsSetState("delete", "Delete a client; its tokens are refused from then on", (*issuer.Issuer).DeleteClient, "deleted"),
	)
}

// withAdmin runs f with an administrative environment, bounded by
// --timeout, and closes it after.
func (a *app) withAdmin(cmd *cobra.Command, f func(ctx context.Context, env *adminEnv) error) error {
	ctx, cancel := a.withTimeout(cmd)
	defer cancel()
	env, err := a.admin(ctx)
	if err != nil {
		return err
	}
	defer env.store.Close()
	return f(ctx, env)
}

func (a *app) clientsCreate() *cobra.Command {
	var (
		spec        issuer.ClientSpec
		meta        map[string]string
		secretStdin bool
	)
	c := &cobra.Command{
		Use:   "create",
		Short: "Create a client and print its secret, once",
		Long: `Create a client and print its id and secret. The secret is shown once: only
its hash is stored. By default the id is 128 random bits in hex and the secret
256 random bits with a "pcs_" prefix and a checksum; --secret-stdin sets one of
your own (for moving existing credentials over).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secretStdin {
				s, err := a.readSecret("secret", 1024)
				if err != nil {
					return err
				}
				spec.Secret = s
			}
			spec.Metadata = meta
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				cl, secret, err := env.iss.CreateClient(ctx, spec)
				if err != nil {
					return err
				}
				v := viewClient(cl)
				return a.emit(struct {
					Client clientView `json:"client"`
					Secret string     `json:"secret"`
				}{v, secret}, func(w io.Writer) {
					fmt.Fprintf(w, "Client created.\n\n")
					v.print(w)
					fmt.Fprintf(w, "\nclient secret: %s\n\n%s\n", secret, secretNotice)
				})
			})
		},
	}
	f := c.Flags()
	f.StringVar(&spec.ID, "id", "", "client id (default: 128 random bits in hex)")
	f.StringVar(&spec.Name, "name", "", "display name")
	f.StringVar(&spec.OwnerAccount, "owner", "", "id of the account that owns the client")
	f.StringSliceVar(&spec.Scopes, "scope", nil, "scope the client may be granted (repeat, or comma-separated; default every configured scope)")
	f.StringSliceVar(&spec.Audiences, "audience", nil, "audience of its tokens, one of the configured audiences (repeat)")
	f.StringSliceVar(&spec.GrantTypes, "grant-type", nil, "grant type it may use: client_credentials, refresh_token (repeat; default every enabled grant)")
	f.BoolVar(&spec.IntrospectAny, "introspect-any", false, "let it introspect any token (for resource servers using RFC 7662)")
	f.StringToStringVar(&meta, "meta", nil, "metadata key=value (repeat)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the secret from stdin instead of generating one")
	return c
}

func (a *app) clientsList() *cobra.Command {
	var (
		owner, after string
		limit        int
		all          bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List clients, in id order, a page at a time",
		Long: `List clients in id order (bytewise), --limit at a time: pass the last id of
a page as --after to read the next (the text output says so, and --json gives
it as "next"). --all reads every page. --owner lists one account's clients,
oldest first, up to --limit.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxListLimit {
				return usagef("--limit must be from 1 to %d", store.MaxListLimit)
			}
			if owner != "" && (after != "" || all) {
				return usagef("--owner lists one page: it takes neither --after nor --all")
			}
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				var (
					cs   []*store.Client
					next string
					err  error
				)
				if owner != "" {
					cs, err = env.store.Store.ListClientsByOwner(ctx, owner, limit)
				} else {
					cs, next, err = listPages(ctx, env.store.Store, after, limit, all, store.Lister.ListClients,
						func(c *store.Client) string { return c.ID })
				}
				if err != nil {
					return err
				}
				views := make([]clientView, len(cs))
				for i, c := range cs {
					views[i] = viewClient(c)
				}
				return a.emit(struct {
					Clients []clientView `json:"clients"`
					Next    string       `json:"next,omitempty"`
				}{views, next}, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSCOPES\tDISABLED\tCREATED")
					for _, v := range views {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", v.ID, dash(v.Name), dash(v.OwnerAccount),
							dash(strings.Join(v.Scopes, " ")), v.Disabled, v.CreatedAt.Format(time.RFC3339))
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
	f.StringVar(&owner, "owner", "", "list only this account's clients")
	f.StringVar(&after, "after", "", "start after this id (the last of the previous page)")
	f.IntVar(&limit, "limit", 100, fmt.Sprintf("page size, 1 to %d", store.MaxListLimit))
	f.BoolVar(&all, "all", false, "read every page")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listPages lists one page after after, or every page with all. next is
// the cursor of the following page when the page was full.
func listPages[T any](ctx context.Context, st store.Store, after string, limit int, all bool,
	list func(store.Lister, context.Context, string, int) ([]T, error), id func(T) string) ([]T, string, error) {
	l, ok := st.(store.Lister)
	if !ok {
		return nil, "", fmt.Errorf("the store %T cannot list everything (store.Lister); list by --owner", st)
	}
	var out []T
	for {
		page, err := list(l, ctx, after, limit)
		if err != nil {
			return nil, "", err
		}
		out = append(out, page...)
		if len(page) < limit {
			return out, "", nil
		}
		after = id(page[len(page)-1])
		if !all {
			return out, after, nil
		}
	}
}

func (a *app) clientsShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a client (never its secret)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				c, err := env.store.Store.GetClient(ctx, args[0])
				if err != nil {
					return notFound("client", args[0], err)
				}
				v := viewClient(c)
				return a.emit(v, v.print)
			})
		},
	}
}

// notFound says which record was missing.
func notFound(what, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no %s %q: %w", what, id, store.ErrNotFound)
	}
	return err
}

func (a *app) clientsRotate() *cobra.Command {
	var secretStdin bool
	c := &cobra.Command{
		Use:   "rotate ID",
		Short: "Give a client a new secret; every token issued before is refused",
		Long: `Give a client a new secret and print it, once. The client's generation moves
on, so every access and refresh token issued before is refused: at once by
this store's opaque tokens and by issuers that watch Redis, within their
StateTTL (default 5s) elsewhere; running issuers that do not watch may
accept the old secret for their ClientCacheTTL (default: StateTTL).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var secret string
			if secretStdin {
				s, err := a.readSecret("secret", 1024)
				if err != nil {
					return err
				}
				secret = s
			}
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				id := args[0]
				var err error
				if secret != "" {
					err = env.iss.SetClientSecret(ctx, id, secret)
				} else {
					secret, err = env.iss.RotateClient(ctx, id)
				}
				if err != nil {
					return notFound("client", id, err)
				}
				c, err := env.store.Store.GetClient(ctx, id)
				if err != nil {
					return notFound("client", id, err)
				}
				return a.emit(struct {
					ID         string `json:"id"`
					Secret     string `json:"secret"`
					Generation int64  `json:"generation"`
				}{id, secret, c.Generation}, func(w io.Writer) {
					fmt.Fprintf(w, "Client %s rotated (generation %d); its earlier tokens are refused.\n\nclient secret: %s\n\n%s\n",
						id, c.Generation, secret, secretNotice)
				})
			})
		},
	}
	c.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the new secret from stdin instead of generating one")
	return c
}

func (a *app) clientsSetState(verb, short string, do func(*issuer.Issuer, context.Context, string) error, done string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				id := args[0]
				if err := do(env.iss, ctx, id); err != nil {
					return notFound("client", id, err)
				}
				return a.emit(map[string]string{"id": id, "status": done}, func(w io.Writer) {
					fmt.Fprintf(w, "Client %s %s.\n", id, done)
				})
			})
		},
	}
}
