package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/store"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the store's tables",
		Long: `Create or upgrade a SQL store's tables to the schema of this version; running
it again changes nothing. Replicas may run it at once. Redis needs no schema.
serve migrates on start unless --migrate=false.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.withTimeout(cmd)
			defer cancel()
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			o, err := a.openStore(ctx, cfg, false, true)
			if err != nil {
				return err
			}
			defer o.Close()
			return a.emit(map[string]any{"store": o.Label, "migrated": o.SQL != nil}, func(w io.Writer) {
				if o.SQL != nil {
					fmt.Fprintf(w, "Store %s (%s) is at the current schema.\n", o.Label, o.SQL.Dialect())
				} else {
					fmt.Fprintf(w, "Store %s needs no migration.\n", o.Label)
				}
			})
		},
	}
}

func (a *app) sweepCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sweep",
		Short: "Delete expired tokens, revocations and signing keys from the store",
		Long: `Delete what has expired: refresh and opaque access tokens, revocations and
signing keys past their expiry. Issuers sweep in the background every 10
minutes by default; run it from cron when they do not. On Redis, TTLs do the
work already and a sweep walks the whole key space.`,
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
			sw, ok := o.Store.(store.Sweeper)
			if !ok {
				return fmt.Errorf("the %s store cannot sweep", o.Label)
			}
			n, err := sweep(ctx, sw)
			if err != nil {
				return storeErr(err)
			}
			return a.emit(map[string]any{"store": o.Label, "removed": n}, func(w io.Writer) {
				fmt.Fprintf(w, "Removed %d expired records from %s.\n", n, o.Label)
			})
		},
	}
}

func sweep(ctx context.Context, sw store.Sweeper) (int64, error) { return sw.Sweep(ctx, time.Now()) }
