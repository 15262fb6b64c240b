package testenv

import (
	"os/exec"
	"testing"
)

func TestNotice(t *testing.T) {
	if got := notice("store/sqlstore", nil); got != "" {
		t.Errorf("no skips: %q", got)
	}
	got := notice("store/sqlstore", map[string]string{
		"mysql":    "PORTCULLIS_TEST_MYSQL is not set",
		"postgres": "its server from PORTCULLIS_TEST_POSTGRES is unreachable",
		"oracle":   "PORTCULLIS_TEST_ORACLE is not set",
	})
	want := "portcullis: store/sqlstore: postgres, mysql, oracle tests skipped (its server from PORTCULLIS_TEST_POSTGRES is unreachable; " +
		"PORTCULLIS_TEST_MYSQL is not set; PORTCULLIS_TEST_ORACLE is not set); see README.md, \"Tests and databases\"\n"
	if got != want {
		t.Errorf("notice:\n got %q\nwant %q", got, want)
	}
	if got := packageName(); got != "internal/testenv" {
		t.Errorf("packageName() = %q", got)
	}
}

func TestChromiumFromEnv(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to stand for a browser")
	}
	t.Setenv(browserEnvVar, sh)
	if got := Chromium(t); got != sh {
		t.Errorf("Chromium() = %q, want $%s = %q", got, browserEnvVar, sh)
	}
}
