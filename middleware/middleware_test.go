package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
)

const (
	noToken        = `Bearer realm="api"`
	invalidRequest = `Bearer realm="api", error="invalid_request", error_description="the request must carry exactly one well-formed bearer token"`
	invalidToken   = `Bearer realm="api", error="invalid_token", error_description="the access token is invalid"`

	bodyInvalidRequest = `{"error":"invalid_request","error_description":"the request must carry exactly one well-formed bearer token"}`
	bodyInvalidToken   = `{"error":"invalid_token","error_description":"the access token is invalid"}`
	bodyUnavailable    = `{"error":"temporarily_unavailable","error_description":"the access token cannot be checked now; try again later"}`
)

// ok is the protected handler: it answers 200 with who called.
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, found := middleware.PrincipalFrom(r.Context())
	if !found {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s %s", p.Kind, p.Subject)
})

type want struct {
	status    int
	challenge string
	body      string
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func check(t *testing.T, w *httptest.ResponseRecorder, want want) {
	t.Helper()
	if w.Code != want.status {
		t.Errorf("status = %d, want %d (body %q)", w.Code, want.status, w.Body)
	}
	if got := w.Header().Values("WWW-Authenticate"); strings.Join(got, "|") != want.challenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want.challenge)
	}
	if got := w.Body.String(); got != want.body {
		t.Errorf("body = %q, want %q", got, want.body)
	}
	if want.body != "" && want.status != http.StatusOK {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
	}
}

