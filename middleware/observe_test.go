package middleware_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
)

// observed records what a guard tells Config.Observe.
type observed struct{ got []middleware.Outcome }

func (o *observed) observe(_ context.Context, out middleware.Outcome) { o.got = append(o.got, out) }

// last returns the one outcome observed since the previous call.
func (o *observed) last(t *testing.T) middleware.Outcome {
	t.Helper()
	if len(o.got) != 1 {
		t.Fatalf("observed %d outcomes, want 1", len(o.got))
	}
	out := o.got[0]
	o.got = nil
	return out
}

func observedGuard(t *testing.T, v middleware.Verifier) (*middleware.Guard, *observed) {
	t.Helper()
	obs := &observed{}
	g, err := middleware.New(middleware.Config{Verifier: v, Scopes: []string{"read"}, Logger: discardLog(), Observe: obs.observe})
	if err != nil {
		t.Fatal(err)
	}
	return g, obs
}

func TestObserveLocal(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	g, obs := observedGuard(t, f.v)
	good := f.mint(t, token.KindClient, "read")
	noScope := f.mint(t, token.KindClient, "write")
	account := f.mint(t, token.KindAccount, "read")

	for _, c := range []struct {
		name, header string
		result       string
		cached       bool
	}{
		{"no token", "", middleware.ResultNoToken, false},
		{"malformed", "Bearer a b", middleware.ResultInvalidRequest, false},
		{"first sight", "Bearer " + good, middleware.ResultAccepted, false},
		{"seen before", "Bearer " + good, middleware.ResultAccepted, true},
		{"forged", "Bearer " + good[:len(good)-4] + "AAAA", middleware.ResultInvalidToken, false},
		{"lacks scope", "Bearer " + noScope, middleware.ResultInsufficientScope, false},
		{"lacks scope again", "Bearer " + noScope, middleware.ResultInsufficientScope, true},
		// The verifier accepts it (from the cache the second time); the
		// guard's policy refuses the kind.
		{"wrong kind", "Bearer " + account, middleware.ResultInvalidToken, false},
		{"wrong kind again", "Bearer " + account, middleware.ResultInvalidToken, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/things", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			before := time.Now()
			p, err := g.Authenticate(r)
			out := obs.last(t)
			if got := out.Result(); got != c.result {
				t.Errorf("Result() = %q, want %q (err %v)", got, c.result, out.Err)
			}
			if out.Cached != c.cached {
				t.Errorf("Cached = %v, want %v", out.Cached, c.cached)
			}
			if out.Principal != p || out.Err != err {
				t.Errorf("outcome %+v, Authenticate returned %p, %v", out, p, err)
			}
			if out.Start.Before(before) || out.Start.After(time.Now()) {
				t.Errorf("Start = %v, not within the call", out.Start)
			}
		})
	}

	t.Run("store down", func(t *testing.T) {
		f := newFixture(t, token.ES256, middleware.LocalConfig{CacheSize: -1})
		g, obs := observedGuard(t, f.v)
		f.state.setErr(errStoreDown)
		r := httptest.NewRequest("GET", "/v1/things", nil)
		r.Header.Set("Authorization", "Bearer "+f.mint(t, token.KindClient, "read"))
		if _, err := g.Authenticate(r); !errors.Is(err, middleware.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if out := obs.last(t); out.Result() != middleware.ResultUnavailable || out.Cached {
			t.Errorf("outcome = %q cached %v, want %q uncached", out.Result(), out.Cached, middleware.ResultUnavailable)
		}
	})
}

// A verifier of another package cannot say whether it cached: Cached is
// false, and the outcome is still reported.
func TestObserveCustomVerifier(t *testing.T) {
	p := &middleware.Principal{Kind: middleware.KindClient, Subject: "c1", Scopes: []string{"read"}}
	g, obs := observedGuard(t, verifierFunc(func(context.Context, string) (*middleware.Principal, error) { return p, nil }))
	for range 2 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer x")
		if _, err := g.Authenticate(r); err != nil {
			t.Fatal(err)
		}
		if out := obs.last(t); out.Result() != middleware.ResultAccepted || out.Cached || out.Principal != p {
			t.Errorf("outcome = %+v", out)
		}
	}
	// An error that is no *Error counts as an invalid token, as the guard
	// treats it.
	if got := (middleware.Outcome{Err: errors.New("nope")}).Result(); got != middleware.ResultInvalidToken {
		t.Errorf("Result() of a plain error = %q", got)
	}
}

func TestObserveJWKS(t *testing.T) {
	s := newKeyServer(t, modeUp)
	key := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{key})
	g, obs := observedGuard(t, newJWKS(t, s))
	raw := remoteToken(t, key, s.URL)
	for i, want := range []bool{false, true} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		if _, err := g.Authenticate(r); err != nil {
			t.Fatal(err)
		}
		if out := obs.last(t); out.Cached != want || out.Result() != middleware.ResultAccepted {
			t.Errorf("request %d: outcome %q cached %v, want accepted cached %v", i, out.Result(), out.Cached, want)
		}
	}
}

func TestObserveIntrospection(t *testing.T) {
	ri := newRealIssuer(t, nil)
	g, obs := observedGuard(t, ri.verifier(t))
	raw, _ := ri.token(t)
	for _, c := range []struct {
		raw    string
		result string
		cached bool
	}{
		{raw, middleware.ResultAccepted, false},
		{raw, middleware.ResultAccepted, true},
		{"not-a-token", middleware.ResultInvalidToken, false},
		{"not-a-token", middleware.ResultInvalidToken, true}, // an inactive answer, cached
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+c.raw)
		g.Authenticate(r)
		if out := obs.last(t); out.Cached != c.cached || out.Result() != c.result {
			t.Errorf("%.12s…: outcome %q cached %v, want %q cached %v", c.raw, out.Result(), out.Cached, c.result, c.cached)
		}
	}
}

// The observer costs the cached path no allocation: the outcome is passed
// by value and the deferred call is open-coded.
func TestObserveAllocs(t *testing.T) {
	f := newFixture(t, token.ES256, middleware.LocalConfig{})
	var n int
	var cached bool
	g, err := middleware.New(middleware.Config{Verifier: f.v, Scopes: []string{"read"}, Logger: discardLog(),
		Observe: func(_ context.Context, o middleware.Outcome) { n++; cached = o.Cached }})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/things", nil)
	r.Header.Set("Authorization", "Bearer "+f.mint(t, token.KindClient, "read"))
	if _, err := g.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { g.Authenticate(r) }); allocs != 0 {
		t.Errorf("a cached request with an observer allocates %v times, want 0", allocs)
	}
	if n != 102 || !cached {
		t.Errorf("observed %d requests (last cached %v), want 102, cached", n, cached)
	}
}
