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
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// readmeExample is the body of main in README.md's embedding example, line
// for line between the markers; the README's last line, which serves, is
// left to the test.
func readmeExample() (*http.Server, *store.Client, string) {
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
	httpauth.Mount(mux, iss) // POST /oauth/token, /oauth/revoke, /oauth/introspect; GET /.well-known/…
	mux.Handle("GET /v1/hello", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := middleware.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello, %s\n", p.ClientID)
	})))
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "reports"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client:", c.ID, secret) // the secret is shown once: only its hash is stored
	srv := &http.Server{
		Addr:              "localhost:8080",
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,  // a slow client cannot hold a connection open:
		ReadTimeout:       10 * time.Second, // nor trickle a body,
		WriteTimeout:      20 * time.Second, // > a request's store calls (Config.RequestTimeout, 10s)
		IdleTimeout:       time.Minute,      // nor keep an idle connection for ever
		MaxHeaderBytes:    64 << 10,
	}
	// README end
	return srv, c, secret
}

const readmeServe = `	log.Fatal(srv.ListenAndServe())`

// readmeProgram returns the Go block of README.md's Embedding section, and
// the go.mod lines its Install section gives for a local checkout.
func readmeProgram(t *testing.T) (program string, localMod []string) {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := func(title string) string {
		_, s, ok := strings.Cut(string(readme), "\n## "+title+"\n")
		if !ok {
			t.Fatalf("README.md has no %s section", title)
		}
		s, _, _ = strings.Cut(s, "\n## ")
		return s
	}
	m := regexp.MustCompile("(?s)```go\n(package main\n.*?)```").FindStringSubmatch(section("Embedding"))
	if m == nil {
		t.Fatal("the Embedding section has no Go block with a whole program (package main)")
	}
	program = m[1]
	mod := regexp.MustCompile("(?s)```go.mod\n(.*?)```").FindStringSubmatch(section("Install"))
	if mod == nil {
		t.Fatal("the Install section has no go.mod block for a local checkout")
	}
	return program, strings.Split(strings.TrimSpace(mod[1]), "\n")
}

// TestREADMEEmbedding runs the README's embedding example and checks that
// the README shows exactly this code, as a whole program.
func TestREADMEEmbedding(t *testing.T) {
	srv, c, secret := readmeExample()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("the README's server lacks a limit: header %v, read %v, write %v, idle %v, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	ts := httptest.NewServer(srv.Handler)
	defer ts.Close()

	cc := &clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: ts.URL + "/oauth/token"}
	resp, err := cc.Client(context.Background()).Get(ts.URL + "/v1/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello, "+c.ID+"\n" {
		t.Errorf("GET /v1/hello with a token: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get(ts.URL + "/v1/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/hello without a token: %d, want 401", resp.StatusCode)
	}

	program, _ := readmeProgram(t)
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, region, ok := strings.Cut(string(src), "\t// README begin\n")
	region, _, ok2 := strings.Cut(region, "\t// README end\n")
	if !ok || !ok2 {
		t.Fatal("markers missing in readme_test.go")
	}
	m := regexp.MustCompile(`(?s)^package main\n\n(import \(\n.*?\n\)\n)\nfunc main\(\) \{\n(.*)\}\n$`).FindStringSubmatch(program)
	if m == nil {
		t.Fatalf("README.md's program is not package main, one import block and func main:\n%s", program)
	}
	imports, mainBody := m[1], m[2]
	if want := region + readmeServe + "\n"; mainBody != want {
		t.Errorf("README.md's main differs from readmeExample:\n--- README.md\n%s--- readme_test.go\n%s", mainBody, want)
	}

	// Every import the README lists is one this file compiles with
	// (TestREADMEProgramBuilds compiles the program itself).
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

// TestREADMEProgramBuilds builds the README's embedding program as a
// newcomer would: in a module of its own that requires this one through
// the require and replace lines of the README's Install section, pointed
// at this checkout. It runs the go command with the module cache only
// (GOPROXY=off), and this module's go.sum, which covers every dependency.
func TestREADMEProgramBuilds(t *testing.T) {
	program, localMod := readmeProgram(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var mod strings.Builder
	fmt.Fprintf(&mod, "module example.com/readme\n\ngo %s\n\n", goDirective(t, filepath.Join(root, "go.mod")))
	replaced := false
	for _, line := range localMod {
		if target, ok := strings.CutPrefix(line, "replace github.com/portcullis/portcullis => "); ok {
			if !strings.HasPrefix(target, ".") {
				t.Errorf("the README's replace points at %q, want a relative path to a checkout", target)
			}
			line, replaced = "replace github.com/portcullis/portcullis => "+root, true
		}
		mod.WriteString(line + "\n")
	}
	if !replaced || !slices.ContainsFunc(localMod, func(l string) bool {
		return strings.HasPrefix(l, "require github.com/portcullis/portcullis ")
	}) {
		t.Fatalf("the README's go.mod lines lack the require or the replace: %q", localMod)
	}

	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"go.mod": []byte(mod.String()), "go.sum": sum, "main.go": []byte(program)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(dir, "readme"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of README.md's program: %v\n%s\n--- go.mod\n%s", err, out, mod.String())
	}
}

// goDirective returns the go line's version from the go.mod at path.
func goDirective(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no go line", path)
	}
	return string(m[1])
}