func newGuard(t *testing.T, cfg middleware.Config) *middleware.Guard {
	t.Helper()
	if cfg.Realm == "" {
		cfg.Realm = "api"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := middleware.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestHeaders(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	tok := f.mint(t, token.KindClient, "read")
	okWant := want{200, "", "client c1"}
	unauthorized := want{401, noToken, ""}
	badRequest := want{400, invalidRequest, bodyInvalidRequest}
	badToken := want{401, invalidToken, bodyInvalidToken}

	tests := []struct {
		name    string
		headers []string // Authorization values
		query   string
		fromQ   string // Config.TokenFromQuery
		want    want
	}{
		{name: "missing", want: unauthorized},
		{name: "Bearer", headers: []string{"Bearer " + tok}, want: okWant},
		{name: "lowercase bearer", headers: []string{"bearer " + tok}, want: okWant},
		{name: "uppercase BEARER", headers: []string{"BEARER " + tok}, want: okWant},
		{name: "two spaces", headers: []string{"Bearer  " + tok}, want: okWant}, // credentials = "Bearer" 1*SP b64token
		{name: "Basic scheme", headers: []string{"Basic dXNlcjpwYXNz"}, want: unauthorized},
		{name: "unknown scheme", headers: []string{"Token " + tok}, want: unauthorized},
		{name: "scheme without space", headers: []string{"Bearer" + tok}, want: unauthorized},
		{name: "two Authorization headers", headers: []string{"Bearer " + tok, "Bearer " + tok}, want: badRequest},
		{name: "Bearer and Basic headers", headers: []string{"Bearer " + tok, "Basic dXNlcjpwYXNz"}, want: badRequest},
		{name: "Bearer alone", headers: []string{"Bearer"}, want: badRequest},
		{name: "Bearer space", headers: []string{"Bearer "}, want: badRequest},
		{name: "two tokens", headers: []string{"Bearer " + tok + " " + tok}, want: badRequest},
		{name: "comma-separated tokens", headers: []string{"Bearer " + tok + "," + tok}, want: badRequest},
		{name: "illegal character", headers: []string{"Bearer " + tok + "!"}, want: badRequest},
		{name: "quoted token", headers: []string{`Bearer "` + tok + `"`}, want: badRequest},
		{name: "non-ASCII", headers: []string{"Bearer tökén"}, want: badRequest},
		{name: "padding inside", headers: []string{"Bearer ab=c"}, want: badRequest},
		{name: "trailing padding is syntax", headers: []string{"Bearer abc=="}, want: badToken},
		{name: "garbage token", headers: []string{"Bearer not-a-token"}, want: badToken},
		{name: "oversized header", headers: []string{"Bearer " + strings.Repeat("a", 8<<10)}, want: badRequest},
		{name: "header at the limit", headers: []string{"Bearer " + strings.Repeat("a", 8<<10-len("Bearer "))}, want: badToken},
		{name: "query token ignored by default", query: "access_token=" + tok, want: unauthorized},
		{name: "query token enabled", query: "access_token=" + tok, fromQ: "access_token", want: okWant},
		{name: "query token with other params", query: "a=1&access_token=" + tok + "&b=2", fromQ: "access_token", want: okWant},
		{name: "query token and header", headers: []string{"Bearer " + tok}, query: "access_token=" + tok, fromQ: "access_token", want: badRequest},
		{name: "query token and Basic header", headers: []string{"Basic dXNlcjpwYXNz"}, query: "access_token=" + tok, fromQ: "access_token", want: okWant},
		{name: "query token twice", query: "access_token=" + tok + "&access_token=" + tok, fromQ: "access_token", want: badRequest},
		{name: "query token empty", query: "access_token=", fromQ: "access_token", want: badRequest},
		{name: "query token oversized", query: "access_token=" + strings.Repeat("a", 8<<10+1), fromQ: "access_token", want: badRequest},
		{name: "other query parameter", query: "token=" + tok, fromQ: "access_token", want: unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, middleware.Config{Verifier: f.v, TokenFromQuery: tt.fromQ})
			r := httptest.NewRequest("GET", "/v1/things?"+tt.query, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			check(t, serve(g.Wrap(ok), r), tt.want)
		})
	}
}

func TestKinds(t *testing.T) {
	// The issuer defines a third kind, robot, that guards may ask for.
	f := newFixture(t, token.EdDSA, middleware.LocalConfig{Kinds: []string{token.KindClient, token.KindAccount, "robot"}})
	client := f.mint(t, token.KindClient, "read")
	account := f.mint(t, token.KindAccount, "read")
	other := f.mint(t, "robot", "read")
	base := newGuard(t, middleware.Config{Verifier: f.v})
	badToken := want{401, invalidToken, bodyInvalidToken}

	tests := []struct {
		name  string
		guard *middleware.Guard
		tok   string
		want  want
	}{
		{"default accepts client", base, client, want{200, "", "client c1"}},
		{"default rejects account", base, account, badToken},
		{"default rejects other kinds", base, other, badToken},
		{"account only accepts account", base.WithKinds(token.KindAccount), account, want{200, "", "account a1"}},
		{"account only rejects client", base.WithKinds(token.KindAccount), client, badToken},
		{"both accept client", base.WithKinds(token.KindAccount, token.KindClient), client, want{200, "", "client c1"}},
		{"both accept account", base.WithKinds(token.KindAccount, token.KindClient), account, want{200, "", "account a1"}},
		{"no kinds is the default", base.WithKinds(token.KindAccount).WithKinds(), account, badToken},
		{"custom kind", base.WithKinds("robot"), other, want{200, "", "robot c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tt.tok)
			check(t, serve(tt.guard.Wrap(ok), r), tt.want)
		})
	}
	// The copies left the original alone.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+account)
	check(t, serve(base.Wrap(ok), r), badToken)
}

func TestKindsInConfig(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	g := newGuard(t, middleware.Config{Verifier: f.v, Kinds: []string{token.KindAccount}})
	for _, tc := range []struct {
		tok    string
		status int
	}{{f.mint(t, token.KindAccount, ""), 200}, {f.mint(t, token.KindClient, ""), 401}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tc.tok)
		if w := serve(g.Wrap(ok), r); w.Code != tc.status {
			t.Errorf("status = %d, want %d", w.Code, tc.status)
		}
	}
}

