// Package testenv tells tests which database servers they may use.
//
// Tests reach PostgreSQL, MySQL/MariaDB and Redis only through the variables
// PORTCULLIS_TEST_POSTGRES, PORTCULLIS_TEST_MYSQL and PORTCULLIS_TEST_REDIS.
// Without a variable, that backend's tests skip with a message that says how
// to enable them, except under CI=true, where a missing variable or an
// unreachable server fails the run: a skipped backend must never look green.
package testenv

import (
	"os"
	"testing"
)

// Backend names a server the tests can use.
type Backend struct {
	Name    string // "postgres", "mysql", "redis"
	EnvVar  string
	Example string // a value that works on a default local install
}

var (
	Postgres = Backend{"postgres", "PORTCULLIS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}
	MySQL    = Backend{"mysql", "PORTCULLIS_TEST_MYSQL", "root@tcp(127.0.0.1:3306)/test"}
	Redis    = Backend{"redis", "PORTCULLIS_TEST_REDIS", "redis://127.0.0.1:6379/0"}
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
	t.Skip(msg)
}
