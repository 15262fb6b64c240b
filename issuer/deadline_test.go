package issuer_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// stallStore is a memory store whose GetClient, once stalled, blocks until
// its context is done, as a database that stopped answering does; it only
// injects the stall and stands in for no database.
type stallStore struct {
	store.Store
	stalled atomic.Bool
	calls   atomic.Int64 // stalled calls that ended
}

func (s *stallStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if s.stalled.Load() {
		<-ctx.Done()
		s.calls.Add(1)
		return nil, ctx.Err()
	}
	return s.Store.GetClient(ctx, id)
}

// A store call that outlasts StoreTimeout is a 503 temporarily_unavailable
// with Retry-After, logged with the operation, on the token endpoint and on
// an endpoint that verifies a bearer token; the issuer's guard answers 503
// as well. The request's own context has no deadline: StoreTimeout alone
// ends the stall.
func TestStoreTimeout(t *testing.T) {
	st := &stallStore{Store: memory.New()}
	var logs syncBuffer
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Store = st
		c.StoreTimeout = 20 * time.Millisecond
		c.ClientCacheTTL = -1 // every token request reads the stalled store
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		selfRotation(c)
	})
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	st.stalled.Store(true)

	unavailable := with(noStoreJSON, "Retry-After", "5")
	wantResponse(t, e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}),
		503, unavailable, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
	if l := logs.String(); !strings.Contains(l, `op="get client"`) || !strings.Contains(l, "deadline exceeded") {
		t.Errorf("the stall was not logged with its operation:\n%s", l)
	}
	// A JWT's generation check reads the client: the verifier's store
	// calls are bounded too.
	wantResponse(t, e.do(req{path: issuer.DefaultCredentialsPath, ct: "-", header: map[string]string{"Authorization": "Bearer " + tok}}),
		503, map[string]string{"Retry-After": "5"}, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
	if !strings.Contains(logs.String(), `op=verify`) {
		t.Errorf("the verifier's stall was not logged:\n%s", logs.String())
	}
	guard, err := middleware.New(middleware.Config{Verifier: e.iss.Verifier(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "/api", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	e.iss.Verifier().Forget(store.Event{Kind: store.EventResync})
	guard.Wrap(http.NotFoundHandler()).ServeHTTP(rec, r)
	if rec.Code != 503 {
		t.Errorf("guard over a stalled store: %d, want 503", rec.Code)
	}
	if st.calls.Load() < 3 {
		t.Errorf("%d stalled calls ended, want every one of the 3 requests' to", st.calls.Load())
	}
	// Once the store answers again, so does the issuer.
	st.stalled.Store(false)
	if e.tokenCode(id, secret) != 200 {
		t.Error("the issuer did not recover when the store did")
	}
}

// A LocalVerifier built on its own bounds its store calls too.
func TestLocalVerifierStoreTimeout(t *testing.T) {
	st := &stallStore{Store: memory.New()}
	e := newEnv(t, false, func(c *issuer.Config) { c.Store = st })
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Store: st, StoreTimeout: 20 * time.Millisecond, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	st.stalled.Store(true)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, middleware.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify over a stalled store: %v, want ErrUnavailable from a deadline", err)
	}
	st.stalled.Store(false)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify once the store answers: %v", err)
	}
}
