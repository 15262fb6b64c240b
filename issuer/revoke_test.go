package issuer_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

func TestRevocation(t *testing.T) {
	for _, f := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		t.Run(string(f), func(t *testing.T) {
			e := newEnv(t, true, func(c *issuer.Config) { c.Format = f })
			a, aSecret := e.client(issuer.ClientSpec{})
			b, bSecret := e.client(issuer.ClientSpec{})
			ta := e.getToken(a, aSecret).AccessToken
			tb := e.getToken(b, bSecret).AccessToken
			revoke := func(id, secret, tok string, extra ...string) *httpResult {
				return result(e.do(req{path: "/oauth/revoke", body: form(append([]string{"token", tok}, extra...)...),
					header: map[string]string{"Authorization": basic(id, secret)}}))
			}
			ok := func(r *httpResult) {
				t.Helper()
				if r.code != 200 || r.body != "" || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("revocation: %d %q %v, want 200 with an empty body", r.code, r.body, r.header)
				}
			}
			// Another client's token: 200, and nothing happens.
			ok(revoke(b, bSecret, ta))
			if _, err := e.iss.Verifier().Verify(t.Context(), ta); err != nil {
				t.Fatalf("another client revoked a's token: %v", err)
			}
			// Unknown, malformed and foreign-looking tokens: 200.
			for _, junk := range []string{"nope", "a.b.c", token.NewSecret(token.PrefixAccessToken), "pcr_x", "pca_x", token.NewSecret(token.PrefixRefreshToken)} {
				ok(revoke(a, aSecret, junk))
			}
			// Its own token, with any hint: revoked at once.
			ok(revoke(a, aSecret, ta, "token_type_hint", "refresh_token"))
			if _, err := e.iss.Verifier().Verify(t.Context(), ta); !errors.Is(err, middleware.ErrInvalidToken) {
				t.Errorf("revoked token: %v, want ErrInvalidToken", err)
			}
			ok(revoke(a, aSecret, ta)) // twice is fine
			if _, err := e.iss.Verifier().Verify(t.Context(), tb); err != nil {
				t.Errorf("b's token was hit too: %v", err)
			}
			// Client authentication is required, with the token endpoint's rules.
			r := result(e.do(req{path: "/oauth/revoke", body: form("token", tb)}))
			if r.code != 401 || r.body != errBody("invalid_client", "client authentication failed") {
				t.Errorf("unauthenticated revocation: %d %s", r.code, r.body)
			}
			r = result(e.do(req{path: "/oauth/revoke", body: form("token", tb, "client_secret", bSecret),
				header: map[string]string{"Authorization": basic(b, bSecret)}}))
			if r.code != 400 || !strings.Contains(r.body, "both HTTP Basic") {
				t.Errorf("two auth methods: %d %s", r.code, r.body)
			}
			r = result(e.do(req{path: "/oauth/revoke?token=" + tb, body: form("token", tb), header: map[string]string{"Authorization": basic(b, bSecret)}}))
			if r.code != 400 {
				t.Errorf("token in the query: %d %s", r.code, r.body)
			}
			wantResponse(t, e.do(req{path: "/oauth/revoke", body: "", header: map[string]string{"Authorization": basic(b, bSecret)}}),
				400, noStoreJSON, errBody("invalid_request", "missing token"))
			wantResponse(t, e.do(req{method: http.MethodGet, path: "/oauth/revoke"}), 405, with(noStoreJSON, "Allow", "POST"),
				errBody("invalid_request", "the method must be POST"))
			// A store failure is a 503, and the token stays valid.
			e.fault.set("Revoke", errInjected)
			if f == issuer.FormatJWT {
				wantResponse(t, e.do(req{path: "/oauth/revoke", body: form("token", tb), header: map[string]string{"Authorization": basic(b, bSecret)}}),
					503, noStoreJSON, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
			}
		})
	}
}

type httpResult struct {
	code   int
	header http.Header
	body   string
}

