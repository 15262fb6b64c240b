package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// keyView is a signing key as printed: never its key material.
type keyView struct {
	ID        string     `json:"kid"`
	Seq       int64      `json:"seq"`
	Algorithm string     `json:"algorithm"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ActiveAt  time.Time  `json:"active_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Key states, as a verifier sees them at now.
const (
	keySigning  = "signing"  // signs new tokens
	keyPending  = "pending"  // published, signs from active_at
	keyRetiring = "retiring" // replaced; published until its tokens expire
	keyExpired  = "expired"  // no longer published; the next sweep deletes it
)

func viewKeys(keys []*store.SigningKey, now time.Time) []keyView {
	signing := signingKey(keys, now)
	views := make([]keyView, len(keys))
	for i, k := range keys {
		v := keyView{ID: k.ID, Seq: k.Seq, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt}
		if !k.ExpiresAt.IsZero() {
			exp := k.ExpiresAt
			v.ExpiresAt = &exp
		}
		switch {
		case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
			v.State = keyExpired
		case signing != nil && k.ID == signing.ID:
			v.State = keySigning
		case k.ActiveAt.After(now):
			v.State = keyPending
		default:
			v.State = keyRetiring
		}
		views[i] = v
	}
	return views
}

func (a *app) keysCommand() *cobra.Command {
	return group("keys", "List and rotate the signing keys", a.keysList(), a.keysRotate())
}

func (a *app) keysList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the signing keys with their state (never their key material)",
		Long: `List the signing keys, oldest first, each with its state: signing (signs new
tokens), pending (published, signs from its active time), retiring (replaced,
published until the tokens it signed have expired) or expired.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd)
			defer cancel()
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			o, err := a.openStore(ctx, cfg, false, false)
			if err != nil {
				return err
			}
			defer o.Close()
			keys, err := o.Store.ListKeys(ctx)
			if err != nil {
				return storeErr(err)
			}
			views := viewKeys(keys, time.Now())
			return a.emit(struct {
				Keys []keyView `json:"keys"`
			}{views}, func(w io.Writer) { printKeys(w, views) })
		},
	}
}

func printKeys(w io.Writer, views []keyView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSEQ\tALG\tSTATE\tACTIVE\tEXPIRES")
	for _, v := range views {
		exp := "-"
		if v.ExpiresAt != nil {
			exp = v.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", v.ID, v.Seq, v.Algorithm, v.State, v.ActiveAt.Format(time.RFC3339), exp)
	}
	tw.Flush()
}

func (a *app) keysRotate() *cobra.Command {
	var algorithm string
	c := &cobra.Command{
		Use:   "rotate",
		Short: "Publish a new signing key, which signs ten minutes later",
		Long: `Publish a new signing key at once; it starts signing ten minutes later, so
that verifiers caching the key set learn it first. The current key signs until
then and stays published until the tokens it signed have expired. When a
rotation is already pending, nothing changes. --algorithm rotates to another
algorithm (ES256, EdDSA, RS256 or HS256); configure the servers with it too,
or they rotate back to theirs.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, env *adminEnv) error {
				if algorithm != "" {
					// Building another issuer with the algorithm rotates to
					// it, as a server restarted with it would.
					if err := a.rotateTo(ctx, env, algorithm); err != nil {
						return err
					}
				} else if len(env.keyEvents) == 0 {
					if err := env.iss.RotateSigningKey(ctx); err != nil {
						return storeErr(err)
					}
				}
				keys, err := env.store.Store.ListKeys(ctx)
				if err != nil {
					return storeErr(err)
				}
				views := viewKeys(keys, time.Now())
				var created *keyView
				if n := len(env.keyEvents); n > 0 {
					for i := range views {
						if views[i].ID == env.keyEvents[n-1].KeyID {
							created = &views[i]
						}
					}
				}
				return a.emit(struct {
					Rotated *keyView  `json:"rotated"`
					Keys    []keyView `json:"keys"`
				}{created, views}, func(w io.Writer) {
					if created != nil {
						fmt.Fprintf(w, "New signing key %s (%s) published; it signs from %s.\n\n",
							created.ID, created.Algorithm, created.ActiveAt.Format(time.RFC3339))
					} else {
						fmt.Fprintf(w, "A rotation is already pending; nothing changed.\n\n")
					}
					printKeys(w, views)
				})
			})
		},
	}
	c.Flags().StringVar(&algorithm, "algorithm", "", "algorithm of the new key (default: the current key's)")
	return c
}

// rotateTo rotates to a key of algorithm, through a second issuer
// configured with it.
func (a *app) rotateTo(ctx context.Context, env *adminEnv, algorithm string) error {
	c, err := a.issuerConfig(env.cfg, env.store.Store, env.log)
	if err != nil {
		return err
	}
	if c.Issuer == "" {
		c.Issuer = placeholderIssuer
	}
	c.Algorithm, c.SweepInterval = algorithm, -1
	before := len(env.keyEvents)
	c.Hooks = issuer.JoinHooks(issuer.LogHooks(env.log), issuer.Hooks{
		SigningKey: func(_ context.Context, e issuer.SigningKeyCreated) { env.keyEvents = append(env.keyEvents, e) },
	})
	iss, err := issuer.New(c)
	if err != nil {
		return issuerErr(err)
	}
	if len(env.keyEvents) == before {
		// The key that signs has that algorithm already, or a rotation is
		// pending: rotate as usual (which does nothing in the second case).
		if err := iss.RotateSigningKey(ctx); err != nil {
			return storeErr(err)
		}
	}
	return nil
}
