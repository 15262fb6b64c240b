package demotest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Response is a response read in full.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends a request with the headers (name, value pairs, set as given,
// so that a lowercase name stays lowercase on the wire) and reads the
// response. A body of nil sends none; a body that is not a
// *strings.Reader, *bytes.Reader or *bytes.Buffer is sent chunked, as
// Node.js' http.request sends what it is given with write().
func Do(t *testing.T, method, url string, body io.Reader, header ...string) Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header[header[i]] = append(req.Header[header[i]], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{resp.StatusCode, resp.Header, string(b)}
}

// Chunked wraps s in a reader of unknown length, so that Do sends it
// chunked.
func Chunked(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} }

// Members returns the member names of a JSON object, in the order they
// appear, and the object decoded; a body that is not a JSON object fails
// the test.
func Members(t *testing.T, body string) ([]string, map[string]any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.Token() // {
	var names []string
	for dec.More() {
		tok, _ := dec.Token()
		names = append(names, tok.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	return names, m
}

// WantJSON checks a response's status, that it is JSON that no cache
// keeps, and that its members are exactly want, in order; it returns the
// object.
func WantJSON(t *testing.T, r Response, status int, want ...string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	names, m := Members(t, r.Body)
	if !slices.Equal(names, want) {
		t.Errorf("members %v, want %v: %s", names, want, r.Body)
	}
	return m
}

// SameRefusal checks that two refusals are the same bytes: status, body
// and every header but Date.
func SameRefusal(t *testing.T, a, b Response) {
	t.Helper()
	if a.Status < 400 || a.Status != b.Status || a.Body != b.Body {
		t.Errorf("refusals differ: %d %s / %d %s", a.Status, a.Body, b.Status, b.Body)
	}
	ha, hb := a.Header.Clone(), b.Header.Clone()
	ha.Del("Date")
	hb.Del("Date")
	var wa, wb bytes.Buffer
	ha.Write(&wa)
	hb.Write(&wb)
	if wa.String() != wb.String() {
		t.Errorf("refusal headers differ:\n%s\n%s", wa.String(), wb.String())
	}
}

// commandLine matches what the examples print to paste: indented curl
// commands and variable assignments.
var commandLine = regexp.MustCompile(`^  (curl |[A-Z][A-Z_]*=)`)

// Commands returns the command lines an example printed, in order,
// without their indentation.
func Commands(out string) []string {
	var cmds []string
	for _, line := range strings.Split(out, "\n") {
		if commandLine.MatchString(line) {
			cmds = append(cmds, strings.TrimPrefix(line, "  "))
		}
	}
	return cmds
}

// Shell runs lines in one bash, as a reader pasting them would, and
// returns what they printed to stdout and stderr. It skips the test when
// bash or curl is missing.
func Shell(t *testing.T, lines []string) (stdout, stderr string) {
	t.Helper()
	for _, bin := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found: the printed commands cannot be run", bin)
		}
	}
	cmd := exec.CommandContext(t.Context(), "bash", "--norc", "--noprofile")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v\n%s\n%s", err, o.String(), e.String())
	}
	return o.String(), e.String()
}
