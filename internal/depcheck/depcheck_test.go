package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbidden lists module path prefixes the core must not import; the
// comment on each says where it may be used instead.
var forbidden = []string{
	"github.com/gin-gonic/",     // only adapters/ginauth
	"github.com/go-chi/",        // only adapters/chiauth
	"github.com/redis/go-redis", // only store/redisstore
	"github.com/jackc/pgx",      // SQL drivers only in tests and examples, and pgx in store/sqlstore/pgwatch
	"github.com/go-sql-driver/",
	"modernc.org/sqlite",
	"github.com/lib/pq",
	"github.com/mattn/go-sqlite3",
	"github.com/spf13/",      // only cmd/portcullis
	"go.opentelemetry.io/",   // only adapters/otelauth (the API; the SDK in tests and examples)
	"github.com/prometheus/", // only examples (the quickstart's -metrics)
	"github.com/chromedp/",   // only credpage's browser test
}

// Each package and what it may import besides the core.
var packages = map[string][]string{
	"github.com/portcullis/portcullis/store":             nil,
	"github.com/portcullis/portcullis/store/memory":      nil,
	"github.com/portcullis/portcullis/store/storetest":   nil,
	"github.com/portcullis/portcullis/store/sqlstore":    nil,
	"github.com/portcullis/portcullis/internal/token":    nil,
	"github.com/portcullis/portcullis/internal/password": nil,
	"github.com/portcullis/portcullis/issuer":            nil,
	"github.com/portcullis/portcullis/middleware":        nil,
	"github.com/portcullis/portcullis/adapters/httpauth": nil,
	"github.com/portcullis/portcullis/store/redisstore":  {"github.com/redis/go-redis"},
	"github.com/portcullis/portcullis/adapters/ginauth":  {"github.com/gin-gonic/"},
	"github.com/portcullis/portcullis/adapters/chiauth":  {"github.com/go-chi/"},
	"github.com/portcullis/portcullis/tokensource":       nil,
	"github.com/portcullis/portcullis/credpage":          nil,

	// LISTEN needs pgx's own connection, so PostgreSQL's watcher lives
	// apart from sqlstore, which imports no driver.
	"github.com/portcullis/portcullis/store/sqlstore/pgwatch": {"github.com/jackc/pgx"},
	"github.com/portcullis/portcullis/adapters/otelauth":      {"go.opentelemetry.io/"},

	// Only tests import it (TestTestOnly), but they are the core's tests.
	"github.com/portcullis/portcullis/internal/tokentest": nil,
}

func TestCoreDependencies(t *testing.T) {
	for pkg, allowed := range packages {
		t.Run(pkg[strings.LastIndex(pkg, "portcullis/")+len("portcullis/"):], func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
			}
			deps := strings.Fields(string(out))
			for _, dep := range deps {
				for _, bad := range forbidden {
					if strings.HasPrefix(dep, bad) && !allowedPrefix(dep, allowed) {
						t.Errorf("%s depends on %s", pkg, dep)
					}
				}
			}
			// The allowance is there because the package needs it: if go list
			// stopped reporting it, this test would be checking nothing.
			for _, a := range allowed {
				if !anyPrefix(deps, a) {
					t.Errorf("%s no longer depends on %s: is go list -deps working?", pkg, a)
				}
			}
		})
	}
}

func anyPrefix(deps []string, prefix string) bool {
	for _, d := range deps {
		if strings.HasPrefix(d, prefix) {
			return true
		}
	}
	return false
}

func allowedPrefix(dep string, allowed []string) bool {
	for _, a := range allowed {
		if strings.HasPrefix(dep, a) {
			return true
		}
	}
	return false
}

// The arrows point one way: adapters → issuer → middleware → internal/token
// → store. The issuer may use the middleware's verifiers; nothing below may
// reach up.
func TestArrows(t *testing.T) {
	const mod = "github.com/portcullis/portcullis/"
	mustNot := map[string][]string{
		"store":          {mod + "internal/token", mod + "issuer", mod + "middleware", mod + "adapters/"},
		"internal/token": {mod + "issuer", mod + "middleware", mod + "adapters/"},
		"middleware":     {mod + "issuer", mod + "adapters/"},
		"issuer":         {mod + "adapters/"},
		// The client library is for the provider's customers: none of the
		// server (see TestClientStandalone).
		"tokensource": {mod + "issuer", mod + "middleware", mod + "store", mod + "internal/", mod + "adapters/"},

		// The OpenTelemetry API only: the application picks the SDK and
		// the exporter, and pays for no other.
		"adapters/otelauth": {"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters/", "github.com/prometheus/"},

		// Test support beside internal/token, below middleware, so that
		// middleware's internal tests can use it too.
		"internal/tokentest": {mod + "issuer", mod + "middleware", mod + "adapters/"},
	}
	for pkg, bad := range mustNot {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}

// clientDeps are all a customer's program gets from the client library
// besides the standard library.
var clientDeps = []string{
	"github.com/portcullis/portcullis/tokensource",
	"golang.org/x/oauth2",
	"golang.org/x/oauth2/internal",
}

// TestClientStandalone: tokensource, which the provider's customers
// import, depends on the standard library and x/oauth2 alone, so that
// their programs link none of the server (its store, signing and password
// code) and no framework.
func TestClientStandalone(t *testing.T) {
	const pkg = "github.com/portcullis/portcullis/tokensource"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		if !slices.Contains(clientDeps, dep) {
			t.Errorf("%s depends on %s", pkg, dep)
		}
	}
	if !slices.Contains(deps, "golang.org/x/oauth2") {
		t.Errorf("%s no longer depends on golang.org/x/oauth2: is go list -deps working?", pkg)
	}
}

// testOnly lists the packages only tests may import: their code fails tests
// rather than returning errors, and they carry fixed keys.
var testOnly = []string{
	"github.com/portcullis/portcullis/internal/tokentest",
}

// TestTestOnly: no package of the module imports a test-only package
// outside its _test.go files. The packages are internal, so only this
// module can import them: any chain of imports from non-test code to one
// ends in a direct import by some package of the module, which go list
// shows.
func TestTestOnly(t *testing.T) {
	const format = `{{.ImportPath}} {{join .Imports " "}} | {{join .TestImports " "}} {{join .XTestImports " "}}`
	out, err := exec.Command("go", "list", "-f", format, "github.com/portcullis/portcullis/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	usedByTests := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		code, tests, _ := strings.Cut(line, " | ")
		f := strings.Fields(code)
		pkg, imports := f[0], f[1:]
		for _, bad := range testOnly {
			if slices.Contains(imports, bad) {
				t.Errorf("%s imports %s outside its tests", pkg, bad)
			}
			if slices.Contains(strings.Fields(tests), bad) {
				usedByTests[bad] = true
			}
		}
	}
	// A test-only package no test imports is dead, or go list has stopped
	// reporting test imports and this test checks nothing.
	for _, p := range testOnly {
		if !usedByTests[p] {
			t.Errorf("no test imports %s: is go list reporting test imports?", p)
		}
	}
}
