package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultAddr checks that every example (a directory of examples/ but
// internal) has a port of its own, so that any of them can run beside the
// others, and that its doc comment names the port it really uses.
func TestDefaultAddr(t *testing.T) {
	dirs, err := os.ReadDir("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "internal" {
			continue
		}
		addr := DefaultAddr(d.Name())
		if other, ok := seen[addr]; ok {
			t.Errorf("examples %s and %s share the default address %s", other, d.Name(), addr)
		}
		seen[addr] = d.Name()
		src, err := os.ReadFile(filepath.Join("../..", d.Name(), "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "(default "+addr+";") {
			t.Errorf("examples/%s/main.go does not document its default -addr %s", d.Name(), addr)
		}
	}
	if len(seen) < 8 {
		t.Errorf("found %d examples, want at least 8: %v", len(seen), seen)
	}
}
