package tokensource_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/tokensource"
)

// api is a fake resource server: it answers 200 with the request's body
// to a token it accepts, 401 otherwise, and records what it received.
type api struct {
	*httptest.Server
	mu     sync.Mutex
	accept map[string]bool
	auths  []string
	bodies []string
}

func newAPI(t *testing.T, accept ...string) *api {
	a := &api{accept: map[string]bool{}}
	for _, tok := range accept {
		a.accept[tok] = true
	}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		a.mu.Lock()
		a.auths = append(a.auths, auth)
		a.bodies = append(a.bodies, string(b))
		ok := a.accept[strings.TrimPrefix(auth, "Bearer ")]
		a.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) set(tok string, ok bool) {
	a.mu.Lock()
	a.accept[tok] = ok
	a.mu.Unlock()
}

func (a *api) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

// do sends req with c and returns the status and body.
func do(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTransport(t *testing.T) {
	e := newEndpoint(t, tokens(false))
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	a := newAPI(t, "A0", "A1")
	c := s.Client()

	req, _ := http.NewRequest("GET", a.URL, nil)
	if code, _ := do(t, c, req); code != 200 || a.seen()[0] != "Bearer A0" {
		t.Fatalf("%d with %v", code, a.seen())
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the caller's request was modified")
	}

	// The server refuses A0 from now on: the transport gets A1 and sends
	// the request again, body and all.
	a.set("A0", false)
	req, _ = http.NewRequest("POST", a.URL, strings.NewReader("payload"))
	code, body := do(t, c, req)
	if code != 200 || body != "payload" {
		t.Fatalf("after a 401: %d %q", code, body)
	}
	if got := strings.Join(a.seen()[1:], ","); got != "Bearer A0,Bearer A1" || e.count() != 2 {
		t.Errorf("sent %s with %d token requests", got, e.count())
	}
	a.mu.Lock()
	bodies := a.bodies[1:]
	a.mu.Unlock()
	if bodies[0] != "payload" || bodies[1] != "payload" {
		t.Errorf("bodies %q", bodies)
	}
}

// TestTransportRetriesOnce: a 401 to the fresh token is returned as it
// is, and a body that cannot be sent again is not.
func TestTransportRetriesOnce(t *testing.T) {
	e := newEndpoint(t, tokens(false))
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	a := newAPI(t) // refuses everything
	c := s.Client()

	req, _ := http.NewRequest("GET", a.URL, nil)
	if code, _ := do(t, c, req); code != 401 || len(a.seen()) != 2 || e.count() != 2 {
		t.Errorf("%d after %d attempts and %d token requests", code, len(a.seen()), e.count())
	}

	// A body of unknown length has no GetBody: one attempt.
	req, _ = http.NewRequest("POST", a.URL, io.NopCloser(strings.NewReader("once")))
	if code, _ := do(t, c, req); code != 401 || len(a.seen()) != 3 || e.count() != 2 {
		t.Errorf("%d after %d attempts and %d token requests", code, len(a.seen())-2, e.count()-2)
	}
}

// TestTransportConcurrent401: many requests refused with one token cause
// one token request, not one each.
func TestTransportConcurrent401(t *testing.T) {
	e := newEndpoint(t, tokens(false))
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	a := newAPI(t, "A1")
	c := s.Client()
	mustToken(t, s) // A0, which the API refuses
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", a.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := e.count(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

// closeRecorder records whether the transport closed a request body.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestTransportTokenError: when no token can be had, the request is not
// sent, its body is closed (as a RoundTripper must), and the error says
// why.
func TestTransportTokenError(t *testing.T) {
	e := newEndpoint(t, func(w http.ResponseWriter, _ seen, _ int) {
		writeJSON(w, 401, `{"error":"invalid_client"}`)
	})
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	a := newAPI(t)
	body := &closeRecorder{Reader: bytes.NewReader(nil)}
	req, _ := http.NewRequest("POST", a.URL, body)
	_, err := (&tokensource.Transport{Source: s}).RoundTrip(req)
	if !errors.Is(err, tokensource.ErrInvalidClient) {
		t.Errorf("got %v", err)
	}
	if !body.closed || len(a.seen()) != 0 {
		t.Errorf("body closed %v, %d requests sent", body.closed, len(a.seen()))
	}
}

// TestTransportRedirect: the token goes to the request's own host only,
// whatever the redirects.
func TestTransportRedirect(t *testing.T) {
	e := newEndpoint(t, tokens(false))
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	other := newAPI(t, "A0")
	var hops []string
	var own *httptest.Server
	own = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops = append(hops, r.URL.Path+" "+r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/start":
			http.Redirect(w, r, "/same-host", http.StatusFound)
		case "/same-host":
			http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
		}
	}))
	defer own.Close()
	req, _ := http.NewRequest("GET", own.URL+"/start", nil)
	code, _ := do(t, s.Client(), req)
	if got := strings.Join(hops, ", "); got != "/start Bearer A0, /same-host Bearer A0" {
		t.Errorf("own host saw %s", got)
	}
	if code != 401 || other.seen()[0] != "" {
		t.Errorf("the other host got %d with %q", code, other.seen())
	}
}