func TestScopes(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	read := f.mint(t, token.KindClient, "read")
	readWrite := f.mint(t, token.KindClient, "write read")
	none := f.mint(t, token.KindClient, "")
	base := newGuard(t, middleware.Config{Verifier: f.v, Scopes: []string{"read"}})
	insufficient := func(scope string) want {
		return want{403,
			`Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="` + scope + `"`,
			`{"error":"insufficient_scope","error_description":"the access token lacks a required scope"}`}
	}
	tests := []struct {
		name  string
		guard *middleware.Guard
		tok   string
		want  want
	}{
		{"has the scope", base, read, want{200, "", "client c1"}},
		{"has more scopes", base, readWrite, want{200, "", "client c1"}},
		{"no scope", base, none, insufficient("read")},
		{"Require adds a scope", base.Require("write"), read, insufficient("read write")},
		{"Require satisfied", base.Require("write"), readWrite, want{200, "", "client c1"}},
		{"Require twice the same scope", base.Require("read", "read"), read, want{200, "", "client c1"}},
		{"Require an impossible scope fails closed", base.Require(""), readWrite, insufficient("read ")},
		{"Require a scope with a space fails closed", base.Require("read write"), readWrite, insufficient("read read write")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tt.tok)
			check(t, serve(tt.guard.Wrap(ok), r), tt.want)
		})
	}
}

func TestAudiences(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{Audiences: []string{testIssuer, "https://a.test", "https://b.test"}})
	withAud := func(aud ...string) string {
		return f.mint(t, token.KindClient, "", func(c *token.Claims) { c.Audience = aud })
	}
	badToken := want{401, invalidToken, bodyInvalidToken}
	good := want{200, "", "client c1"}
	any := newGuard(t, middleware.Config{Verifier: f.v})
	onlyA := newGuard(t, middleware.Config{Verifier: f.v, Audiences: []string{"https://a.test"}})
	tests := []struct {
		name  string
		guard *middleware.Guard
		tok   string
		want  want
	}{
		{"no policy, issuer audience", any, withAud(testIssuer), good},
		{"no policy, other accepted audience", any, withAud("https://b.test"), good},
		{"no policy, audience the verifier refuses", any, withAud("https://elsewhere.test"), badToken},
		{"policy, matching audience", onlyA, withAud("https://a.test"), good},
		{"policy, one of several", onlyA, withAud("https://b.test", "https://a.test"), good},
		{"policy, other audience", onlyA, withAud(testIssuer), badToken},
		{"policy, no audience", onlyA, withAud(), badToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tt.tok)
			check(t, serve(tt.guard.Wrap(ok), r), tt.want)
		})
	}
}

