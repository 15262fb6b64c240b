package credpage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/credpage"
	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite docs/credentials-page.png from the browser test")

// The browser test drives the page in headless Chromium, as an account
// holder would, against a real issuer over real HTTP.

const (
	testLogin    = "alice@example.com"
	testPassword = "correct horse battery staple"
)

// site is an issuer with the credentials page and a guarded route, served
// by httptest.
type site struct {
	url     string
	iss     *issuer.Issuer
	account string                                              // the id of the account testLogin
	token   func(t *testing.T, id, secret string) (string, int) // a client token from the token endpoint
	guarded string                                              // a route the guard protects
}

func newSite(t *testing.T, dialect issuer.DialectSpec, paths issuer.Paths, token func(base, id, secret string) (*http.Request, string)) *site {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	iss, err := issuer.New(issuer.Config{
		Issuer:  base,
		Store:   memory.New(),
		Dialect: dialect,
		Paths:   paths,
		// argon2id at its default costs 64 MiB and a good fraction of a
		// second per login under -race; the page does not care.
		Passwords: issuer.PasswordConfig{Memory: 64, Iterations: 1, Parallelism: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := iss.CreateAccount(context.Background(), issuer.AccountSpec{Email: testLogin, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := credpage.New(credpage.Config{Paths: iss.Paths(), Dialect: dialect, Title: "Example API credentials"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("GET /account/credentials", pg)
	mux.Handle("GET /account/credentials/", pg)
	mux.Handle("GET /api/hello", httpauth.Protect(guard, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("hello\n"))
	})))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &site{url: base, iss: iss, account: acct.ID, guarded: base + "/api/hello",
		token: func(t *testing.T, id, secret string) (string, int) {
			t.Helper()
			req, member := token(base, id, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			tok, _ := body[member].(string)
			return tok, resp.StatusCode
		}}
}

// call sends a GET with a bearer token and returns the status.
func call(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func jsonRequest(url string, body map[string]string) *http.Request {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// newBrowser starts headless Chromium for the test, with a fresh profile
// and everything that would reach out to the network turned off.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 900),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", exe, err)
	}
	return bctx
}

// tab is one browser tab on the page, which records the page's uncaught
// exceptions, console errors and Content-Security-Policy violations: any
// of them fails the test.
type tab struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	shot int

	mu       sync.Mutex
	problems []string
}

func newTab(t *testing.T, browser context.Context) *tab {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, dir: t.TempDir()}
	err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				p += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				p = "console error"
			}
		}
		if p != "" {
			tb.mu.Lock()
			tb.problems = append(tb.problems, p)
			tb.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// DevTools scripts are not subject to the page's policy: this one
	// records its violations where check can read them.
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));`,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// do runs actions, failing the test with what step names.
func (tb *tab) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", step, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript condition holds in the page, for
// what the page does asynchronously without a visible change to wait for.
func (tb *tab) waitFor(cond string) {
	tb.t.Helper()
	expr := `new Promise((resolve, reject) => {
  const start = Date.now();
  (function check() {
    if (` + cond + `) resolve(true);
    else if (Date.now() - start > 60000) reject(new Error('timed out'));
    else setTimeout(check, 20);
  })();
})`
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise)); err != nil {
		tb.t.Fatalf("wait for %s: %v", cond, err)
	}
}

// waitStatus waits until the live region says something with want in it.
func (tb *tab) waitStatus(want string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf(`document.querySelector('#status').textContent.includes(%q)`, want))
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
}

// focused returns the id of the element that has the focus.
func (tb *tab) focused() string {
	tb.t.Helper()
	return eval[string](tb, `document.activeElement ? document.activeElement.id : ''`)
}

// check fails the test on any exception, console error or policy
// violation so far, and saves a screenshot of the page as it is.
func (tb *tab) check(state string) {
	tb.t.Helper()
	tb.mu.Lock()
	problems := tb.problems
	tb.mu.Unlock()
	for _, p := range problems {
		tb.t.Errorf("%s: the page reported %s", state, p)
	}
	for _, v := range eval[[]string](tb, `window.__violations || []`) {
		tb.t.Errorf("%s: Content-Security-Policy violation: %s", state, v)
	}
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", state, err)
	}
	tb.shot++
	name := filepath.Join(tb.dir, fmt.Sprintf("%02d-%s.png", tb.shot, state))
	if err := os.WriteFile(name, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot of %s: %s", state, name)
}

func (tb *tab) logIn(login, password string) {
	tb.t.Helper()
	tb.do("log in",
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#login').value = ''; document.querySelector('#password').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-button")),
	)
}

func TestBrowser(t *testing.T) {
	browser := newBrowser(t)

	t.Run("DataCrunch", func(t *testing.T) {
		s := newSite(t, issuer.DataCrunch(), issuer.Paths{Token: "/v1/oauth2/token"},
			func(base, id, secret string) (*http.Request, string) {
				return jsonRequest(base+"/v1/oauth2/token", map[string]string{
					"grant_type": "client_credentials", "client_id": id, "client_secret": secret}), "access_token"
			})
		tb := newTab(t, browser)
		tb.do("open the page", chromedp.Navigate(s.url+"/account/credentials"), chromedp.WaitVisible(chromedp.CSS("#login")))
		if title := eval[string](tb, `document.title`); title != "Example API credentials" {
			t.Errorf("title %q", title)
		}
		tb.check("login")

		// A wrong password: an error, announced and focused.
		tb.logIn(testLogin, "not the password at all")
		tb.do("wrong password", chromedp.WaitVisible(chromedp.CSS("#error")))
		if msg := tb.text("#error"); !strings.Contains(msg, "Login failed") {
			t.Errorf("wrong password: error %q", msg)
		}
		if f := tb.focused(); f != "error" {
			t.Errorf("wrong password: focus on #%s, want #error", f)
		}
		if eval[bool](tb, `!document.querySelector('#keys-section').hidden`) {
			t.Error("wrong password: the keys are shown")
		}
		tb.check("wrong-password")

		// A key made elsewhere, whose name is markup.
		const evil = `<img src=x onerror=alert(1)> "legacy"`
		legacy, _, err := s.iss.CreateClient(context.Background(), issuer.ClientSpec{Name: evil, OwnerAccount: s.account})
		if err != nil {
			t.Fatal(err)
		}

		// The right password: the keys; the focus on their heading.
		tb.logIn(testLogin, testPassword)
		tb.waitStatus("Logged in as")
		if got := tb.text("#keys-body th"); got != evil {
			t.Errorf("listed name %q, want %q", got, evil)
		}
		if eval[int](tb, `document.querySelectorAll('#keys-body img').length`) != 0 {
			t.Error("a key's name was rendered as markup")
		}
		if f := tb.focused(); f != "keys-heading" {
			t.Errorf("after login: focus on #%s, want #keys-heading", f)
		}
		if msg := tb.text("#status"); !strings.Contains(msg, "Logged in as "+testLogin) {
			t.Errorf("after login: status %q", msg)
		}
		if eval[string](tb, `document.querySelector('#password').value`) != "" {
			t.Error("the password is left in its field")
		}
		tb.check("logged-in")

		// Deleted elsewhere: gone from the list when it is next read.
		if err := s.iss.DeleteClient(context.Background(), legacy.ID); err != nil {
			t.Fatal(err)
		}

		// A named key.
		const name = "billing cron job"
		tb.do("generate a key",
			chromedp.SendKeys(chromedp.CSS("#key-name"), name),
			chromedp.Click(chromedp.CSS("#create")),
		)
		tb.waitStatus("Key generated")
		id, secret := tb.text("#new-key-id"), tb.text("#new-key-secret")
		if id == "" || !strings.HasPrefix(secret, "pcs_") {
			t.Fatalf("new key: id %q, secret %q", id, secret)
		}
		if f := tb.focused(); f != "new-key-heading" {
			t.Errorf("after generating: focus on #%s, want #new-key-heading", f)
		}
		if w := tb.text("#new-key-warning"); !strings.Contains(w, "cannot be shown again") {
			t.Errorf("no warning that the secret is shown once: %q", w)
		}
		if got := eval[[]string](tb, `[...document.querySelectorAll('#keys-body th')].map((e) => e.textContent)`); len(got) != 1 || got[0] != name {
			t.Errorf("listed names %q, want only %q", got, name)
		}
		if got := tb.text("#keys-body code"); got != id {
			t.Errorf("listed id %q, want %q", got, id)
		}
		if eval[string](tb, `document.querySelector('#keys-body time').dateTime`) == "" {
			t.Error("the key's creation time is not shown")
		}
		tb.do("copy", chromedp.Click(chromedp.CSS("#copy")))
		tb.waitStatus("The secret is")
		tb.check("new-key")
		if *updateScreenshot {
			png, err := chromedp.Run(tb.ctx, chromedp.Screenshot(chromedp.CSS("#app")))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("../docs/credentials-page.png", png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		// The secret works at the token endpoint, and its token at the guard.
		access, status := s.token(t, id, secret)
		if status != http.StatusOK || access == "" {
			t.Fatalf("token endpoint with the page's secret: %d", status)
		}
		if got := call(t, s.guarded, access); got != http.StatusOK {
			t.Fatalf("guarded route with the new key's token: %d", got)
		}

		// Nothing was kept in the browser, and a reload forgets it all.
		if n := eval[int](tb, `localStorage.length + sessionStorage.length + document.cookie.length`); n != 0 {
			t.Errorf("the page stored %d things in the browser", n)
		}
		tb.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#login")))
		if html := eval[string](tb, `document.documentElement.outerHTML`); strings.Contains(html, secret) || strings.Contains(html, id) {
			t.Error("after a reload the page still shows the key")
		}
		if eval[bool](tb, `!document.querySelector('#keys-section').hidden`) {
			t.Error("after a reload the account is still logged in")
		}
		tb.check("reloaded")

		// Delete: cancel first, then confirm.
		tb.logIn(testLogin, testPassword)
		tb.waitStatus("Logged in as")
		del := chromedp.CSS(fmt.Sprintf(`#keys-body button[data-key-id=%q]`, id))
		tb.do("ask to delete", chromedp.Click(del), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		if f := tb.focused(); f != "confirm-cancel" {
			t.Errorf("confirmation: focus on #%s, want #confirm-cancel", f)
		}
		if got := tb.text("#confirm-key"); !strings.Contains(got, id) || !strings.Contains(got, name) {
			t.Errorf("confirmation names %q", got)
		}
		tb.check("confirm-delete")
		tb.do("cancel", chromedp.Click(chromedp.CSS("#confirm-cancel")), chromedp.WaitNotVisible(chromedp.CSS("#confirm")))
		if got := eval[string](tb, `document.activeElement.dataset.keyId || ''`); got != id {
			t.Errorf("after cancel: focus on %q, want the key's delete button", got)
		}
		if got := call(t, s.guarded, access); got != http.StatusOK {
			t.Fatalf("after cancel the key's token is refused: %d", got)
		}
		tb.do("delete",
			chromedp.Click(del), chromedp.WaitVisible(chromedp.CSS("#confirm")),
			chromedp.Click(chromedp.CSS("#confirm-delete")),
		)
		tb.waitStatus("is deleted")
		if !eval[bool](tb, `!document.querySelector('#no-keys').hidden && document.querySelectorAll('#keys-body tr').length === 0`) {
			t.Error("after delete: the key is still listed")
		}
		if msg := tb.text("#status"); !strings.Contains(msg, "is deleted") {
			t.Errorf("after delete: status %q", msg)
		}
		if f := tb.focused(); f != "status" {
			t.Errorf("after delete: focus on #%s, want #status", f)
		}
		tb.check("deleted")

		// Its tokens die at once, and its secret is refused.
		if got := call(t, s.guarded, access); got != http.StatusUnauthorized {
			t.Errorf("guarded route with a deleted key's token: %d, want 401", got)
		}
		if _, status := s.token(t, id, secret); status != http.StatusUnauthorized {
			t.Errorf("token endpoint with a deleted key's secret: %d, want 401", status)
		}

		tb.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))
		if f := tb.focused(); f != "login" {
			t.Errorf("after logout: focus on #%s, want #login", f)
		}
		tb.check("logged-out")
	})

	// Bloq's dialect: other paths and member names, a listing that is an
	// array, keys with no name.
	t.Run("Bloq", func(t *testing.T) {
		s := newSite(t, issuer.Bloq(), issuer.Paths{Token: "/auth/token", Login: "/auth/login", AccountKeys: "/users/me/client-keys"},
			func(base, id, secret string) (*http.Request, string) {
				return jsonRequest(base+"/auth/token", map[string]string{
					"grantType": "clientCredentials", "clientId": id, "clientSecret": secret}), "accessToken"
			})
		tb := newTab(t, browser)
		tb.do("open the page", chromedp.Navigate(s.url+"/account/credentials"))
		tb.logIn("ALICE@example.com", "wrong password, long enough")
		tb.do("wrong password", chromedp.WaitVisible(chromedp.CSS("#error")))
		tb.logIn("ALICE@example.com", testPassword)
		tb.waitStatus("Logged in as")
		if eval[bool](tb, `document.querySelector('#key-name') !== null`) {
			t.Error("the page asks for a name the dialect never shows")
		}
		tb.do("generate a key", chromedp.Click(chromedp.CSS("#create")))
		tb.waitStatus("Key generated")
		id, secret := tb.text("#new-key-id"), tb.text("#new-key-secret")
		if len(secret) != 64 {
			t.Fatalf("new key: id %q, secret %q: want 64 hex digits", id, secret)
		}
		if got := tb.text("#keys-body code"); got != id {
			t.Errorf("listed id %q, want %q", got, id)
		}
		tb.check("bloq-new-key")
		access, status := s.token(t, id, secret)
		if status != http.StatusOK || call(t, s.guarded, access) != http.StatusOK {
			t.Fatalf("the new key's token: %d", status)
		}
		del := chromedp.CSS(fmt.Sprintf(`#keys-body button[data-key-id=%q]`, id))
		tb.do("delete", chromedp.Click(del), chromedp.WaitVisible(chromedp.CSS("#confirm")),
			chromedp.Click(chromedp.CSS("#confirm-delete")))
		tb.waitStatus("is deleted")
		if eval[int](tb, `document.querySelectorAll('#keys-body tr').length`) != 0 {
			t.Error("after delete: the key is still listed")
		}
		if got := call(t, s.guarded, access); got != http.StatusUnauthorized {
			t.Errorf("guarded route with a deleted key's token: %d, want 401", got)
		}
		tb.check("bloq-deleted")
	})
}

// TestMain prints a line when the browser test skipped for want of
// Chromium, since go test ./... shows nothing but "ok" for a package.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
