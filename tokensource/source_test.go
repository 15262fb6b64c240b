package tokensource_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/tokensource"
)

// The source is an oauth2.TokenSource.
var _ oauth2.TokenSource = (*tokensource.Source)(nil)

// TestConcurrentCallers: callers that find no token wait for one request,
// whatever their number, and each gets its own copy of the same token.
func TestConcurrentCallers(t *testing.T) {
	const callers = 64
	arrived, release := make(chan struct{}), make(chan struct{})
	e := newEndpoint(t, func(w http.ResponseWriter, r seen, n int) {
		if n == 0 {
			close(arrived)
			<-release
		}
		tokens(false)(w, r, n)
	})
	s := newSource(t, e, tokensource.DataCrunch(), newClock())

	var started, done sync.WaitGroup
	toks := make([]*oauth2.Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		started.Add(1)
		done.Go(func() {
			started.Done()
			toks[i], errs[i] = s.Token()
		})
	}
	<-arrived
	started.Wait()
	close(release)
	done.Wait()
	for i := range callers {
		if errs[i] != nil || toks[i].AccessToken != "A0" {
			t.Fatalf("caller %d: %v %v", i, toks[i], errs[i])
		}
	}
	if n := e.count(); n != 1 {
		t.Errorf("%d token requests for %d callers, want 1", n, callers)
	}
	toks[0].AccessToken = "changed"
	if toks[1].AccessToken != "A0" || mustToken(t, s) != "A0" {
		t.Error("callers share one token value")
	}
}

// TestWaitingCallerGivesUp: a caller's context bounds its wait, not the
// request, which goes on for the others.
func TestWaitingCallerGivesUp(t *testing.T) {
	release := make(chan struct{})
	e := newEndpoint(t, func(w http.ResponseWriter, r seen, n int) {
		<-release
		tokens(false)(w, r, n)
	})
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error)
	go func() {
		_, err := s.TokenContext(ctx)
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
	close(release)
	if tok := mustToken(t, s); tok != "A0" || e.count() != 1 {
		t.Errorf("after the first caller gave up: %q, %d requests", tok, e.count())
	}
}

