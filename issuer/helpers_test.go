package issuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

const testIssuer = "https://auth.example.com"

// epoch is the fixed time the tests run at.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// errInjected is the failure faultStore injects.
var errInjected = errors.New("injected store failure")

// faultStore wraps a real store and lets a test make chosen operations fail
// through func fields; it is not a database stand-in. It embeds the
// store.Store interface, so it hides the memory store's optional
// capabilities (the issuer then limits in memory).
type faultStore struct {
	store.Store
	mu    sync.Mutex
	fail  map[string]error // op name → error to return
	calls map[string]int   // op name → calls so far
}

func newFaultStore() *faultStore {
	return &faultStore{Store: memory.New(), fail: map[string]error{}, calls: map[string]int{}}
}

// exchangingFaultStore is a faultStore with the memory store's
// store.RefreshExchanger too, so that the issuer takes the refresh grant's
// one-step path.
type exchangingFaultStore struct{ *faultStore }

func (f exchangingFaultStore) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	if err := f.err("ExchangeRefreshToken"); err != nil {
		return nil, err
	}
	return f.Store.(store.RefreshExchanger).ExchangeRefreshToken(ctx, x)
}

func (f *faultStore) set(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, op)
	} else {
		f.fail[op] = err
	}
}

// err counts a call to op and returns the failure set for it, if any.
func (f *faultStore) err(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.fail[op]
}

// count is how many times op has been called.
func (f *faultStore) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *faultStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if err := f.err("GetClient"); err != nil {
		return nil, err
	}
	return f.Store.GetClient(ctx, id)
}

func (f *faultStore) UpdateClient(ctx context.Context, c *store.Client, prev int64) error {
	if err := f.err("UpdateClient"); err != nil {
		return err
	}
	return f.Store.UpdateClient(ctx, c, prev)
}

func (f *faultStore) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	if err := f.err("CreateRefreshToken"); err != nil {
		return err
	}
	return f.Store.CreateRefreshToken(ctx, t)
}

func (f *faultStore) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	if err := f.err("GetRefreshToken"); err != nil {
		return nil, err
	}
	return f.Store.GetRefreshToken(ctx, hash, now)
}

func (f *faultStore) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	if err := f.err("RotateRefreshToken"); err != nil {
		return err
	}
	return f.Store.RotateRefreshToken(ctx, oldHash, next, now)
}

func (f *faultStore) RevokeRefreshFamily(ctx context.Context, family string) error {
	if err := f.err("RevokeRefreshFamily"); err != nil {
		return err
	}
	return f.Store.RevokeRefreshFamily(ctx, family)
}

func (f *faultStore) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	if err := f.err("CreateAccessToken"); err != nil {
		return err
	}
	return f.Store.CreateAccessToken(ctx, t)
}

func (f *faultStore) Revoke(ctx context.Context, id string, exp time.Time) error {
	if err := f.err("Revoke"); err != nil {
		return err
	}
	return f.Store.Revoke(ctx, id, exp)
}

func (f *faultStore) IsRevoked(ctx context.Context, id string, now time.Time) (bool, error) {
	if err := f.err("IsRevoked"); err != nil {
		return false, err
	}
	return f.Store.IsRevoked(ctx, id, now)
}

// env is an issuer under test with its store and clock.
type env struct {
	t     testing.TB
	iss   *issuer.Issuer
	st    store.Store
	fault *faultStore // nil unless the env was built over one
	clock *tokentest.Clock
	cfg   issuer.Config
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newEnv builds an issuer over a fresh memory store (wrapped in a
// faultStore when withFaults) at the fixed clock; mod adjusts the config.
func newEnv(t testing.TB, withFaults bool, mod func(*issuer.Config)) *env {
	t.Helper()
	if withFaults {
		f := newFaultStore()
		return newEnvOnStore(t, f, f, mod)
	}
	return newEnvOnStore(t, memory.New(), nil, mod)
}

// newEnvOnStore builds an issuer over st, which is fault or wraps it when
// fault is not nil.
func newEnvOnStore(t testing.TB, st store.Store, fault *faultStore, mod func(*issuer.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: tokentest.NewClockAt(epoch), st: st, fault: fault}
	e.cfg = issuer.Config{
		Issuer: testIssuer,
		Store:  e.st,
		Logger: quietLogger(),
		Now:    e.clock.Now,
	}
	if mod != nil {
		mod(&e.cfg)
	}
	iss, err := issuer.New(e.cfg)
	if err != nil {
		t.Fatalf("issuer.New: %v", err)
	}
	e.iss = iss
	return e
}

// client creates a client and returns its id and secret.
func (e *env) client(spec issuer.ClientSpec) (string, string) {
	e.t.Helper()
	c, secret, err := e.iss.CreateClient(e.t.Context(), spec)
	if err != nil {
		e.t.Fatalf("CreateClient: %v", err)
	}
	return c.ID, secret
}

// req describes a request to the handler.
type req struct {
	method string
	path   string // default token path
	ct     string // Content-Type; default form
	body   string
	header map[string]string
	remote string
}

// do serves one request through Handler and returns the recorded response.
func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/oauth/token"
	}
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.ct == "" {
		r.ct = "application/x-www-form-urlencoded"
	}
	if r.ct != "-" {
		hr.Header.Set("Content-Type", r.ct)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	rec := httptest.NewRecorder()
	e.iss.Handler().ServeHTTP(rec, hr)
	return rec
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

// tokenResp is the OAuth2 dialect's success body.
type tokenResp struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// getToken runs client_credentials with Basic auth and fails the test
// unless it succeeds.
func (e *env) getToken(id, secret string, extra ...string) tokenResp {
	e.t.Helper()
	rec := e.do(req{body: form(append([]string{"grant_type", "client_credentials"}, extra...)...),
		header: map[string]string{"Authorization": basic(id, secret)}})
	return decodeToken(e.t, rec)
}

func decodeToken(t testing.TB, rec *httptest.ResponseRecorder) tokenResp {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}
	var tr tokenResp
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("decoding token response: %v", err)
	}
	return tr
}

// wantResponse checks status, the given headers and the exact body of a
// *httptest.ResponseRecorder or an *httpResult.
func wantResponse(t *testing.T, x any, status int, headers map[string]string, body string) {
	t.Helper()
	var r *httpResult
	switch v := x.(type) {
	case *httpResult:
		r = v
	case *httptest.ResponseRecorder:
		r = result(v)
	default:
		t.Fatalf("wantResponse(%T)", x)
	}
	if r.code != status {
		t.Errorf("status %d, want %d (body %s)", r.code, status, r.body)
	}
	for k, v := range headers {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.body != body {
		t.Errorf("body\n got %s\nwant %s", r.body, body)
	}
}

// errBody is an RFC 6749 §5.2 body as the issuer writes it.
func errBody(code, desc string) string {
	b, _ := json.Marshal(struct {
		E string `json:"error"`
		D string `json:"error_description,omitempty"`
	}{code, desc})
	return string(b)
}

var noStoreJSON = map[string]string{
	"Content-Type":  "application/json",
	"Cache-Control": "no-store",
	"Pragma":        "no-cache",
}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// endpointHandler returns the handler of the named endpoint, as an
// application that mounts routes one by one finds it.
func endpointHandler(t testing.TB, iss *issuer.Issuer, name string) http.Handler {
	t.Helper()
	for _, rt := range iss.Routes() {
		if rt.Name == name {
			return rt.Handler
		}
	}
	t.Fatalf("no %s endpoint in %v", name, iss.Routes())
	return nil
}
