package issuer_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// slowStore is a memory store whose calls, once slowed, each take delay
// (or until their context ends, as a database call cut short does) and
// record the deadline they were given: a store that is slow on every call
// rather than stalled, the case a per-call deadline alone lets add up.
type slowStore struct {
	store.Store
	delay time.Duration
	slow  atomic.Bool

	mu    sync.Mutex
	calls []slowCall
}

type slowCall struct {
	op       string
	deadline time.Time // zero when the call had none
	began    time.Time
	err      error
}

func (s *slowStore) wait(ctx context.Context, op string) error {
	if !s.slow.Load() {
		return nil
	}
	c := slowCall{op: op, began: time.Now()}
	c.deadline, _ = ctx.Deadline()
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		c.err = ctx.Err()
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	return c.err
}

// taken returns the calls recorded so far and forgets them.
func (s *slowStore) taken() []slowCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *slowStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if err := s.wait(ctx, "GetClient"); err != nil {
		return nil, err
	}
	return s.Store.GetClient(ctx, id)
}

func (s *slowStore) GetRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	if err := s.wait(ctx, "GetRefreshToken"); err != nil {
		return nil, err
	}
	return s.Store.GetRefreshToken(ctx, hash, now)
}

func (s *slowStore) Revoke(ctx context.Context, id string, exp time.Time) error {
	if err := s.wait(ctx, "Revoke"); err != nil {
		return err
	}
	return s.Store.Revoke(ctx, id, exp)
}

func (s *slowStore) RevokeRefreshFamily(ctx context.Context, family string) error {
	if err := s.wait(ctx, "RevokeRefreshFamily"); err != nil {
		return err
	}
	return s.Store.RevokeRefreshFamily(ctx, family)
}

func (s *slowStore) IsRevoked(ctx context.Context, id string, now time.Time) (bool, error) {
	if err := s.wait(ctx, "IsRevoked"); err != nil {
		return false, err
	}
	return s.Store.IsRevoked(ctx, id, now)
}

// A revocation makes four store calls (the client, the refresh token, the
// revocation of the family's access tokens, the family); each one slow,
// all well within StoreTimeout, together past RequestTimeout. The request
// is answered 503 temporarily_unavailable with Retry-After, logged with
// the operation and the request's timeout as the cause, and every call it
// made ended by the one deadline the handler set at its start. Retried
// once the store is quick again, the revocation completes: what the cut
// request wrote (perhaps the family's access tokens revoked) is what the
// retry writes again.
func TestRequestTimeout(t *testing.T) {
	const budget = 300 * time.Millisecond
	st := &slowStore{Store: memory.New(), delay: budget / 3}
	var logs syncBuffer
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Store = st
		c.Refresh.Enabled = true
		c.StoreTimeout = time.Hour // only the request's time can end a call
		c.RequestTimeout = budget
		c.ClientCacheTTL = -1 // the client is read from the store
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	id, secret := e.client(issuer.ClientSpec{})
	tr := e.getToken(id, secret)
	if tr.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	revoke := func() *httptest.ResponseRecorder {
		return e.do(req{path: "/oauth/revoke", body: form("token", tr.RefreshToken), header: map[string]string{"Authorization": basic(id, secret)}})
	}

	st.slow.Store(true)
	before := time.Now()
	rec := revoke()
	after := time.Now()
	wantResponse(t, rec, 503, with(noStoreJSON, "Retry-After", "5"), errBody("temporarily_unavailable", "the service is temporarily unavailable"))
	if l := logs.String(); !strings.Contains(l, "issuer: store failure") || !strings.Contains(l, "Config.RequestTimeout") || !strings.Contains(l, "op=") {
		t.Errorf("the request's timeout was not logged with the operation and the cause:\n%s", l)
	}
	calls := st.taken()
	// The last call the request made was cut short (or refused at once,
	// its time already spent): the revocation never completed.
	if len(calls) == 0 || len(calls) > 4 || calls[len(calls)-1].err == nil {
		t.Fatalf("calls %+v: want the revocation's four cut short by its deadline", calls)
	}
	for _, c := range calls {
		// One deadline for the whole request, set as the handler began.
		if c.deadline != calls[0].deadline || c.deadline.Before(before.Add(budget)) || c.deadline.After(after.Add(budget)) {
			t.Errorf("%s had deadline %v, want the request's, %v to %v", c.op, c.deadline, before.Add(budget), after.Add(budget))
		}
	}

	// Quick again, the retry completes the revocation.
	st.slow.Store(false)
	if rec := revoke(); rec.Code != 200 {
		t.Fatalf("revocation retried: %d %s", rec.Code, rec.Body)
	}
	if rec := e.refresh(id, secret, tr.RefreshToken); rec.code != 400 || rec.body != badRefresh {
		t.Errorf("refresh with the revoked token: %d %s", rec.code, rec.body)
	}
}

// Each call ends by the earlier of its own StoreTimeout and the request's
// time: with a long RequestTimeout, StoreTimeout still bounds every call.
func TestRequestTimeoutKeepsStoreTimeout(t *testing.T) {
	const per = 200 * time.Millisecond
	st := &slowStore{Store: memory.New()}
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Store = st
		c.StoreTimeout = per
		c.RequestTimeout = time.Hour
		c.ClientCacheTTL = -1
	})
	id, secret := e.client(issuer.ClientSpec{})
	st.slow.Store(true)
	if code := e.tokenCode(id, secret); code != 200 {
		t.Fatalf("token request: %d", code)
	}
	calls := st.taken()
	if len(calls) == 0 {
		t.Fatal("no store call recorded")
	}
	for _, c := range calls {
		if c.deadline.IsZero() || c.deadline.Sub(c.began) > per {
			t.Errorf("%s: deadline %v after it began, want at most StoreTimeout %v", c.op, c.deadline.Sub(c.began), per)
		}
	}
}

// A guard's verification may need several store calls too (the client,
// the token's revocation, its refresh family's): LocalConfig.VerifyTimeout
// bounds them together, and the issuer's Verifier takes RequestTimeout.
func TestVerifyTimeout(t *testing.T) {
	const budget = 300 * time.Millisecond
	st := &slowStore{Store: memory.New(), delay: budget / 2}
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Store = st
		c.Refresh.Enabled = true
		c.StoreTimeout = time.Hour
		c.RequestTimeout = budget
	})
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken // minted with a refresh family
	e.iss.Verifier().Forget(store.Event{Kind: store.EventResync})
	st.slow.Store(true)
	_, err := e.iss.Verifier().Verify(t.Context(), tok)
	if !errors.Is(err, middleware.ErrUnavailable) || !strings.Contains(err.Error(), "VerifyTimeout") {
		t.Errorf("Verify over a slow store: %v, want ErrUnavailable from VerifyTimeout", err)
	}
	calls := st.taken()
	if len(calls) == 0 || len(calls) > 3 || calls[len(calls)-1].err == nil {
		t.Fatalf("calls %+v: want the three (client, token, family) cut short", calls)
	}
	for _, c := range calls {
		if c.deadline != calls[0].deadline {
			t.Errorf("%s had its own deadline, want the verification's", c.op)
		}
	}
	st.slow.Store(false)
	if _, err := e.iss.Verifier().Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify once the store is quick: %v", err)
	}
}