// TestRenewal: a while before the token expires, one caller starts the
// renewal and every caller keeps the current token meanwhile; once it is
// stale, callers wait for the new one.
func TestRenewal(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	e := newEndpoint(t, func(w http.ResponseWriter, r seen, n int) {
		if n == 1 {
			arrived <- struct{}{}
			<-release
		}
		tokens(false)(w, r, n)
	})
	c := newClock()
	s := newSource(t, e, tokensource.DataCrunch(), c, func(cfg *tokensource.Config) {
		cfg.RefreshBefore, cfg.Jitter = 2*time.Minute, time.Minute
	})
	if tok := mustToken(t, s); tok != "A0" {
		t.Fatal(tok)
	}
	// Before RefreshBefore + Jitter: the cached token, no request.
	c.Advance(time.Hour - 3*time.Minute - time.Second)
	if tok := mustToken(t, s); tok != "A0" || e.count() != 1 {
		t.Fatalf("before the renewal: %q, %d requests", tok, e.count())
	}
	// Within RefreshBefore: a renewal starts, and callers keep A0 until it
	// ends.
	c.Advance(time.Minute + 2*time.Second)
	for range 10 {
		if tok := mustToken(t, s); tok != "A0" {
			t.Fatalf("during the renewal: %q", tok)
		}
	}
	<-arrived
	// Stale now: callers wait for the renewal in flight rather than send
	// another.
	c.Advance(2 * time.Minute)
	got := make(chan string)
	go func() { got <- mustToken(t, s) }()
	close(release)
	if tok := <-got; tok != "A1" {
		t.Errorf("after the renewal: %q", tok)
	}
	if n := e.count(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestShortLivedToken: a token living less than twice RefreshBefore is
// used for half its life before it is renewed.
func TestShortLivedToken(t *testing.T) {
	e := newEndpoint(t, func(w http.ResponseWriter, _ seen, n int) {
		writeJSON(w, 200, `{"access_token":"A`+itoa(n)+`","expires_in":60}`)
	})
	c := newClock()
	s := newSource(t, e, tokensource.OAuth2(), c)
	mustToken(t, s)
	c.Advance(29 * time.Second)
	mustToken(t, s)
	if n := e.count(); n != 1 {
		t.Errorf("%d requests within half the token's life", n)
	}
}

// TestRefreshRefused: a refused refresh token (expired, revoked, unknown)
// is dropped and the source asks with its credentials in the same call;
// a refresh that fails for another reason keeps it for the next try.
func TestRefreshRefused(t *testing.T) {
	for _, refusal := range []struct {
		name, body string
		status     int
	}{
		{"invalid_grant", `{"error":"invalid_grant","error_description":"the refresh token is invalid or expired"}`, 400},
		{"400 without a body", ``, 400},
		{"invalid_client", `{"error":"invalid_client"}`, 401},
	} {
		t.Run(refusal.name, func(t *testing.T) {
			var e *endpoint
			e = newEndpoint(t, func(w http.ResponseWriter, r seen, n int) {
				if r.field(t, "grant_type") == "refresh_token" && r.field(t, "refresh_token") == "R0" {
					writeJSON(w, refusal.status, refusal.body)
					return
				}
				tokens(true)(w, r, n)
			})
			c := newClock()
			s := newSource(t, e, tokensource.DataCrunch(), c)
			mustToken(t, s)
			c.Advance(time.Hour)
			tok, err := s.Token()
			if err != nil {
				t.Fatal(err)
			}
			grants := grantsOf(t, e)
			if tok.AccessToken != "A2" || strings.Join(grants, " ") != "client_credentials refresh_token:R0 client_credentials" {
				t.Errorf("token %q after %v", tok.AccessToken, grants)
			}
			// The new refresh token is the one used next.
			c.Advance(time.Hour)
			if tok := mustToken(t, s); tok != "A3" || grantsOf(t, e)[3] != "refresh_token:R2" {
				t.Errorf("token %q after %v", tok, grantsOf(t, e))
			}
		})
	}

	t.Run("unavailable keeps the refresh token", func(t *testing.T) {
		e := newEndpoint(t, tokens(true))
		c := newClock()
		s := newSource(t, e, tokensource.DataCrunch(), c)
		mustToken(t, s)
		e.setAnswer(func(w http.ResponseWriter, _ seen, _ int) {
			writeJSON(w, 503, `{"error":"temporarily_unavailable"}`)
		})
		c.Advance(time.Hour)
		if _, err := s.Token(); !errors.Is(err, tokensource.ErrTemporarilyUnavailable) {
			t.Fatalf("got %v", err)
		}
		e.setAnswer(tokens(true))
		c.Advance(time.Minute)
		if tok := mustToken(t, s); tok != "A2" {
			t.Errorf("token %q", tok)
		}
		if g := grantsOf(t, e); strings.Join(g, " ") != "client_credentials refresh_token:R0 refresh_token:R0" {
			t.Errorf("requests %v", g)
		}
	})

	t.Run("no new refresh token keeps the old", func(t *testing.T) {
		e := newEndpoint(t, func(w http.ResponseWriter, r seen, n int) {
			tokens(n == 0)(w, r, n)
		})
		c := newClock()
		s := newSource(t, e, tokensource.DataCrunch(), c)
		mustToken(t, s)
		for range 2 {
			c.Advance(time.Hour)
			mustToken(t, s)
		}
		if g := grantsOf(t, e); strings.Join(g, " ") != "client_credentials refresh_token:R0 refresh_token:R0" {
			t.Errorf("requests %v", g)
		}
	})

	t.Run("a dialect without refresh ignores one", func(t *testing.T) {
		e := newEndpoint(t, func(w http.ResponseWriter, _ seen, n int) {
			writeJSON(w, 200, `{"accessToken":"T`+itoa(n)+`","expiresIn":60,"refreshToken":"R"}`)
		})
		c := newClock()
		s := newSource(t, e, tokensource.Generic(), c)
		mustToken(t, s)
		c.Advance(time.Minute)
		mustToken(t, s)
		for _, r := range e.requests() {
			if strings.Contains(r.Body, "refresh") {
				t.Errorf("request %s", r.Body)
			}
		}
	})
}

// grantsOf lists the grants of the requests so far, with the refresh token
// used.
func grantsOf(t *testing.T, e *endpoint) []string {
	var out []string
	for _, r := range e.requests() {
		g := r.field(t, "grant_type")
		if g == "refresh_token" {
			g += ":" + r.field(t, "refresh_token")
		}
		out = append(out, g)
	}
	return out
}

// TestServerDown: while the token endpoint is down, callers with no
// usable token get an error, at once and without a request until the
// backoff ends; a token already held is used until it goes stale; and the
// first request after the server is back ends the errors.
func TestServerDown(t *testing.T) {
	e := newEndpoint(t, tokens(false))
	c := newClock()
	s := newSource(t, e, tokensource.DataCrunch(), c, func(cfg *tokensource.Config) { cfg.Backoff = time.Second })
	mustToken(t, s)

	up := e.down(t)
	// The renewal fails in the background; callers keep A0.
	c.Advance(time.Hour - time.Minute)
	for range 3 {
		if tok := mustToken(t, s); tok != "A0" {
			t.Fatalf("during a failing renewal: %q", tok)
		}
	}
	// Stale: errors, and no flood. Wait for the background request to end
	// first (it is quick: the connection is refused).
	c.Advance(time.Minute)
	var first error
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, first = s.Token()
		if first != nil || time.Now().After(deadline) {
			break
		}
	}
	if first == nil {
		t.Fatal("a stale token while the server is down")
	}
	if strings.Contains(first.Error(), testSecret) {
		t.Errorf("the error holds the secret: %v", first)
	}
	for range 5 {
		if _, err := s.Token(); err == nil || err.Error() != first.Error() {
			t.Fatalf("within the backoff: %v", err)
		}
	}
	up()
	before := e.count()
	if _, err := s.Token(); err == nil || e.count() != before {
		t.Fatalf("within the backoff, the server up again: %v, %d requests", err, e.count()-before)
	}
	// Backoff doubles up to 1 min: past it, the next call asks again.
	c.Advance(time.Minute)
	if tok := mustToken(t, s); tok == "A0" || e.count() != before+1 {
		t.Errorf("after the outage: %q, %d requests", tok, e.count()-before)
	}
}

// TestRetryAfter: a 429's Retry-After holds the source back even when its
// own backoff is shorter.
func TestRetryAfter(t *testing.T) {
	e := newEndpoint(t, func(w http.ResponseWriter, _ seen, _ int) {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 429, `{"error":"temporarily_unavailable","error_description":"too many failed client authentications; retry later"}`)
	})
	c := newClock()
	s := newSource(t, e, tokensource.DataCrunch(), c, func(cfg *tokensource.Config) { cfg.Backoff = time.Millisecond })
	_, err := s.Token()
	var te *tokensource.Error
	if !errors.As(err, &te) || te.StatusCode != 429 || te.RetryAfter != 30*time.Second {
		t.Fatalf("got %#v", err)
	}
	c.Advance(29 * time.Second)
	s.Token()
	if n := e.count(); n != 1 {
		t.Errorf("%d requests within Retry-After", n)
	}
	c.Advance(time.Second)
	s.Token()
	if n := e.count(); n != 2 {
		t.Errorf("%d requests after Retry-After", n)
	}
}

