package e2e

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// jsClient returns the directory of the JavaScript clients (jose), or
// skips the test when they are not installed; under CI=true, where .ci/run
// installs them, it fails instead.
func jsClient(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("jsclient")
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "jose"))
	if nodeErr == nil && modErr == nil {
		return dir
	}
	msg := "the jose tests need Node.js and its packages: run npm ci --prefix e2e/jsclient"
	if testenv.InCI() {
		t.Fatal("CI=true but " + msg)
	}
	t.Skip(msg)
	return ""
}

// TestPrivateKeyJWTWithJose: assertions signed by the jose package, as a
// JavaScript client makes them, authenticate at the token endpoint; a
// replayed one does not.
func TestPrivateKeyJWTWithJose(t *testing.T) {
	dir := jsClient(t)
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			defer srv.Close()
			iss, err := issuer.New(issuer.Config{Issuer: srv.URL, Store: memory.New(), Logger: slog.New(slog.DiscardHandler),
				PrivateKeyJWT: issuer.PrivateKeyJWTConfig{Enabled: true}})
			if err != nil {
				t.Fatal(err)
			}
			mux.Handle("/", iss.Handler())

			const id = "js-client"
			cmd := exec.Command("node", "sign-assertion.mjs", id, srv.URL+"/oauth/token", alg)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			var signed struct {
				JWKS       json.RawMessage `json:"jwks"`
				Assertions []string        `json:"assertions"`
			}
			if err := json.Unmarshal(out, &signed); err != nil {
				t.Fatalf("node output %q: %v", out, err)
			}
			if _, _, err := iss.CreateClient(t.Context(), issuer.ClientSpec{ID: id, JWKS: signed.JWKS}); err != nil {
				t.Fatalf("registering jose's key: %v", err)
			}
			post := func(assertion string) int {
				resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{
					"grant_type":            {"client_credentials"},
					"client_assertion_type": {issuer.AssertionTypeJWTBearer},
					"client_assertion":      {assertion},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				return resp.StatusCode
			}
			if got := post(signed.Assertions[0]); got != http.StatusOK {
				t.Fatalf("jose assertion: status %d, want 200", got)
			}
			if got := post(signed.Assertions[0]); got != http.StatusUnauthorized {
				t.Errorf("replayed jose assertion: status %d, want 401", got)
			}
			if got := post(signed.Assertions[1]); got != http.StatusOK {
				t.Errorf("second jose assertion: status %d, want 200", got)
			}
		})
	}
}
