// Package credpage serves a self-service credentials page: the page where
// an API's account holders log in, see their client keys, generate a named
// key (its secret shown once) and delete one, as DataCrunch's users
// "generate credentials via the dashboard UI".
//
// The page is a thin client of the issuer's own HTTP endpoints, the
// account login (Paths.Login, HTTP Basic → account token) and the account
// keys (Paths.AccountKeys: POST, GET, DELETE {id}); it never touches the
// store, so it shows exactly what a program calling those endpoints would
// get. Its HTML, script and style sheet are embedded in the binary: no
// build step, no framework.
//
// # Mounting
//
// [New] takes the issuer's paths and dialect, from which it learns where
// the endpoints are and the names of the members of their answers:
//
//	page, err := credpage.New(credpage.Config{Paths: iss.Paths(), Dialect: dialect})
//	mux.Handle("GET /account/credentials", page)
//	mux.Handle("GET /account/credentials/", page) // its script and style sheet
//
// The page must be served from the same origin as the issuer's endpoints:
// its Content-Security-Policy lets it connect to its own origin only.
//
// # Security
//
//   - The account token is kept in a JavaScript variable only, never in
//     localStorage, sessionStorage or a cookie: a reload or a closed tab
//     logs the account out, and no cross-site request ever carries it.
//   - Every answer carries a strict Content-Security-Policy (no inline
//     script or style, connections to the page's own origin only, no
//     framing, no form submission, Trusted Types required), and
//     X-Content-Type-Options, Referrer-Policy: no-referrer and
//     Cache-Control: no-store.
//   - Requests are made with credentials: "omit", so that the browser
//     sends no cookie and never opens its own password prompt on a 401.
//   - A new key's secret is shown once, with a copy button and the warning
//     that it cannot be shown again; it leaves the page when the account
//     dismisses it, makes another key, logs out or reloads.
//
// # Accessibility
//
// Inputs are labelled, actions are buttons, status and errors are
// announced in a live region, deleting asks for confirmation in a modal
// dialog, and the focus moves to the result of every action.
package credpage

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/issuer"
)

//go:embed assets/page.html assets/app.js assets/app.css
var assets embed.FS

// pageTemplate is the page; its settings are data attributes, read by the
// script, so that the page holds no inline script.
var pageTemplate = template.Must(template.ParseFS(assets, "assets/page.html"))

// Config configures a [Page]. The zero value serves the page at
// /account/credentials for an issuer with the default paths and the
// OAuth2 dialect.
type Config struct {
	// Path is the URL path the page is served at; its script and style
	// sheet are served below it (Path + "/app.js", Path + "/app.css").
	// Default "/account/credentials".
	Path string
	// Paths are the issuer's endpoint paths, as [issuer.Issuer.Paths]
	// returns them: the page calls Login and AccountKeys, which must be
	// enabled. Zero fields take the issuer's defaults ("/account/login",
	// "/account/keys").
	Paths issuer.Paths
	// Prefix is prepended to Paths when the issuer's handler is mounted
	// below a path (with http.StripPrefix), e.g. "/auth". Default "".
	Prefix string
	// Dialect is the issuer's dialect. The names of the members the page
	// reads are taken from an [issuer.DialectSpec] (its Response, Error
	// and Keys); any other dialect is taken to answer with the issuer's
	// own names, RFC 6749's (override them in Names). Default
	// [issuer.OAuth2].
	Dialect issuer.Dialect
	// Names overrides, field by field, the member names learnt from
	// Dialect. Default: none.
	Names Names
	// Title is the page's title and heading. Default "API credentials".
	Title string
}

// Names are the names of the JSON members the page reads and writes at
// the issuer's endpoints. An empty field means the name the dialect
// implies.
type Names struct {
	// AccessToken is the member of the login answer that holds the
	// account token. Default "access_token".
	AccessToken string
	// ErrorDescription is the member of an error body that explains it.
	// Default "error_description".
	ErrorDescription string
	// ErrorCode is the member of an error body that holds its code.
	// Default "error".
	ErrorCode string
	// KeyList is the member of the keys listing that holds the keys; the
	// page also takes a listing that is a JSON array. Default "keys".
	KeyList string
	// KeyID, KeySecret, KeyName and KeyCreated are the members of a key;
	// KeyID names its id both in the listing and in the answer that
	// creates it. Defaults "client_id", "client_secret", "name",
	// "created_at".
	KeyID, KeySecret, KeyName, KeyCreated string
	// NoKeyName hides the name of keys when the key listing has no name
	// member (Bloq's): the page then neither asks for a name nor shows
	// one. Default false.
	NoKeyName bool
	// NoKeyCreated hides the creation time, when the listing has none.
	// Default false.
	NoKeyCreated bool
}

// ErrConfig is wrapped by the errors of [New] for a configuration that
// cannot work.
var ErrConfig = errors.New("credpage: bad configuration")

// Page is the credentials page, an [http.Handler] for GET and HEAD at
// Config.Path and its two assets below it. Make one with [New].
type Page struct {
	path    string
	html    []byte // the page, rendered once
	js, css []byte
	csp     string
}

// contentSecurityPolicy allows the page's own script, style sheet and
// connections, and nothing else; require-trusted-types-for makes the
// browser refuse any string-to-HTML sink the script might grow.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'"

