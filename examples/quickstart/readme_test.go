package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// sampleNoise matches what differs from one run to the next: addresses,
// ids, secrets, tokens, generations and times.
var sampleNoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`http://127\.0\.0\.1:\d+`), "http://ADDR"},
	{regexp.MustCompile(`pcs_[0-9A-Za-z]+`), "SECRET"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "ID"},
	{regexp.MustCompile(`eyJ[0-9A-Za-z_.-]*…?`), "JWT"}, // the README cuts it short with "…"
	{regexp.MustCompile(`"jti":"[^"]+"`), `"jti":"JTI"`},
	{regexp.MustCompile(`"gen":\d+`), `"gen":GEN`},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
}

func normalize(s string) string {
	for _, n := range sampleNoise {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// TestREADMESample checks README.md's Quickstart samples against a real
// run: the output it shows is the beginning of what the quickstart prints,
// and the responses it shows are what the printed token and whoami
// commands answer, up to the values that differ on every run.
func TestREADMESample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quickstart\n")
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```text\n(.*?)```").FindAllStringSubmatch(section, -1)
	if !ok || len(blocks) < 2 {
		t.Fatal("README.md has no Quickstart section with an output block and a response block")
	}
	printed, answered := blocks[0][1], blocks[1][1]

	s := start(t, "-addr", "127.0.0.1:0")
	out := s.Output()
	if got := normalize(out); !strings.HasPrefix(got, normalize(printed)) {
		t.Errorf("README.md's Quickstart output is not how the quickstart's begins:\n--- README.md\n%s--- quickstart\n%s",
			normalize(printed), got[:min(len(got), len(normalize(printed))+200)])
	}

	var capture, whoami string
	for _, line := range demotest.Commands(out) {
		switch {
		case capture == "" && strings.HasPrefix(line, "RESP=$(") && strings.Contains(line, " TOKEN=$("):
			capture = line
		case strings.HasPrefix(line, `curl -s -H "Authorization: Bearer $TOKEN" `):
			whoami = line
		}
	}
	stdout, stderr := demotest.Shell(t, []string{capture, whoami})
	if got, want := normalize(stdout), normalize(answered); got != want {
		t.Errorf("README.md's Quickstart responses differ from the real ones:\n--- README.md\n%s--- real\n%s%s", want, got, stderr)
	}
}
