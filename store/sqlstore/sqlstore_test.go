package sqlstore_test

import (
	"testing"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/storetest"
)

// TestStore runs the conformance suite on every dialect, each subtest on a
// fresh PostgreSQL schema, MySQL database or SQLite file.
func TestStore(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, b) })
	})
}