// New checks cfg and renders the page.
func New(cfg Config) (*Page, error) {
	if cfg.Path == "" {
		cfg.Path = "/account/credentials"
	}
	if !strings.HasPrefix(cfg.Path, "/") || strings.HasSuffix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("%w: Path %q must start with / and have no trailing /, query or fragment", ErrConfig, cfg.Path)
	}
	if cfg.Prefix != "" && (!strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/")) {
		return nil, fmt.Errorf("%w: Prefix %q must start with / and have no trailing /", ErrConfig, cfg.Prefix)
	}
	login, keys := cfg.Paths.Login, cfg.Paths.AccountKeys
	if login == "" {
		login = "/account/login"
	}
	if keys == "" {
		keys = "/account/keys"
	}
	if login == "-" || keys == "-" {
		return nil, fmt.Errorf("%w: the issuer's login and account keys endpoints must be enabled (Paths.Login and Paths.AccountKeys)", ErrConfig)
	}
	if cfg.Title == "" {
		cfg.Title = "API credentials"
	}
	names, createdID := namesOf(cfg.Dialect)
	if createdID == "" || cfg.Names.KeyID != "" {
		createdID = cfg.Names.KeyID
	}
	names = names.override(cfg.Names)
	if createdID == "" {
		createdID = names.KeyID
	}
	js, err := assets.ReadFile("assets/app.js")
	if err != nil {
		return nil, err
	}
	css, err := assets.ReadFile("assets/app.css")
	if err != nil {
		return nil, err
	}
	var html bytes.Buffer
	err = pageTemplate.Execute(&html, pageData{
		Title:  cfg.Title,
		Script: cfg.Path + "/app.js",
		Style:  cfg.Path + "/app.css",
		Login:  cfg.Prefix + login,
		Keys:   cfg.Prefix + keys,
		Names:  names,
		NewID:  createdID,
	})
	if err != nil {
		return nil, fmt.Errorf("credpage: render the page: %w", err)
	}
	return &Page{path: cfg.Path, html: html.Bytes(), js: js, css: css, csp: contentSecurityPolicy}, nil
}

// pageData is what the page template is executed with.
type pageData struct {
	Title, Script, Style, Login, Keys string
	Names                             Names
	NewID                             string // the key id's member in the answer to POST
}

// namesOf returns the member names dialect d implies, and the name of the
// key id's member in the answer to POST when it differs from the
// listing's.
func namesOf(d issuer.Dialect) (Names, string) {
	n := Names{
		AccessToken: "access_token", ErrorCode: "error", ErrorDescription: "error_description",
		KeyList: "keys", KeyID: "client_id", KeySecret: "client_secret", KeyName: "name", KeyCreated: "created_at",
	}
	var spec issuer.DialectSpec
	switch v := d.(type) {
	case issuer.DialectSpec:
		spec = v
	case *issuer.DialectSpec:
		if v == nil {
			return n, ""
		}
		spec = *v
	default:
		return n, ""
	}
	for _, m := range spec.Response {
		if m.Field == issuer.FieldAccessToken {
			n.AccessToken = m.Name
		}
	}
	if spec.Error != (issuer.ErrorFields{}) {
		n.ErrorCode, n.ErrorDescription = spec.Error.Code, spec.Error.Description
	}
	k := spec.Keys
	if k.Array {
		n.KeyList = ""
	} else if k.List != "" {
		n.KeyList = k.List
	}
	var createdID string
	for _, m := range k.Created {
		switch m.Field {
		case issuer.KeyClientSecret:
			n.KeySecret = m.Name
		case issuer.KeyClientID:
			createdID = m.Name
		}
	}
	if k.Listed != nil {
		n.NoKeyName, n.NoKeyCreated = true, true
		for _, m := range k.Listed {
			switch m.Field {
			case issuer.KeyClientID:
				n.KeyID = m.Name
			case issuer.KeyName:
				n.KeyName, n.NoKeyName = m.Name, false
			case issuer.KeyCreatedAt:
				n.KeyCreated, n.NoKeyCreated = m.Name, false
			}
		}
	}
	return n, createdID
}

// override returns n with the non-empty fields of o.
func (n Names) override(o Names) Names {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&n.AccessToken, o.AccessToken}, {&n.ErrorCode, o.ErrorCode}, {&n.ErrorDescription, o.ErrorDescription},
		{&n.KeyList, o.KeyList}, {&n.KeyID, o.KeyID}, {&n.KeySecret, o.KeySecret},
		{&n.KeyName, o.KeyName}, {&n.KeyCreated, o.KeyCreated},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	n.NoKeyName = n.NoKeyName || o.NoKeyName
	n.NoKeyCreated = n.NoKeyCreated || o.NoKeyCreated
	return n
}

// ServeHTTP serves the page at its path and its script and style sheet
// below it; anything else is 404, and a method other than GET or HEAD 405.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	var body []byte
	var ctype string
	switch r.URL.Path {
	case p.path:
		body, ctype = p.html, "text/html; charset=utf-8"
	case p.path + "/app.js":
		body, ctype = p.js, "text/javascript; charset=utf-8"
	case p.path + "/app.css":
		body, ctype = p.css, "text/css; charset=utf-8"
	default:
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
