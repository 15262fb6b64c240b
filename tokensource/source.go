package tokensource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Config configures a [Source]. TokenURL, ClientID and ClientSecret are
// required; every other field's zero value is its default.
type Config struct {
	// TokenURL is the token endpoint, e.g.
	// "https://api.example.com/oauth/token". It must be https, or http to
	// a loopback address (see AllowHTTP), and carry no query and no user
	// info: secrets never travel in URLs.
	TokenURL string
	// ClientID and ClientSecret are the client's credentials.
	ClientID     string
	ClientSecret string
	// Scopes to ask for. Default none: the server grants every scope the
	// client is allowed. The dialect must name a scope field to send them.
	Scopes []string
	// Dialect is the token endpoint's wire format. Default [OAuth2].
	Dialect Dialect
	// HTTPClient sends the token requests, and is the base of
	// [Source.Client]. Default: a client over http.DefaultTransport with
	// no timeout of its own (Timeout bounds token requests). Token
	// requests never follow redirects, whatever its CheckRedirect says: a
	// redirected body would carry the secret to another address.
	HTTPClient *http.Client
	// Timeout bounds one token request, refresh and fallback included.
	// Default 30 s; negative: no bound but HTTPClient's own.
	Timeout time.Duration
	// RefreshBefore is how long before a token expires the source asks
	// for the next one, so that no caller ever waits for it: callers keep
	// the current token while one request renews it. Default 1 min;
	// negative: only once the token is about to expire. Never more than
	// half a token's lifetime, with Jitter.
	RefreshBefore time.Duration
	// Jitter adds up to this much to RefreshBefore, chosen at random for
	// each token, so that many clients started together do not all renew
	// together. Default 30 s; negative: none.
	Jitter time.Duration
	// DefaultTTL is a token's lifetime when the answer gives none and the
	// token is not a JWT with an exp claim. Default 5 min: a guess erring
	// short, since a token used after its end costs a refused call (which
	// [Transport] retries) and one renewed early costs a token request.
	DefaultTTL time.Duration
	// Backoff is how long the source waits after a failed token request
	// before it sends another; it doubles with each failure in a row, up
	// to 1 min or Backoff if that is longer, with random jitter, and is at
	// least the server's Retry-After. Meanwhile callers with no usable
	// token get the last error at once. Default 1 s.
	Backoff time.Duration
	// AllowHTTP allows an http:// TokenURL to any host. Default false:
	// only to a loopback address, since the secret travels in the clear.
	AllowHTTP bool
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	defaultTimeout       = 30 * time.Second
	defaultRefreshBefore = time.Minute
	defaultJitter        = 30 * time.Second
	defaultTTL           = 5 * time.Minute
	defaultBackoff       = time.Second
	maxBackoff           = time.Minute
	// maxRetryAfter bounds the wait a server may ask for, so that a
	// mistaken header cannot silence the client for a day.
	maxRetryAfter = 5 * time.Minute
	// expiryDelta: a token is not handed out in its last seconds, where a
	// request would meet it expired on arrival.
	expiryDelta = 10 * time.Second
)

// Source is an [oauth2.TokenSource] for a token endpoint in any
// [Dialect]: it asks with the client's credentials, keeps the token,
// renews it before it expires, uses a refresh token when the server
// issues one, and sends one token request at a time whatever the number
// of callers. Safe for concurrent use.
//
// Put it on requests with [Source.Client] or [Transport]. oauth2.NewClient
// works too, but wraps it in a cache of its own that asks only once the
// token has nearly expired (so the renewal is no longer in the
// background), and does not retry a request refused with 401.
type Source struct {
	cfg     Config
	dialect Dialect
	scope   string
	http    *http.Client // for token requests: redirects refused
	base    *http.Client // the caller's, for Client

	mu       sync.Mutex
	cur      *entry  // the current token, nil when none
	refresh  string  // the current refresh token, owned by the flight
	flight   *flight // the request in flight, nil when none
	lastErr  error   // the last request's error, until one succeeds
	retryAt  time.Time
	failures int
}

// entry is a token with the times the source acts on.
type entry struct {
	tok     *oauth2.Token // shared: handed out as copies
	renewAt time.Time     // from here, renew in the background
	staleAt time.Time     // from here, no longer handed out
}

// flight is one token request that every caller waiting for a token
// shares.
type flight struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// New checks cfg and returns a Source that has not yet asked for a token:
// the first call to Token does.
func New(cfg Config) (*Source, error) {
	d, err := cfg.Dialect.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkTokenURL(cfg.TokenURL, cfg.AllowHTTP); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("tokensource: Config.ClientID and ClientSecret are required")
	}
	if len(cfg.Scopes) > 0 && d.Request.Scope == "" {
		return nil, fmt.Errorf("tokensource: dialect %q sends no scope, but Config.Scopes is set", d.Name)
	}
	for _, sc := range cfg.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return nil, fmt.Errorf("tokensource: scope %q is empty or holds a space", sc)
		}
	}
	if cfg.DefaultTTL < 0 || cfg.Backoff < 0 {
		return nil, errors.New("tokensource: Config.DefaultTTL and Backoff must not be negative")
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	set := func(d *time.Duration, def time.Duration) {
		switch {
		case *d == 0:
			*d = def
		case *d < 0:
			*d = 0
		}
	}
	set(&cfg.Timeout, defaultTimeout)
	set(&cfg.RefreshBefore, defaultRefreshBefore)
	set(&cfg.Jitter, defaultJitter)
	set(&cfg.DefaultTTL, defaultTTL)
	set(&cfg.Backoff, defaultBackoff)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := cfg.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Source{cfg: cfg, dialect: d, scope: strings.Join(cfg.Scopes, " "), http: &hc, base: base}, nil
}