func TestUnavailable(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	tok := f.mint(t, token.KindClient, "")
	var logs bytes.Buffer
	g := newGuard(t, middleware.Config{Verifier: f.v, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	f.state.setErr(errStoreDown)

	r := httptest.NewRequest("GET", "/v1/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := serve(g.Wrap(ok), r)
	check(t, w, want{503, "", bodyUnavailable})
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "connection refused") ||
		!strings.Contains(logs.String(), "path=/v1/x") {
		t.Errorf("the 503 was not logged with its cause: %q", logs.String())
	}
	_, err := g.Authenticate(r)
	if !errors.Is(err, middleware.ErrUnavailable) || !errors.Is(err, errStoreDown) {
		t.Errorf("Authenticate error %v: want ErrUnavailable wrapping the cause", err)
	}

	// Back up: the same token passes again.
	f.state.setErr(nil)
	check(t, serve(g.Wrap(ok), r), want{200, "", "client c1"})
}

func TestCustomVerifier(t *testing.T) {
	p := &middleware.Principal{Kind: token.KindClient, Subject: "c9", Scopes: []string{"read"}}
	tests := []struct {
		name string
		v    verifierFunc
		want want
	}{
		{"principal", func(context.Context, string) (*middleware.Principal, error) { return p, nil }, want{200, "", "client c9"}},
		{"nil principal without error fails closed", func(context.Context, string) (*middleware.Principal, error) { return nil, nil }, want{401, invalidToken, bodyInvalidToken}},
		{"unknown error is an invalid token", func(context.Context, string) (*middleware.Principal, error) { return nil, io.ErrUnexpectedEOF }, want{401, invalidToken, bodyInvalidToken}},
		{"wrapped ErrUnavailable", func(context.Context, string) (*middleware.Principal, error) {
			return nil, fmt.Errorf("introspection: %w", middleware.ErrUnavailable)
		}, want{503, "", bodyUnavailable}},
		{"an *Error passes through", func(context.Context, string) (*middleware.Principal, error) { return nil, middleware.ErrInvalidRequest }, want{400, invalidRequest, bodyInvalidRequest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t, middleware.Config{Verifier: tt.v})
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer abc")
			check(t, serve(g.Wrap(ok), r), tt.want)
		})
	}
}

func TestVerifierSeesContextAndToken(t *testing.T) {
	type key struct{}
	var gotRaw string
	var gotCtx any
	g := newGuard(t, middleware.Config{Verifier: verifierFunc(func(ctx context.Context, raw string) (*middleware.Principal, error) {
		gotRaw, gotCtx = raw, ctx.Value(key{})
		return &middleware.Principal{Kind: token.KindClient}, nil
	})})
	r := httptest.NewRequest("GET", "/", nil).WithContext(context.WithValue(context.Background(), key{}, "v"))
	r.Header.Set("Authorization", "Bearer  abc.def-ghi_jkl~mno+pqr/stu==")
	if _, err := g.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	if gotRaw != "abc.def-ghi_jkl~mno+pqr/stu==" || gotCtx != "v" {
		t.Errorf("verifier saw %q and %v", gotRaw, gotCtx)
	}
}

func TestErrorHandler(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	var got error
	g := newGuard(t, middleware.Config{Verifier: f.v, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer garbage")
	if w := serve(g.Wrap(ok), r); w.Code != http.StatusTeapot {
		t.Fatalf("status = %d: the ErrorHandler was not used", w.Code)
	}
	var e *middleware.Error
	if !errors.As(got, &e) || !errors.Is(got, middleware.ErrInvalidToken) || e.Err == nil || !strings.Contains(e.Err.Error(), "not a JWT") {
		t.Fatalf("ErrorHandler got %v: want an *Error that is ErrInvalidToken and wraps the verifier's cause", got)
	}
	if e.Realm != "api" || e.Status != 401 || e.Err == nil {
		t.Errorf("error = %+v", e)
	}
	if e == middleware.ErrInvalidToken || middleware.ErrInvalidToken.Err != nil || middleware.ErrInvalidToken.Realm != "" {
		t.Error("the sentinel was modified instead of copied")
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"no token", middleware.ErrNoToken, want{401, "Bearer", ""}},
		{"invalid token", middleware.ErrInvalidToken, want{401, `Bearer error="invalid_token", error_description="the access token is invalid"`, bodyInvalidToken}},
		{"plain error", errors.New("boom"), want{401, `Bearer error="invalid_token", error_description="the access token is invalid"`, bodyInvalidToken}},
		{"wrapped ErrUnavailable", fmt.Errorf("x: %w", middleware.ErrUnavailable), want{503, "", bodyUnavailable}},
		{"realm and scope", &middleware.Error{Status: 403, Code: "insufficient_scope", Scope: "a b", Realm: "r"},
			want{403, `Bearer realm="r", error="insufficient_scope", scope="a b"`, `{"error":"insufficient_scope"}`}},
		{"unsafe characters are dropped from the challenge", &middleware.Error{Status: 401, Code: "invalid_token", Description: "a \"b\"\\\n", Realm: "r"},
			want{401, `Bearer realm="r", error="invalid_token", error_description="a b"`, `{"error":"invalid_token","error_description":"a \"b\"\\\n"}`}},
		{"the cause is never written", middleware.ErrInvalidToken, want{401, `Bearer error="invalid_token", error_description="the access token is invalid"`, bodyInvalidToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			middleware.WriteError(w, httptest.NewRequest("GET", "/", nil), tt.err)
			check(t, w, tt.want)
			if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(len(tt.want.body)) {
				t.Errorf("Content-Length = %q", cl)
			}
		})
	}
}

func TestCauseNotLeaked(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	g := newGuard(t, middleware.Config{Verifier: f.v})
	// Two different reasons to fail must be indistinguishable on the wire.
	expired := f.mint(t, token.KindClient, "", func(c *token.Claims) { c.ExpiresAt.Time = c.IssuedAt.Add(-time.Hour) })
	unknown := f.mint(t, token.KindClient, "", func(c *token.Claims) { c.ClientID, c.Subject = "ghost", "ghost" })
	var bodies []string
	for _, tok := range []string{expired, unknown, "x.y.z"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := serve(g.Wrap(ok), r)
		bodies = append(bodies, fmt.Sprint(w.Code, w.Header(), w.Body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Errorf("rejections differ:\n%s", strings.Join(bodies, "\n"))
	}
}

func TestNewConfig(t *testing.T) {
	v := verifierFunc(func(context.Context, string) (*middleware.Principal, error) { return nil, nil })
	bad := []middleware.Config{
		{},
		{Verifier: v, Realm: `a"b`},
		{Verifier: v, Realm: "é"},
		{Verifier: v, Scopes: []string{"a b"}},
		{Verifier: v, Scopes: []string{""}},
		{Verifier: v, Scopes: []string{`a"`}},
		{Verifier: v, TokenFromQuery: "a&b"},
	}
	for i, cfg := range bad {
		if g, err := middleware.New(cfg); err == nil || g != nil {
			t.Errorf("config %d: New accepted %+v", i, cfg)
		}
	}
	if _, err := middleware.New(middleware.Config{Verifier: v}); err != nil {
		t.Errorf("New with only a Verifier: %v", err)
	}
}

func TestConfigCopied(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	scopes := []string{"read"}
	kinds := []string{token.KindClient}
	g := newGuard(t, middleware.Config{Verifier: f.v, Scopes: scopes, Kinds: kinds})
	scopes[0], kinds[0] = "write", token.KindAccount
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+f.mint(t, token.KindClient, "read"))
	check(t, serve(g.Wrap(ok), r), want{200, "", "client c1"})
}

func TestPrincipalContext(t *testing.T) {
	if p, ok := middleware.PrincipalFrom(context.Background()); ok || p != nil {
		t.Errorf("empty context gave %v, %v", p, ok)
	}
	if p, ok := middleware.PrincipalFrom(middleware.WithPrincipal(context.Background(), nil)); ok || p != nil {
		t.Errorf("nil principal gave %v, %v", p, ok)
	}
	// Another package's value under a look-alike key is not ours.
	type principalKey struct{}
	ctx := context.WithValue(context.Background(), principalKey{}, &middleware.Principal{Subject: "x"})
	if _, ok := middleware.PrincipalFrom(ctx); ok {
		t.Error("PrincipalFrom read a foreign key")
	}
	want := &middleware.Principal{Subject: "s"}
	if p, ok := middleware.PrincipalFrom(middleware.WithPrincipal(context.Background(), want)); !ok || p != want {
		t.Errorf("got %v, %v", p, ok)
	}
}

// RequestWithPrincipal is r.WithContext(WithPrincipal(…)) in one
// allocation: the copy carries the principal and everything r's context
// carried (values, deadline, cancellation), and r is left as it was.
func TestRequestWithPrincipal(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	r := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(parent)
	want := &middleware.Principal{Subject: "s"}
	r2 := middleware.RequestWithPrincipal(r, want)
	if r2 == r || r2.URL != r.URL || r2.Method != r.Method {
		t.Fatal("not a shallow copy of r")
	}
	if _, ok := middleware.PrincipalFrom(r.Context()); ok {
		t.Error("the original request got the principal")
	}
	ctx := r2.Context()
	if p, ok := middleware.PrincipalFrom(ctx); !ok || p != want {
		t.Errorf("PrincipalFrom: %v, %v", p, ok)
	}
	// Found through contexts derived from it too, and parent values
	// through it.
	child, stop := context.WithTimeout(context.WithValue(ctx, "other", 1), time.Hour)
	defer stop()
	if p, ok := middleware.PrincipalFrom(child); !ok || p != want {
		t.Errorf("PrincipalFrom(child): %v, %v", p, ok)
	}
	if child.Value(key{}) != "v" || ctx.Value(key{}) != "v" {
		t.Error("parent value lost")
	}
	cancel()
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the parent did not reach a child of the principal's context")
	}
	if ctx.Err() != context.Canceled {
		t.Errorf("Err: %v", ctx.Err())
	}
	if p, ok := middleware.PrincipalFrom(middleware.RequestWithPrincipal(r, nil).Context()); ok || p != nil {
		t.Errorf("nil principal gave %v, %v", p, ok)
	}
	if !raceDetector {
		if n := testing.AllocsPerRun(100, func() { middleware.RequestWithPrincipal(r, want) }); n != 1 {
			t.Errorf("%v allocations, want 1", n)
		}
	}
}

func TestErrorIs(t *testing.T) {
	cause := errors.New("token has invalid signature")
	e := &middleware.Error{Status: 401, Code: "invalid_token", Err: cause}
	if !errors.Is(e, middleware.ErrInvalidToken) || errors.Is(e, middleware.ErrNoToken) || errors.Is(e, middleware.ErrInsufficientScope) {
		t.Error("Is must match by status and code")
	}
	if !errors.Is(e, cause) {
		t.Error("Unwrap must reach the cause")
	}
	if errors.Is(middleware.ErrNoToken, middleware.ErrInvalidToken) {
		t.Error("no token is not an invalid token")
	}
	if s := e.Error(); !strings.Contains(s, "invalid_token") || !strings.Contains(s, cause.Error()) {
		t.Errorf("Error() = %q", s)
	}
}

func TestBearerToken(t *testing.T) {
	tok := "abc.def-ghi_jkl~mno+pqr/stu=="
	tests := []struct {
		name    string
		headers []string
		query   string
		want    string
		err     *middleware.Error
	}{
		{name: "missing", err: middleware.ErrNoToken},
		{name: "Bearer", headers: []string{"Bearer " + tok}, want: tok},
		{name: "lowercase, two spaces", headers: []string{"bearer  " + tok}, want: tok},
		{name: "Basic", headers: []string{"Basic dXNlcjpwYXNz"}, err: middleware.ErrNoToken},
		{name: "query is never read", query: "access_token=" + tok, err: middleware.ErrNoToken},
		{name: "two headers", headers: []string{"Bearer " + tok, "Bearer " + tok}, err: middleware.ErrInvalidRequest},
		{name: "empty", headers: []string{"Bearer "}, err: middleware.ErrInvalidRequest},
		{name: "two tokens", headers: []string{"Bearer a b"}, err: middleware.ErrInvalidRequest},
		{name: "bad character", headers: []string{"Bearer a!"}, err: middleware.ErrInvalidRequest},
		{name: "oversized", headers: []string{"Bearer " + strings.Repeat("a", 8<<10)}, err: middleware.ErrInvalidRequest},
		{name: "at the limit", headers: []string{"Bearer " + strings.Repeat("a", 8<<10-len("Bearer "))}, want: strings.Repeat("a", 8<<10-len("Bearer "))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?"+tt.query, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := middleware.BearerToken(r)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("BearerToken = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var e *middleware.Error
			if got != "" || !errors.Is(err, tt.err) || !errors.As(err, &e) || e == tt.err {
				t.Fatalf("BearerToken = %q, %v; want a copy of %v", got, err, tt.err)
			}
		})
	}
}

// A guard that asks for a kind its verifier's issuer does not define
// (today: a typo) is a configuration error, not a route that silently
// refuses everything.
func TestKindsMustBeDefined(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{Kinds: []string{token.KindClient, token.KindAccount, "robot"}})
	accountOnly := newFixture(t, token.ES256, middleware.LocalConfig{Kinds: []string{token.KindAccount}})
	plain := verifierFunc(func(context.Context, string) (*middleware.Principal, error) { return nil, nil })
	withKinds := kindsVerifier{verifierFunc: plain, kinds: []string{"robot"}}
	for name, tc := range map[string]struct {
		cfg middleware.Config
		ok  bool
	}{
		"misspelt":                        {middleware.Config{Verifier: f.v, Kinds: []string{"acount"}}, false},
		"one of several misspelt":         {middleware.Config{Verifier: f.v, Kinds: []string{token.KindClient, "acount"}}, false},
		"empty kind":                      {middleware.Config{Verifier: f.v, Kinds: []string{""}}, false},
		"defined":                         {middleware.Config{Verifier: f.v, Kinds: []string{token.KindAccount, "robot"}}, true},
		"default, client defined":         {middleware.Config{Verifier: f.v}, true},
		"default, client not defined":     {middleware.Config{Verifier: accountOnly.v}, false},
		"account, only account defined":   {middleware.Config{Verifier: accountOnly.v, Kinds: []string{token.KindAccount}}, true},
		"verifier without Kinds, default": {middleware.Config{Verifier: plain}, true},
		"verifier without Kinds, account": {middleware.Config{Verifier: plain, Kinds: []string{token.KindAccount}}, true},
		"verifier without Kinds, other":   {middleware.Config{Verifier: plain, Kinds: []string{"robot"}}, false},
		"verifier with Kinds, its own":    {middleware.Config{Verifier: withKinds, Kinds: []string{"robot"}}, true},
		"verifier with Kinds, client":     {middleware.Config{Verifier: withKinds}, false},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := middleware.New(tc.cfg)
			if tc.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tc.ok && (err == nil || g != nil) {
				t.Fatalf("New accepted Kinds %q", tc.cfg.Kinds)
			}
			t.Log(err)
		})
	}
}

