package e2e

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// readmeExample is the embedding example of README.md, line for line
// between the markers; the README's last line, which serves mux, is left
// to the test.
func readmeExample() (*http.ServeMux, *store.Client, string) {
	// README begin
	iss, err := issuer.New(issuer.Config{Issuer: "http://localhost:8080", Store: memory.New(), Scopes: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss) // POST /oauth/token, /oauth/revoke, /oauth/introspect, /oauth/credentials; GET /.well-known/…
	mux.Handle("GET /v1/hello", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := middleware.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello, %s\n", p.ClientID)
	})))
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "reports"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client:", c.ID, secret) // the secret is shown once: only its hash is stored
	// README end
	return mux, c, secret
}

const readmeServe = `	log.Fatal(http.ListenAndServe("localhost:8080", mux))`

// TestREADMEEmbedding runs the README's embedding example and checks that
// the README shows exactly this code.
func TestREADMEEmbedding(t *testing.T) {
	mux, c, secret := readmeExample()
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cc := &clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: srv.URL + "/oauth/token"}
	resp, err := cc.Client(context.Background()).Get(srv.URL + "/v1/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello, "+c.ID+"\n" {
		t.Errorf("GET /v1/hello with a token: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get(srv.URL + "/v1/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/hello without a token: %d, want 401", resp.StatusCode)
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "\n## Embedding\n"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal("README.md has no Embedding section")
	}
	m := regexp.MustCompile("(?s)```go\n(import \\(\n.*?\n\\)\n)\n(.*?\n)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("the Embedding section has no Go block with an import block and code")
	}
	imports, code := m[1], strings.Split(strings.TrimSuffix(m[2], "\n"), "\n")

	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, region, ok := strings.Cut(string(src), "\t// README begin\n")
	region, _, ok2 := strings.Cut(region, "\t// README end\n")
	if !ok || !ok2 {
		t.Fatal("markers missing in readme_test.go")
	}
	want := append(strings.Split(strings.TrimSuffix(region, "\n"), "\n"), readmeServe)
	if !slices.Equal(code, want) {
		t.Errorf("README.md's embedding example differs from readmeExample:\n--- README.md\n%s\n--- readme_test.go\n%s",
			strings.Join(code, "\n"), strings.Join(want, "\n"))
	}

	// Every import the README lists is one this file compiles with.
	f, err := parser.ParseFile(token.NewFileSet(), "readme_test.go", src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		have = append(have, p)
	}
	for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(imports, -1) {
		if !slices.Contains(have, q[1]) {
			t.Errorf("README.md imports %q, which the tested code does not", q[1])
		}
	}
}
