package sqlstore_test

import (
	"os"
	"testing"

	"github.com/portcullis/portcullis/internal/testenv"
)

// TestMain names the database servers whose tests skipped, in a line that
// go test ./... shows without -v (see testenv.Main).
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