// kindsVerifier is a custom verifier that tells its kinds.
type kindsVerifier struct {
	verifierFunc
	kinds []string
}

func (k kindsVerifier) Kinds() []string { return k.kinds }

// WithKinds cannot return an error: a kind the issuer does not define makes
// the route refuse every token and say why at error level.
func TestWithKindsUndefinedFailsClosed(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	client, account := f.mint(t, token.KindClient, "read"), f.mint(t, token.KindAccount, "read")
	var logs bytes.Buffer
	base := newGuard(t, middleware.Config{Verifier: f.v, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	badToken := want{401, invalidToken, bodyInvalidToken}
	typo := base.WithKinds(token.KindClient, "acount")
	for _, g := range []*middleware.Guard{typo, typo.Require("read"), base.WithKinds("acount")} {
		for _, tok := range []string{client, account} {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			check(t, serve(g.Wrap(ok), r), badToken)
			if _, err := g.Authenticate(r); !errors.Is(err, middleware.ErrInvalidToken) || !strings.Contains(err.Error(), `"acount"`) {
				t.Errorf("Authenticate: %v", err)
			}
		}
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "acount") || !strings.Contains(logs.String(), "path=/x") {
		t.Errorf("the misconfiguration was not logged at error level: %q", logs.String())
	}
	// Without a token the route answers as any guarded route.
	check(t, serve(typo.Wrap(ok), httptest.NewRequest("GET", "/x", nil)), want{401, noToken, ""})
	// A later WithKinds with defined kinds mends the copy; the original
	// guard was never touched.
	for g, tok := range map[*middleware.Guard]string{typo.WithKinds(token.KindAccount): account, base: client} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if w := serve(g.Wrap(ok), r); w.Code != 200 {
			t.Errorf("status %d, want 200", w.Code)
		}
	}
}
