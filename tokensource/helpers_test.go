package tokensource_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/tokensource"
)

// Credentials with characters that JSON, forms and HTTP Basic each encode
// differently.
const (
	testID     = "id:1%"
	testSecret = "s+c/r t&=<secret>"
)

// clock is a settable Config.Now, so that expiry and backoff are tested
// without sleeping. It starts at the real time, since servers stamp their
// answers with it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seen is a request the fake endpoint received, read in full.
type seen struct {
	Header http.Header
	Body   string
}

// field reads a field of a form or JSON body.
func (s seen) field(t *testing.T, name string) string {
	t.Helper()
	if strings.HasPrefix(s.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r := &http.Request{Method: "POST", Header: s.Header, Body: io.NopCloser(strings.NewReader(s.Body))}
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		return r.PostForm.Get(name)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.Body), &m); err != nil {
		t.Fatalf("body %q: %v", s.Body, err)
	}
	return m[name]
}

// endpoint is a fake token endpoint: it records every request and answers
// with its answer func, which gets the request and its number (from 0).
type endpoint struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []seen
	answer func(w http.ResponseWriter, r seen, n int)
}

func newEndpoint(t *testing.T, answer func(w http.ResponseWriter, r seen, n int)) *endpoint {
	e := &endpoint{answer: answer}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s := seen{Header: r.Header.Clone(), Body: string(b)}
	e.mu.Lock()
	n := len(e.reqs)
	e.reqs = append(e.reqs, s)
	answer := e.answer
	e.mu.Unlock()
	answer(w, s, n)
}

// requests returns the requests so far.
func (e *endpoint) requests() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seen(nil), e.reqs...)
}

func (e *endpoint) count() int { return len(e.requests()) }

// setAnswer replaces the answer func.
func (e *endpoint) setAnswer(a func(w http.ResponseWriter, r seen, n int)) {
	e.mu.Lock()
	e.answer = a
	e.mu.Unlock()
}

// down stops the endpoint's server (connections are refused) and returns
// a func that starts it again on the same address.
func (e *endpoint) down(t *testing.T) (up func()) {
	t.Helper()
	addr := e.Listener.Addr().String()
	e.Close()
	return func() {
		t.Helper()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
		s := httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
		s.Listener.Close()
		s.Listener = ln
		s.Start()
		t.Cleanup(s.Close)
		e.Server = s
	}
}

// writeJSON answers with status and body.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// tokens answers every request with a new token in DataCrunch's format:
// access token "A<n>", refresh token "R<n>" when refresh is true, expiring
// in an hour.
func tokens(refresh bool) func(w http.ResponseWriter, r seen, n int) {
	return func(w http.ResponseWriter, _ seen, n int) {
		m := map[string]any{"access_token": "A" + itoa(n), "token_type": "Bearer", "expires_in": 3600}
		if refresh {
			m["refresh_token"] = "R" + itoa(n)
		}
		b, _ := json.Marshal(m)
		writeJSON(w, 200, string(b))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// jwt is an unsigned JWT with the claims: the source reads them without
// verifying, which is all it can do.
func jwt(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

// newSource builds a source for e with the dialect and the clock, and the
// given changes to the config.
func newSource(t *testing.T, e *endpoint, d tokensource.Dialect, c *clock, change ...func(*tokensource.Config)) *tokensource.Source {
	t.Helper()
	cfg := tokensource.Config{TokenURL: e.URL + "/token", ClientID: testID, ClientSecret: testSecret, Dialect: d, Now: c.Now}
	for _, f := range change {
		f(&cfg)
	}
	s, err := tokensource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustToken gets a token or fails the test.
func mustToken(t *testing.T, s *tokensource.Source) string {
	t.Helper()
	tok, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}