func result(rec interface {
	Result() *http.Response
}) *httpResult {
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return &httpResult{res.StatusCode, res.Header, string(b)}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t, true, func(c *issuer.Config) { c.Scopes = []string{"read", "write"} })
	a, aSecret := e.client(issuer.ClientSpec{})
	b, bSecret := e.client(issuer.ClientSpec{})
	rs, rsSecret := e.client(issuer.ClientSpec{IntrospectAny: true})
	introspect := func(id, secret, tok string) *httpResult {
		return result(e.do(req{path: "/oauth/introspect", body: form("token", tok), header: map[string]string{"Authorization": basic(id, secret)}}))
	}
	wantInactive := func(what string, r *httpResult) {
		t.Helper()
		if r.code != 200 || r.body != `{"active":false}` || r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s %v, want exactly {\"active\":false}", what, r.code, r.body, r.header)
		}
	}
	ta := e.getToken(a, aSecret, "scope", "read")
	r := introspect(a, aSecret, ta.AccessToken)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	jti, _ := got["jti"].(string)
	want := map[string]any{
		"active": true, "scope": "read", "client_id": a, "sub": a,
		"exp": float64(epoch.Add(time.Hour).Unix()), "iat": float64(epoch.Unix()),
		"aud": []any{testIssuer}, "iss": testIssuer, "jti": jti, "token_type": "Bearer", "kind": "client",
	}
	if jti == "" || !jsonEqual(got, want) {
		t.Errorf("introspection\n got %v\nwant %v", got, want)
	}
	if r := introspect(rs, rsSecret, ta.AccessToken); !strings.HasPrefix(r.body, `{"active":true`) {
		t.Errorf("resource server with IntrospectAny: %s", r.body)
	}
	wantInactive("another client's token", introspect(b, bSecret, ta.AccessToken))
	wantInactive("garbage", introspect(a, aSecret, "garbage"))
	wantInactive("malformed refresh token", introspect(a, aSecret, "pcr_x"))

	// Revoked, rotated and expired tokens are inactive.
	tb := e.getToken(b, bSecret).AccessToken
	e.do(req{path: "/oauth/revoke", body: form("token", tb), header: map[string]string{"Authorization": basic(b, bSecret)}})
	wantInactive("revoked", introspect(b, bSecret, tb))
	tr := e.getToken(rs, rsSecret).AccessToken
	e.clock.Advance(time.Hour + time.Minute)
	wantInactive("expired", introspect(rs, rsSecret, tr))
	tr = e.getToken(rs, rsSecret).AccessToken
	newSecret, _ := e.iss.RotateClient(t.Context(), rs)
	wantInactive("rotated", introspect(rs, newSecret, tr))

	// The caller must authenticate; a store failure is a 503.
	if r := result(e.do(req{path: "/oauth/introspect", body: form("token", tr)})); r.code != 401 {
		t.Errorf("unauthenticated: %d %s", r.code, r.body)
	}
	fresh := e.getToken(a, aSecret).AccessToken
	e.fault.set("IsRevoked", errInjected)
	if r := introspect(a, aSecret, fresh); r.code != 503 || r.body != errBody("temporarily_unavailable", "the service is temporarily unavailable") {
		t.Errorf("store failure: %d %s", r.code, r.body)
	}
}

