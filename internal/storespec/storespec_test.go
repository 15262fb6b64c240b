package storespec

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/store"
)

// TestMySQLDSN checks both forms of a mysql:// spec, the URL that most
// tools print and the go-sql-driver DSN, by what the driver reads from the
// DSN each gives.
func TestMySQLDSN(t *testing.T) {
	for _, c := range []struct {
		spec                       string
		user, passwd, addr, dbName string
		params                     map[string]string
	}{
		// URL form.
		{spec: "mysql://user:pass@host:3306/db", user: "user", passwd: "pass", addr: "host:3306", dbName: "db"},
		{spec: "mysql://user:pass@db.example.com/auth", user: "user", passwd: "pass", addr: "db.example.com:3306", dbName: "auth"},
		{spec: "mysql://root@127.0.0.1:3307/test?autocommit=1", user: "root", addr: "127.0.0.1:3307", dbName: "test",
			params: map[string]string{"autocommit": "1"}},
		{spec: "mysql://u:p%40ss%2Fw%3Ard%25@[::1]:3306/db", user: "u", passwd: "p@ss/w:rd%", addr: "[::1]:3306", dbName: "db"},
		{spec: "mysql://host:3306", addr: "host:3306"},
		// The driver's DSN.
		{spec: "mysql://user:pass@tcp(host:3306)/db", user: "user", passwd: "pass", addr: "host:3306", dbName: "db"},
		{spec: "mysql://root@tcp(127.0.0.1:3306)/test?autocommit=1", user: "root", addr: "127.0.0.1:3306", dbName: "test",
			params: map[string]string{"autocommit": "1"}},
		{spec: "mysql://user:p@ss/w@tcp(host:3306)/db", user: "user", passwd: "p@ss/w", addr: "host:3306", dbName: "db"},
		{spec: "mysql://user:pass@/db", user: "user", passwd: "pass", addr: "127.0.0.1:3306", dbName: "db"},
	} {
		dsn, err := MySQLDSN(c.spec)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Errorf("%s gives %q: %v", c.spec, dsn, err)
			continue
		}
		if cfg.User != c.user || cfg.Passwd != c.passwd || cfg.Net != "tcp" || cfg.Addr != c.addr || cfg.DBName != c.dbName {
			t.Errorf("%s: user %q passwd %q net %q addr %q db %q", c.spec, cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName)
		}
		for k, v := range c.params {
			if cfg.Params[k] != v {
				t.Errorf("%s: param %s=%q, want %q", c.spec, k, cfg.Params[k], v)
			}
		}
	}
}

func TestMySQLDSNErrors(t *testing.T) {
	for _, spec := range []string{
		"mysql://user:secret@host:port/db",   // not a port
		"mysql://user:secret@host:3306/a/b",  // a slash in the database name
		"mysql://user:secret@tcp(host:3306)", // a DSN without the slash
		"mysql://user:secret@host/db?x=%zz",  // a bad escape
		"mysql://user:secret@host:3306/db#frag",
		"mysql://user:secret@/db?timeout=abc", // a parameter the driver refuses
	} {
		_, err := MySQLDSN(spec)
		if err == nil {
			t.Errorf("%s: no error", spec)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", spec, err)
		}
	}
	if _, err := Open(context.Background(), "mysql://user:secret@host:port/db", Options{}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open: %v", err)
	}
	if _, err := Open(context.Background(), "oracle://user:secret@host/db", Options{}); !errors.Is(err, ErrUnknown) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of an unknown store: %v", err)
	}
}

// TestOpenMySQL opens the real server of PORTCULLIS_TEST_MYSQL through
// both forms of the spec, migrates, and writes and reads a client.
func TestOpenMySQL(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Net != "tcp" {
		t.Skipf("PORTCULLIS_TEST_MYSQL uses %s, which a URL cannot name", cfg.Net)
	}
	u := &url.URL{Scheme: "mysql", User: url.User(cfg.User), Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	}
	// The URL creates a client, the DSN finds it: both reach one database.
	for i, spec := range []string{u.String(), "mysql://" + dsn} {
		o, err := Open(t.Context(), spec, Options{Migrate: true})
		if err != nil {
			t.Fatalf("form %d: %v", i, err)
		}
		defer o.Close()
		if o.Label != "mysql" || o.SQL == nil {
			t.Errorf("form %d: label %q, SQL %v", i, o.Label, o.SQL)
		}
		if i == 0 {
			c := &store.Client{ID: "storespec", SecretHash: []byte("hash"), CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := o.Store.CreateClient(t.Context(), c); err != nil {
				t.Fatalf("create a client through the URL: %v", err)
			}
		} else if _, err := o.Store.GetClient(t.Context(), "storespec"); err != nil {
			t.Errorf("the client through the DSN: %v", err)
		}
	}
}
