package demotest

import (
	"strings"
	"testing"
)

// CheckCredentialsPage checks that the example serves the credentials page
// (package credpage) at base + "/account/credentials", with its security
// headers and its script and style sheet, set up to call the account login
// and keys endpoints at loginPath and keysPath. The browser test of package
// credpage drives the page itself.
func CheckCredentialsPage(t *testing.T, base, loginPath, keysPath string) {
	t.Helper()
	page := Do(t, "GET", base+"/account/credentials", nil)
	if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /account/credentials: %d %q", page.Status, page.Header.Get("Content-Type"))
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("credentials page: Content-Security-Policy %q", csp)
	}
	for _, want := range []string{`data-login-url="` + loginPath + `"`, `data-keys-url="` + keysPath + `"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("credentials page: no %s", want)
		}
	}
	for _, asset := range []string{"/account/credentials/app.js", "/account/credentials/app.css"} {
		if r := Do(t, "GET", base+asset, nil); r.Status != 200 || r.Body == "" {
			t.Errorf("GET %s: %d", asset, r.Status)
		}
	}
}