// TestErrors: a refusal is an *Error with the server's code, read with the
// dialect's names, and no error ever holds the secret or quotes a body.
func TestErrors(t *testing.T) {
	big := `{"access_token":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name    string
		dialect tokensource.Dialect
		status  int
		body    string
		is      error
		want    string // the whole message
	}{
		{"RFC 6749", tokensource.OAuth2(), 401, `{"error":"invalid_client","error_description":"client authentication failed"}`,
			tokensource.ErrInvalidClient, "tokensource: token endpoint answered 401 invalid_client: client authentication failed"},
		{"Bloq's code and message", tokensource.Bloq(), 400, `{"code":"invalid_scope","message":"no such scope"}`,
			tokensource.ErrInvalidScope, "tokensource: token endpoint answered 400 invalid_scope: no such scope"},
		{"a description that echoes the secret", tokensource.DataCrunch(), 400,
			`{"error":"invalid_request","error_description":"bad secret ` + testSecret + "\\n\\u0007" + `"}`,
			tokensource.ErrInvalidRequest, "tokensource: token endpoint answered 400 invalid_request: bad secret [redacted]  "},
		{"a body that is not JSON", tokensource.DataCrunch(), 502, `<html>proxy error, your request was ` + testSecret + `</html>`,
			nil, "tokensource: token endpoint answered 502 Bad Gateway"},
		{"200 without a token", tokensource.DataCrunch(), 200, `{"token":"x"}`,
			tokensource.ErrMalformedResponse, `tokensource: malformed token response: no "access_token"`},
		{"200 not JSON", tokensource.DataCrunch(), 200, testSecret,
			tokensource.ErrMalformedResponse, `tokensource: malformed token response: not a JSON object`},
		{"a token of another type", tokensource.DataCrunch(), 200, `{"access_token":"x","token_type":"DPoP"}`,
			tokensource.ErrMalformedResponse, `tokensource: malformed token response: token type "DPoP" is not Bearer`},
		{"an expired token", tokensource.OffBlocks(), 200, `{"token":"x","expiresAt":1700000000}`,
			tokensource.ErrMalformedResponse, `tokensource: malformed token response: the token has already expired`},
		{"too long", tokensource.DataCrunch(), 200, big,
			tokensource.ErrMalformedResponse, `tokensource: malformed token response: longer than 1048576 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, func(w http.ResponseWriter, _ seen, _ int) { writeJSON(w, tc.status, tc.body) })
			_, err := newSource(t, e, tc.dialect, newClock()).Token()
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if errors.Is(err, tokensource.ErrInvalidGrant) {
				t.Errorf("%v is invalid_grant", err)
			}
		})
	}
}

