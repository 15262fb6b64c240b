// Package testenv tells tests which database servers they may use.
//
// Tests reach PostgreSQL, MySQL/MariaDB and Redis only through the variables
// PORTCULLIS_TEST_POSTGRES, PORTCULLIS_TEST_MYSQL and PORTCULLIS_TEST_REDIS,
// and a Redis Cluster through PORTCULLIS_TEST_REDIS_CLUSTER (the addresses
// of its masters, comma-separated; .ci/redis-cluster starts one).
// Without a variable, that backend's tests skip with a message that says how
// to enable them, except under CI=true, where a missing variable or an
// unreachable server fails the run: a skipped backend must never look green.
//
// # Visible skips
//
// go test ./... prints nothing but "ok" for a package that passes, skips
// included, unless -v. A package whose tests use the servers therefore
// calls [Main] from its TestMain: after the run it prints one line naming
// the backends that were skipped and why, on the terminal, so that it shows
// among the "ok" lines.
package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Backend names a server the tests can use.
type Backend struct {
	Name    string // "postgres", "mysql", "redis", "redis-cluster"
	EnvVar  string
	Example string // a value that works on a default local install
}

var (
	Postgres = Backend{"postgres", "PORTCULLIS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}
	MySQL    = Backend{"mysql", "PORTCULLIS_TEST_MYSQL", "root@tcp(127.0.0.1:3306)/test"}
	Redis    = Backend{"redis", "PORTCULLIS_TEST_REDIS", "redis://127.0.0.1:6379/0"}
	// RedisCluster lists a Redis Cluster's masters: host:port pairs
	// separated by commas. `eval "$(.ci/redis-cluster start)"` starts a
	// local one and sets the variable.
	RedisCluster = Backend{"redis-cluster", "PORTCULLIS_TEST_REDIS_CLUSTER", "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"}
)

// InCI reports whether the tests run under CI=true.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the backend's connection string, or skips the test (fails
// it under CI=true) when the variable is not set.
func Require(t testing.TB, b Backend) string {
	t.Helper()
	v := os.Getenv(b.EnvVar)
	if v != "" {
		return v
	}
	msg := b.Name + " tests need a server: set " + b.EnvVar + " (for example " + b.EnvVar + "='" + b.Example + "')"
	if InCI() {
		t.Fatal("CI=true but " + msg)
	}
	noteSkip(b, b.EnvVar+" is not set")
	t.Skip(msg)
	return ""
}

// Unreachable reports that the backend's server did not answer: the test
// fails under CI=true and skips otherwise, saying why either way.
func Unreachable(t testing.TB, b Backend, err error) {
	t.Helper()
	msg := b.Name + " server from " + b.EnvVar + " is unreachable: " + err.Error()
	if InCI() {
		t.Fatal(msg)
	}
	noteSkip(b, "its server from "+b.EnvVar+" is unreachable")
	t.Skip(msg)
}

// skipped holds why each backend's tests skipped in this test binary, for
// Main's notice: the testing package offers no other way to learn it.
var skipped struct {
	sync.Mutex
	why map[string]string // by Backend.Name; the first reason wins
}

func noteSkip(b Backend, why string) {
	skipped.Lock()
	defer skipped.Unlock()
	if skipped.why == nil {
		skipped.why = map[string]string{}
	}
	if _, ok := skipped.why[b.Name]; !ok {
		skipped.why[b.Name] = why
	}
}

// Main runs m's tests and returns the exit code for os.Exit; call it from
// the TestMain of a package whose tests use the servers:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// When tests skipped for want of a server, it then prints one line, such
// as "portcullis: store/sqlstore: postgres, mysql tests skipped
// (PORTCULLIS_TEST_POSTGRES is not set; …)". go test ./... shows a passing
// package's output only with -v, so without -v the line goes to the
// controlling terminal (/dev/tty) when there is one; otherwise, and with
// -v, to stderr. A cached result ("ok … (cached)") prints nothing: the
// tests did not run.
func Main(m *testing.M) int {
	code := m.Run()
	skipped.Lock()
	line := notice(packageName(), skipped.why)
	skipped.Unlock()
	if line == "" {
		return code
	}
	var w io.Writer = os.Stderr
	if !testing.Verbose() {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
	}
	fmt.Fprint(w, line)
	return code
}

// notice is Main's line for the skips in why, or "" for none.
func notice(pkg string, why map[string]string) string {
	if len(why) == 0 {
		return ""
	}
	var names, reasons []string
	for _, b := range []Backend{Postgres, MySQL, Redis, RedisCluster} { // a stable order
		if r, ok := why[b.Name]; ok {
			names = append(names, b.Name)
			reasons = append(reasons, r)
		}
	}
	var others []string // any other backend, sorted
	for name := range why {
		if !slices.Contains(names, name) {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	for _, name := range others {
		names = append(names, name)
		reasons = append(reasons, why[name])
	}
	return fmt.Sprintf("portcullis: %s: %s tests skipped (%s); see README.md, \"Tests and databases\"\n",
		pkg, strings.Join(names, ", "), strings.Join(reasons, "; "))
}

// packageName is the directory of the test binary's package relative to
// the module root (go test runs a test binary in its package's directory),
// for the notice.
func packageName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			rel, err := filepath.Rel(d, wd)
			if err != nil {
				return wd
			}
			return filepath.ToSlash(rel)
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}

// browserEnvVar names a Chromium binary for the browser tests.
const browserEnvVar = "PORTCULLIS_TEST_CHROMIUM"

// Chromium returns the path of a Chromium (or Chrome) binary for the
// browser tests: $PORTCULLIS_TEST_CHROMIUM, or the first of chromium,
// chromium-browser, google-chrome-stable and google-chrome on $PATH. When
// there is none, the test skips with a message saying how to install one,
// and fails under CI=true: .ci/run installs Debian's chromium package.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(browserEnvVar); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%q: %v", browserEnvVar, p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser tests need Chromium: install it (Debian, Ubuntu: apt-get install -y chromium) or set " +
		browserEnvVar + " to a Chromium or Chrome binary"
	if InCI() {
		t.Fatal("CI=true but " + msg)
	}
	noteSkip(Backend{Name: "browser", EnvVar: browserEnvVar}, "no chromium on $PATH")
	t.Skip(msg)
	return ""
}
