package pgwatch_test

import (
	"context"
	"database/sql"
	"log"

	_ "github.com/jackc/pgx/v5/stdlib" // pgwatch needs pgx's driver

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch"
)

// A PostgreSQL store whose replicas hear each other's revocations and
// rotations at once. (No Output: it needs a server.)
func Example() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://portcullis@localhost:5432/app?sslmode=verify-full")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // the caller owns db; the store never closes it

	st, err := pgwatch.Open(db) // takes sqlstore's options, such as WithTablePrefix
	if err != nil {
		log.Fatal(err)
	}
	// Migrate creates the tables and the triggers that announce changes.
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// Usually issuer.Issuer.Watch does this, for the issuer's guards.
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	err = st.Watch(watchCtx, func(e store.Event) {
		if e.Kind == store.EventResync {
			log.Print("reconnected to PostgreSQL: drop every cached answer")
			return
		}
		log.Printf("invalidate %s %s (generation %d)", e.Kind, e.ID, e.Generation)
	})
	if err != nil {
		log.Fatal(err) // pgwatch.ErrNotMigrated, or the server is unreachable
	}
}
