package demotest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/internal/openapitest"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite each example's openapi.json from the document it serves")

// CheckOpenAPI reads the OpenAPI document the example named name serves
// at s.URL + "/openapi.json", checks that it is the committed openapi.json
// beside the example's main.go (-update-openapi rewrites that file), and
// returns a checker of exchanges with the example against it.
//
// The committed file is the document of a run on the example's default
// address ([demo.DefaultAddr]), the server it names; a test run listens
// elsewhere, so its address is put back before the comparison.
func CheckOpenAPI(t *testing.T, s *Server, name string) *openapitest.Checker {
	t.Helper()
	resp, err := http.Get(s.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	if !bytes.Contains(served, []byte(`"url": "`+s.URL+`"`)) {
		t.Fatalf("the document does not name the server %s", s.URL)
	}
	doc := bytes.ReplaceAll(served, []byte(s.URL), []byte("http://"+demo.DefaultAddr(name)))
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatalf("%v (go test -run TestOpenAPI -update-openapi writes it)", err)
	}
	if !bytes.Equal(committed, doc) {
		t.Errorf("openapi.json differs from the document the example serves; if the change is meant, run\n\tgo test ./examples/%s -run TestOpenAPI -update-openapi\nfirst difference near: %s",
			name, firstDiff(committed, doc))
	}
	return openapitest.New(t, served)
}

// firstDiff quotes the lines around the first difference of a and b.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n\tcommitted: " + al[i] + "\n\tserved:    " + bl[i]
		}
	}
	return "the end (one is longer)"
}

// Req builds a request with the headers (name, value pairs); a body is
// sent as JSON unless the headers set a Content-Type.
func Req(method, url, body string, header ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r, _ = http.NewRequest(method, url, nil)
	} else {
		r, _ = http.NewRequest(method, url, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

// WantStatus fails the test unless r has the status; it returns r.
func WantStatus(t *testing.T, what string, r openapitest.Response, status int) openapitest.Response {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
	return r
}

// Member returns the string member name of r's JSON object body.
func Member(t *testing.T, r openapitest.Response, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	s, _ := m[name].(string)
	return s
}
