package demotest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/tokensource"
)

// ClientCheck describes an example for [CheckClient].
type ClientCheck struct {
	// Run is the example's run.
	Run RunFunc
	// Args are its flags besides -addr. They must fix the demo client
	// (-client-id, -client-secret), so that a restart on the memory store
	// knows it again.
	Args []string
	// ID and Secret are the demo client's credentials.
	ID, Secret string
	// Dialect is the token endpoint's wire format, TokenPath its path.
	Dialect   tokensource.Dialect
	TokenPath string
	// API is a GET route that answers 200 to the client's token.
	API string
	// Refresh says the example issues refresh tokens with client
	// credentials.
	Refresh bool
}

// CheckClient drives the example c describes with the client library, as
// a customer's program would, through [tokensource.Source.Client]:
//
//   - many concurrent first calls cost one token request;
//   - the token's end brings the next one, with the refresh token when the
//     example issues them;
//   - a server restarted on the memory store (it forgot every token)
//     refuses the token, and the client gets a new one and sends the call
//     again; its refresh token is refused too, and the client falls back
//     to its credentials;
//   - a server down for a while gives errors, without a token request on
//     every call and without the secret, and the client recovers once the
//     server is back.
func CheckClient(t *testing.T, c ClientCheck) {
	t.Helper()
	s := Start(t, c.Run, append([]string{"-addr", "127.0.0.1:0"}, c.Args...)...)
	rec := &tokenRecorder{path: c.TokenPath, refreshField: c.Dialect.Request.RefreshToken,
		base: http.DefaultTransport.(*http.Transport).Clone()}
	defer rec.base.CloseIdleConnections()
	// again starts the example on the same address; the connections to the
	// run before are closed, as a restarted process's would be.
	again := func() {
		t.Helper()
		s = Start(t, c.Run, append([]string{"-addr", strings.TrimPrefix(s.URL, "http://")}, c.Args...)...)
		rec.base.CloseIdleConnections()
	}
	clk := &fakeClock{t: time.Now()}
	src, err := tokensource.New(tokensource.Config{
		TokenURL:     s.URL + c.TokenPath,
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		Dialect:      c.Dialect,
		HTTPClient:   &http.Client{Transport: rec},
		Now:          clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	hc := src.Client()
	call := func() (int, error) {
		resp, err := hc.Get(s.URL + c.API)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	want := func(step string, expected ...string) {
		t.Helper()
		if got := rec.take(); strings.Join(got, ", ") != strings.Join(expected, ", ") {
			t.Errorf("%s: token requests %q, want %q", step, got, expected)
		}
	}

	// Concurrent first calls: one token request.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if code, err := call(); code != 200 {
				t.Errorf("concurrent call: %d %v", code, err)
			}
		})
	}
	wg.Wait()
	want("16 concurrent first calls", "credentials 200")

	// The token's end: the next one, refreshed if the example can.
	clk.Advance(time.Hour)
	if code, err := call(); code != 200 {
		t.Fatalf("after the token's end: %d %v", code, err)
	}
	if c.Refresh {
		want("at the token's end", "refresh 200")
	} else {
		want("at the token's end", "credentials 200")
	}

	// A restart forgets every token: the call is refused, and sent again
	// with a new token; the refresh token is refused, and the credentials
	// serve.
	if err := s.Stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	again()
	if code, err := call(); code != 200 {
		t.Fatalf("after a restart: %d %v", code, err)
	}
	if c.Refresh {
		want("after a restart", "refresh 400", "credentials 200")
	} else {
		want("after a restart", "credentials 200")
	}

	// Down for a while: the token has run out, and the calls fail, but
	// without a token request each.
	if err := s.Stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	clk.Advance(time.Hour)
	for i := range 5 {
		_, err := call()
		if err == nil {
			t.Fatal("a call succeeded with the server down")
		}
		if strings.Contains(err.Error(), c.Secret) {
			t.Errorf("the error holds the secret: %v", err)
		}
		if i == 0 && c.Refresh {
			// The refresh fails to connect: not a refusal, so the
			// refresh token is kept and the credentials are not tried.
			want("the server down", "refresh error")
		} else if i == 0 {
			want("the server down", "credentials error")
		}
	}
	want("the server down, within the backoff")
	again()
	clk.Advance(time.Minute) // past the backoff
	if code, err := call(); code != 200 {
		t.Fatalf("the server back: %d %v", code, err)
	}
	if c.Refresh {
		want("the server back", "refresh 400", "credentials 200")
	} else {
		want("the server back", "credentials 200")
	}
}

// tokenRecorder is the token requests' transport: it records each request
// to path as "refresh" or "credentials" with its status, or "error".
type tokenRecorder struct {
	path, refreshField string
	base               *http.Transport

	mu  sync.Mutex
	log []string
}

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != r.path {
		return r.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(b))
	grant := "credentials"
	if r.refreshField != "" && bytes.Contains(b, []byte(r.refreshField)) {
		grant = "refresh"
	}
	resp, err := r.base.RoundTrip(req)
	result := "error"
	if err == nil {
		result = strconv.Itoa(resp.StatusCode)
	}
	r.mu.Lock()
	r.log = append(r.log, grant+" "+result)
	r.mu.Unlock()
	return resp, err
}

// take returns the requests recorded since the last call.
func (r *tokenRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

// fakeClock is the source's clock, which the check moves forward instead
// of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