func jsonEqual(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// selfRotation enables the credentials endpoint, which is off by default.
func selfRotation(c *issuer.Config) { c.Paths.Credentials = issuer.DefaultCredentialsPath }

func TestCredentialsEndpoint(t *testing.T) {
	e := newEnv(t, false, selfRotation)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	post := func(h map[string]string) *httpResult {
		return result(e.do(req{path: "/oauth/credentials", ct: "-", header: h}))
	}
	r := post(nil)
	if r.code != 401 || r.header.Get("WWW-Authenticate") != "Bearer" || r.body != "" {
		t.Errorf("no token: %d %v %q", r.code, r.header, r.body)
	}
	if r := post(map[string]string{"Authorization": basic(id, secret)}); r.code != 401 || r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("Basic: %d %v", r.code, r.header)
	}
	// The guard's words since the bearer parser is the middleware's (they
	// were "malformed bearer token").
	wantResponse(t, e.do(req{path: "/oauth/credentials", header: map[string]string{"Authorization": "Bearer a b"}}), 400,
		with(noStoreJSON, "WWW-Authenticate", `Bearer error="invalid_request", error_description="the request must carry exactly one well-formed bearer token"`),
		errBody("invalid_request", "the request must carry exactly one well-formed bearer token"))
	invalid := with(noStoreJSON, "WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid"`)
	wantResponse(t, e.do(req{path: "/oauth/credentials", header: map[string]string{"Authorization": "Bearer abc.def.ghi"}}), 401,
		invalid, errBody("invalid_token", "the access token is invalid"))
	wantResponse(t, e.do(req{method: http.MethodGet, path: "/oauth/credentials", header: map[string]string{"Authorization": "Bearer " + tok}}),
		405, with(noStoreJSON, "Allow", "POST"), errBody("invalid_request", "the method must be POST"))

	r = post(map[string]string{"Authorization": "Bearer " + tok})
	var creds struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.body), &creds); err != nil || r.code != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotation: %d %v %s", r.code, r.header, r.body)
	}
	if creds.ClientID != id || !token.WellFormed(creds.ClientSecret, token.PrefixClientSecret) {
		t.Errorf("new credentials %+v", creds)
	}
	// The presented token is dead, so is the old secret; the new one works.
	if _, err := e.iss.Verifier().Verify(t.Context(), tok); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token after self-rotation: %v", err)
	}
	wantResponse(t, e.do(req{path: "/oauth/credentials", header: map[string]string{"Authorization": "Bearer " + tok}}), 401,
		invalid, errBody("invalid_token", "the access token is invalid"))
	if rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}); rec.Code != 401 {
		t.Errorf("old secret after self-rotation: %d", rec.Code)
	}
	tok = e.getToken(id, creds.ClientSecret).AccessToken

	// Two rotations with one token: exactly one wins.
	const n = 4
	var wg sync.WaitGroup
	codes := make([]int, n)
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[k] = post(map[string]string{"Authorization": "Bearer " + tok}).code
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if !slices.Equal(codes, []int{200, 401, 401, 401}) {
		t.Errorf("concurrent self-rotations answered %v, want one 200", codes)
	}
}

// The credentials endpoint reads and refuses a bearer token exactly as a
// guard does: same status, challenge and body for every bad request.
func TestCredentialsErrorsMatchGuard(t *testing.T) {
	e := newEnv(t, false, selfRotation)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	guard, err := middleware.New(middleware.Config{Verifier: e.iss.Verifier(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	guarded := guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for name, headers := range map[string][]string{
		"no token":            nil,
		"Basic":               {basic(id, secret)},
		"Bearer alone":        {"Bearer"},
		"two tokens":          {"Bearer a b"},
		"two headers":         {"Bearer " + tok, "Bearer " + tok},
		"bad character":       {"Bearer " + tok + "!"},
		"oversized header":    {"Bearer " + strings.Repeat("a", 8<<10)},
		"forged token":        {"Bearer abc.def.ghi"},
		"opaque garbage":      {"Bearer pca_nothing"},
		"two spaces, forged":  {"Bearer  abc.def.ghi"},
		"lowercase, forged":   {"bearer abc.def.ghi"},
		"trailing padding ok": {"Bearer abc=="},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth/credentials", nil)
			for _, h := range headers {
				r.Header.Add("Authorization", h)
			}
			want := httptest.NewRecorder()
			guarded.ServeHTTP(want, r)
			got := httptest.NewRecorder()
			e.iss.Handler().ServeHTTP(got, r)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("credentials endpoint %d %q, guard %d %q", got.Code, got.Body, want.Code, want.Body)
			}
			for _, h := range []string{"WWW-Authenticate", "Content-Type", "Content-Length"} {
				if g, w := got.Header().Values(h), want.Header().Values(h); strings.Join(g, "|") != strings.Join(w, "|") {
					t.Errorf("%s: credentials endpoint %q, guard %q", h, g, w)
				}
			}
		})
	}
}

// A verifier accepts a token until exp plus its leeway, so a revocation must
// last that long too: a fresh verifier (another replica, no cache) must still
// refuse the token inside the leeway window.
func TestRevocationOutlivesLeeway(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Leeway = time.Minute })
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	r := result(e.do(req{path: "/oauth/revoke", body: form("token", tok), header: map[string]string{"Authorization": basic(id, secret)}}))
	if r.code != 200 {
		t.Fatalf("revocation: %d %s", r.code, r.body)
	}
	e.clock.Advance(time.Hour + 30*time.Second) // past exp, inside the leeway
	replica, err := issuer.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Verifier().Verify(t.Context(), tok); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("revoked token inside the leeway window: %v, want ErrInvalidToken", err)
	}
}
