package issuer_test

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// TestConfigErrorsListAllowedValues checks that a configuration error
// about a value from a fixed set names the set, so that a misspelt
// algorithm, format or kind is fixed without reading the source.
func TestConfigErrorsListAllowedValues(t *testing.T) {
	base := func() issuer.Config {
		return issuer.Config{Issuer: "https://issuer.example", Store: memory.New(), Logger: quietLogger()}
	}
	for _, c := range []struct {
		name string
		cfg  func(*issuer.Config)
		want []string
	}{
		{"algorithm", func(c *issuer.Config) { c.Algorithm = "ES384" },
			[]string{`"ES384"`, "ES256", "EdDSA", "RS256", "HS256"}},
		{"format", func(c *issuer.Config) { c.Format = "paseto" },
			[]string{`"paseto"`, `"jwt"`, `"opaque"`, `"uuid"`}},
		{"kind format", func(c *issuer.Config) {
			c.Kinds = []issuer.Kind{{Name: issuer.KindClient, Format: "JWT"}}
		}, []string{`"JWT"`, `"jwt"`, `"opaque"`, `"uuid"`}},
	} {
		cfg := base()
		c.cfg(&cfg)
		_, err := issuer.New(cfg)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %s", c.name, err, w)
			}
		}
	}

	// A guard asking for a kind its issuer does not define names the
	// kinds it does.
	iss, err := issuer.New(base())
	if err != nil {
		t.Fatal(err)
	}
	_, err = middleware.New(middleware.Config{Verifier: iss.Verifier(), Kinds: []string{"acount"}})
	if err == nil {
		t.Fatal("middleware.New with an unknown kind: no error")
	}
	for _, w := range []string{`"acount"`, `"client"`, `"account"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("middleware.New: error %q does not name %s", err, w)
		}
	}
}