// TestRedirectRefused: a token request is never redirected, since the
// body with the secret would follow.
func TestRedirectRefused(t *testing.T) {
	elsewhere := newEndpoint(t, tokens(false))
	e := newEndpoint(t, func(w http.ResponseWriter, _ seen, _ int) {
		w.Header().Set("Location", elsewhere.URL+"/token")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
	_, err := newSource(t, e, tokensource.DataCrunch(), newClock()).Token()
	var te *tokensource.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("got %v", err)
	}
	if elsewhere.count() != 0 {
		t.Error("the request followed the redirect")
	}
}

// TestNew: configurations that cannot work, or would expose the secret,
// are refused.
func TestNew(t *testing.T) {
	ok := tokensource.Config{TokenURL: "https://api.example.com/token", ClientID: "id", ClientSecret: "secret"}
	if _, err := tokensource.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*tokensource.Config){
		"no URL":             func(c *tokensource.Config) { c.TokenURL = "" },
		"not http":           func(c *tokensource.Config) { c.TokenURL = "ftp://api.example.com/token" },
		"http to a host":     func(c *tokensource.Config) { c.TokenURL = "http://api.example.com/token" },
		"a query":            func(c *tokensource.Config) { c.TokenURL = "https://api.example.com/token?client_secret=x" },
		"user info":          func(c *tokensource.Config) { c.TokenURL = "https://id:secret@api.example.com/token" },
		"no id":              func(c *tokensource.Config) { c.ClientID = "" },
		"no secret":          func(c *tokensource.Config) { c.ClientSecret = "" },
		"scopes, no field":   func(c *tokensource.Config) { c.Dialect, c.Scopes = tokensource.Bloq(), []string{"read"} },
		"a scope with space": func(c *tokensource.Config) { c.Scopes = []string{"read write"} },
		"negative TTL":       func(c *tokensource.Config) { c.DefaultTTL = -1 },
		"no access token":    func(c *tokensource.Config) { c.Dialect = tokensource.Dialect{Name: "x", Basic: true} },
		"no credentials": func(c *tokensource.Config) {
			c.Dialect = tokensource.Generic()
			c.Dialect.Request.ClientSecret = ""
		},
		"a name twice": func(c *tokensource.Config) {
			c.Dialect = tokensource.Generic()
			c.Dialect.Response.TokenType = "accessToken"
		},
	} {
		cfg := ok
		change(&cfg)
		if _, err := tokensource.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]/token"} {
		cfg := ok
		cfg.TokenURL = u
		if _, err := tokensource.New(cfg); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	cfg := ok
	cfg.TokenURL, cfg.AllowHTTP = "http://api.internal/token", true
	if _, err := tokensource.New(cfg); err != nil {
		t.Errorf("AllowHTTP: %v", err)
	}
}

// TestInvalidate: a refused token is dropped once, however many requests
// report it, and a token already replaced is left alone.
func TestInvalidate(t *testing.T) {
	e := newEndpoint(t, tokens(false))
	s := newSource(t, e, tokensource.DataCrunch(), newClock())
	mustToken(t, s)
	s.Invalidate("A0")
	if tok := mustToken(t, s); tok != "A1" {
		t.Fatal(tok)
	}
	s.Invalidate("A0")
	if tok := mustToken(t, s); tok != "A1" || e.count() != 2 {
		t.Errorf("after a stale Invalidate: %q, %d requests", tok, e.count())
	}
}
