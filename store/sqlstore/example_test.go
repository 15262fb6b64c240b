package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the application picks the driver; sqlstore imports none

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// Open a SQLite database, create the tables, and use the store. PostgreSQL
// and MySQL work the same way with their driver, DSN and Dialect.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "portcullis-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// busy_timeout makes a writer wait for another instead of failing with
	// "database is locked"; WAL lets readers run while someone writes;
	// synchronous(NORMAL) spares an fsync per commit (see the package doc
	// for what a power loss may then undo).
	dsn := "file:" + filepath.Join(dir, "portcullis.db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		log.Fatal(err)
	}
	// One process uses the file: one connection, so that writers queue in
	// database/sql instead of sleeping in SQLite's busy handler.
	db.SetMaxOpenConns(1)
	defer db.Close() // the caller owns db; the store never closes it

	st, err := sqlstore.Open(db, sqlstore.SQLite)
	if err != nil {
		log.Fatal(err)
	}
	// Migrate at start-up: idempotent, and safe when replicas start together.
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	err = st.CreateClient(ctx, &store.Client{ID: "reports", Name: "Nightly reports", Scopes: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	c, err := st.GetClient(ctx, "reports")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.Scopes)

	// Delete what has expired now and then, from one replica.
	n, err := st.Sweep(ctx, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("swept", n)
	// Output:
	// Nightly reports [read]
	// swept 0
}