// checkTokenURL refuses a token URL that would expose the secret.
func checkTokenURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("tokensource: Config.TokenURL %q is not an http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return errors.New("tokensource: Config.TokenURL must carry no user info, query or fragment")
	}
	if u.Scheme == "http" && !allowHTTP && !loopback(u.Hostname()) {
		return fmt.Errorf("tokensource: Config.TokenURL %q is http to a host that is not loopback: the secret would travel in the clear (set AllowHTTP to allow it)", raw)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Token implements [oauth2.TokenSource]; it is TokenContext with a
// background context.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns a token that is valid for a while yet: the cached
// one, or a new one from the token endpoint. Callers that find no usable
// token wait for the one request in flight, or start it; ctx bounds the
// wait, not the request, which goes on for the others (bounded by
// Config.Timeout). The token returned is the caller's copy; its Expiry is
// by the source's clock, and its RefreshToken is always empty, since the
// source alone uses it (a second user would spend it, and a server that
// rotates refresh tokens then revokes them all).
//
// After a failed request, callers with no usable token get its error at
// once until the backoff ends, so that an outage of the token endpoint
// does not turn into a flood of requests to it.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	now := s.cfg.Now()
	if e := s.cur; e != nil && now.Before(e.staleAt) {
		if !now.Before(e.renewAt) && s.flight == nil && !now.Before(s.retryAt) {
			s.start(ctx)
		}
		s.mu.Unlock()
		return copyToken(e.tok), nil
	}
	if err := context.Cause(ctx); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("tokensource: waiting for a token: %w", err)
	}
	f := s.flight
	if f == nil {
		if now.Before(s.retryAt) {
			err := s.lastErr
			s.mu.Unlock()
			return nil, err
		}
		f = s.start(ctx)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return copyToken(f.tok), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("tokensource: waiting for a token: %w", context.Cause(ctx))
	}
}

// Invalidate tells the source that a server refused accessToken: if it is
// still the current token, it is dropped, and the next call asks for a
// new one (with the refresh token, if there is one). A token already
// replaced is left alone, so that many requests refused with one token
// cause one token request, not one each. [Transport] calls it on 401.
func (s *Source) Invalidate(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.tok.AccessToken == accessToken {
		s.cur = nil
	}
}

// Client returns an *http.Client that sends every request with a token
// from s (see [Transport]), over Config.HTTPClient's transport and with
// its timeout, jar and redirect policy.
func (s *Source) Client() *http.Client {
	c := *s.base
	c.Transport = &Transport{Source: s, Base: s.base.Transport}
	return &c
}

// start sends a token request in the background; s.mu is held. The
// request runs detached from the caller's cancellation (it keeps its
// values), since other callers may be waiting for it too.
func (s *Source) start(ctx context.Context) *flight {
	f := &flight{done: make(chan struct{})}
	s.flight = f
	go s.run(context.WithoutCancel(ctx), f, s.refresh)
	return f
}

// run is one flight: a refresh when there is a refresh token, then, if
// the server refused it, a request with the credentials.
func (s *Source) run(ctx context.Context, f *flight, refresh string) {
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
	}
	var a *answer
	var err error
	if refresh != "" {
		a, err = s.request(ctx, refresh)
		if err == nil && a.refresh == "" {
			// RFC 6749 §6: no new refresh token means keep the old one.
			a.refresh = refresh
		}
		if refused(err) {
			refresh = "" // dead: never send it again
			a, err = s.request(ctx, "")
		}
	} else {
		a, err = s.request(ctx, "")
	}

	s.mu.Lock()
	now := s.cfg.Now()
	if err != nil {
		s.refresh = refresh
		s.failures++
		s.lastErr = err
		s.retryAt = now.Add(s.backoff(err))
	} else {
		if !s.dialect.refreshes() {
			a.refresh = ""
		}
		s.refresh = a.refresh
		s.failures, s.lastErr, s.retryAt = 0, nil, time.Time{}
		s.cur = s.entry(a)
		f.tok = a.tok
	}
	f.err = err
	s.flight = nil
	s.mu.Unlock()
	close(f.done)
}

// entry places a new token's renewal: RefreshBefore plus jitter before it
// expires, but no earlier than half its life, so that a short-lived token
// is still used for a while.
func (s *Source) entry(a *answer) *entry {
	early := s.cfg.RefreshBefore
	if s.cfg.Jitter > 0 {
		early += rand.N(s.cfg.Jitter)
	}
	early = min(early, a.lifetime/2)
	return &entry{
		tok:     a.tok,
		renewAt: a.tok.Expiry.Add(-early),
		staleAt: a.tok.Expiry.Add(-min(expiryDelta, a.lifetime/4)),
	}
}

// backoff is the wait after the failures in a row so far: Backoff,
// doubled for each earlier failure, capped, with jitter in its upper
// half; and at least what the server asked for.
func (s *Source) backoff(err error) time.Duration {
	limit := max(maxBackoff, s.cfg.Backoff)
	d := s.cfg.Backoff
	for i := 1; i < s.failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > d {
		d = min(e.RetryAfter, maxRetryAfter)
	}
	return d
}

// copyToken gives each caller its own token to keep or change.
func copyToken(t *oauth2.Token) *oauth2.Token {
	c := *t
	return &c
}
