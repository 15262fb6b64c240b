package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
	"github.com/portcullis/portcullis/issuer"
)

// TestKEK: with -kek (or PORTCULLIS_KEK) the signing keys are sealed in
// the store; a restart with the same KEK reads them, one without it or
// with another refuses to start, and without any a warning says the keys
// are in the clear.
func TestKEK(t *testing.T) {
	kek := "k1:" + strings.Repeat("A", 43)
	st := []string{"-store", "sqlite:" + t.TempDir() + "/qs.db", "-client-id", demoID, "-client-secret", demoSecret}
	s := start(t, append([]string{"-addr", "127.0.0.1:0", "-kek", kek}, st...)...)
	if strings.Contains(s.Output(), "in the clear") {
		t.Errorf("warned of clear keys with -kek:\n%s", s.Output())
	}
	tok := getToken(t, clientCredentials(s, demoID, demoSecret))
	t.Setenv(kekEnv, kek)
	s = restart(t, s, st...)
	if code, _ := demotest.Whoami(t, s.URL, tok); code != http.StatusOK {
		t.Errorf("token after a restart with the KEK from %s: %d", kekEnv, code)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"", "k1:" + strings.Repeat("B", 43), "k2:" + strings.Repeat("A", 43)} {
		t.Setenv(kekEnv, env)
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, st...), io.Discard)
		if !errors.Is(err, issuer.ErrKeyEncryption) {
			t.Errorf("start with %s=%q: %v, want ErrKeyEncryption", kekEnv, env, err)
		}
	}
	t.Setenv(kekEnv, "")
	if err := run(context.Background(), []string{"-kek", "k1:short"}, io.Discard); err == nil {
		t.Error("a malformed -kek was accepted")
	}
	s = start(t, "-addr", "127.0.0.1:0", "-store", "sqlite:"+t.TempDir()+"/clear.db")
	if !strings.Contains(s.Output(), "signing keys are stored in the clear") {
		t.Errorf("no warning without a KEK on a persistent store:\n%s", s.Output())
	}
}
