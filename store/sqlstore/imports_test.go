package sqlstore_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoDriverImports keeps the package free of SQL drivers (and of any
// module but our own store package): users choose and own the driver. Test
// files may import drivers.
func TestNoDriverImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path == "github.com/portcullis/portcullis/store" || !strings.Contains(first, ".") {
				continue // our store contract, or the standard library
			}
			t.Errorf("%s imports %s: sqlstore must depend on database/sql only", name, path)
		}
	}
	if checked == 0 {
		t.Fatal("no package files found")
	}
}
