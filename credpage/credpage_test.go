package credpage_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/credpage"
	"github.com/portcullis/portcullis/issuer"
)

func newPage(t *testing.T, cfg credpage.Config) *credpage.Page {
	t.Helper()
	p, err := credpage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestHeaders(t *testing.T) {
	p := newPage(t, credpage.Config{})
	for _, path := range []string{"/account/credentials", "/account/credentials/app.js", "/account/credentials/app.css", "/account/credentials/nope"} {
		resp, _ := get(t, p, http.MethodGet, path)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
			"form-action 'none'", "frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q allows something unsafe", path, csp)
		}
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"Cache-Control":          "no-store",
			"X-Frame-Options":        "DENY",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
	}
}

func TestAssets(t *testing.T) {
	p := newPage(t, credpage.Config{Path: "/creds"})
	for _, c := range []struct {
		path, ctype, contains string
	}{
		{"/creds", "text/html; charset=utf-8", `<script src="/creds/app.js" defer></script>`},
		{"/creds/app.js", "text/javascript; charset=utf-8", "let token = null;"},
		{"/creds/app.css", "text/css; charset=utf-8", ":focus-visible"},
	} {
		resp, body := get(t, p, http.MethodGet, c.path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("GET %s: %d %q, want 200 %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.ctype)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		resp, body = get(t, p, http.MethodHead, c.path)
		if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Content-Length") == "" {
			t.Errorf("HEAD %s: %d with %d bytes, Content-Length %q", c.path, resp.StatusCode, len(body), resp.Header.Get("Content-Length"))
		}
	}
	for _, path := range []string{"/", "/creds/", "/creds/page.html", "/creds/app.js/x", "/account/credentials"} {
		if resp, _ := get(t, p, http.MethodGet, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	resp, _ := get(t, p, http.MethodPost, "/creds")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q, want 405 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// The page carries no inline script or style, which its policy would
// refuse anyway, and every form control has a label.
func TestPageMarkup(t *testing.T) {
	_, body := get(t, newPage(t, credpage.Config{}), http.MethodGet, "/account/credentials")
	for _, bad := range []string{"<script>", "<style", " style=", " onclick", " onsubmit", "javascript:", "localStorage", "sessionStorage"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	for _, id := range []string{"login", "password", "key-name"} {
		if !strings.Contains(body, `<label for="`+id+`">`) || !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("input #%s has no label", id)
		}
	}
	if !strings.Contains(body, `role="status" aria-live="polite"`) || !strings.Contains(body, `role="alert"`) {
		t.Error("the page has no live region")
	}
	_, js := get(t, newPage(t, credpage.Config{}), http.MethodGet, "/account/credentials/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "localStorage", "sessionStorage", "document.cookie", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// What the configuration puts in the page is escaped.
func TestTemplateEscaping(t *testing.T) {
	p := newPage(t, credpage.Config{
		Title:  `<script>alert("title")</script>`,
		Prefix: `/a"><script>alert(1)</script>`,
		Names:  credpage.Names{AccessToken: `tok" onmouseover="alert(2)`},
	})
	_, body := get(t, p, http.MethodGet, "/account/credentials")
	for _, bad := range []string{`<script>alert`, `" onmouseover="`, `"><script>`} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	for _, want := range []string{
		`<title>&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;</title>`,
		`data-token-member="tok&#34; onmouseover=&#34;alert(2)"`,
		// A URL attribute: percent-encoded.
		`data-login-url="/a%22%3e%3cscript%3ealert%281%29%3c/script%3e/account/login"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// The page reads the member names of the issuer's dialect.
func TestDialectNames(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   credpage.Config
		want  []string
		never []string
	}{
		{"oauth2", credpage.Config{}, []string{
			`data-login-url="/account/login"`, `data-keys-url="/account/keys"`, `data-token-member="access_token"`,
			`data-error-description="error_description"`, `data-key-list="keys"`, `data-key-id="client_id"`,
			`data-key-secret="client_secret"`, `data-key-name="name"`, `data-key-created="created_at"`, `id="key-name"`,
			`data-new-key-id="client_id"`,
		}, nil},
		{"bloq", credpage.Config{
			Dialect: issuer.Bloq(), Paths: issuer.Paths{Login: "/auth/login", AccountKeys: "/users/me/client-keys"},
		}, []string{
			`data-login-url="/auth/login"`, `data-keys-url="/users/me/client-keys"`, `data-token-member="accessToken"`,
			`data-error-code="code"`, `data-error-description="message"`, `data-key-list=""`, `data-key-id="clientId"`,
			`data-key-secret="clientSecret"`, `data-key-name=""`, `data-key-created="createdAt"`, `data-new-key-id="clientId"`,
		}, []string{`id="key-name"`, `>Name</th>`}},
		{"pointer to spec, prefix and overrides", credpage.Config{
			Dialect: &issuer.DialectSpec{
				Response: []issuer.Member{{Name: "jwt", Field: issuer.FieldAccessToken}},
				Keys: issuer.KeyFormat{
					Created: []issuer.KeyMember{{Name: "newId", Field: issuer.KeyClientID}, {Name: "s", Field: issuer.KeyClientSecret}},
					Listed:  []issuer.KeyMember{{Name: "id", Field: issuer.KeyClientID}, {Name: "label", Field: issuer.KeyName}},
				},
			},
			Prefix: "/auth",
			Names:  credpage.Names{KeyList: "items", NoKeyCreated: true},
		}, []string{
			`data-login-url="/auth/account/login"`, `data-token-member="jwt"`, `data-key-list="items"`, `data-key-created=""`,
			`data-key-id="id"`, `data-new-key-id="newId"`, `data-key-secret="s"`, `data-key-name="label"`,
		}, []string{`>Created</th>`}},
		{"one id member overridden", credpage.Config{Dialect: issuer.Bloq(), Names: credpage.Names{KeyID: "kid"}},
			[]string{`data-key-id="kid"`, `data-new-key-id="kid"`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, body := get(t, newPage(t, c.cfg), http.MethodGet, "/account/credentials")
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %s", w)
				}
			}
			for _, n := range c.never {
				if strings.Contains(body, n) {
					t.Errorf("the page holds %s", n)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []credpage.Config{
		{Path: "account"},
		{Path: "/account/"},
		{Path: "/a?b"},
		{Prefix: "auth"},
		{Prefix: "/auth/"},
		{Paths: issuer.Paths{Login: "-"}},
		{Paths: issuer.Paths{AccountKeys: "-"}},
	} {
		if _, err := credpage.New(cfg); !errors.Is(err, credpage.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}
