package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// stateTTL is the documented default of issuer.Config.StateTTL: how long
// another replica's guard may keep accepting a token after a rotation or
// revocation, when the store cannot push events.
const stateTTL = 5 * time.Second

// pushBound is how long the tests wait for a pushed event to reach another
// replica. It only bounds a failing test; nothing asserts how fast it was.
const pushBound = 5 * time.Second

// TestReplicas runs two issuers, each with its own guard and its own handle
// on one store, as two replicas behind a load balancer: a token of either
// verifies at the other, and a revocation or rotation at one is refused at
// the other within the documented delay.
func TestReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		open := b.fresh(t)
		// The replicas' clock stands still unless the test moves it, so
		// that StateTTL is crossed without sleeping, and never by sleeping
		// either. It starts at the real time.
		clk := tokentest.NewClockAt(time.Now())
		r1 := newServer(t, open(), clk)
		r2 := newServer(t, open(), clk)
		for _, r := range []*server{r1, r2} {
			ok, err := r.iss.Watch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if ok != b.pushes {
				t.Fatalf("Watch = %v, want %v for %s", ok, b.pushes, b.name)
			}
		}

		id, secret := r1.client(t, issuer.ClientSpec{})
		tok1, tok2 := r1.token(t, id, secret), r2.token(t, id, secret)
		for _, r := range []*server{r1, r2} {
			r.mustAccept(t, tok1, id)
			r.mustAccept(t, tok2, id)
		}

		// Revocation at replica 1 (RFC 7009): at once there, and at
		// replica 2 within the delay, although it has the token cached.
		r1.revoke(t, id, secret, tok1)
		r1.mustRefuse(t, tok1, "revoked token at the replica that revoked it")
		refusedWithinDelay(t, b, r2, clk, tok1, "revoked at the other replica")
		r2.mustAccept(t, tok2, id)

		// Rotation at replica 2: the other token dies everywhere, the old
		// secret is refused at replica 1 and the new one works there.
		newSecret, err := r2.iss.RotateClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		r2.mustRefuse(t, tok2, "token of a rotated client at the replica that rotated it")
		refusedWithinDelay(t, b, r1, clk, tok2, "client rotated at the other replica")
		if _, err := r1.cc(id, secret, oauth2.AuthStyleInHeader).Token(context.Background()); !invalidClient(err) {
			t.Errorf("old secret at the other replica: %v, want invalid_client", err)
		}
		fresh := r1.token(t, id, newSecret)
		r1.mustAccept(t, fresh, id)
		r2.mustAccept(t, fresh, id)
	})
}

// refusedWithinDelay checks that r's guard comes to refuse tok: when the
// store pushes events, within pushBound of real time with the clock
// standing still; otherwise as soon as the clock has moved StateTTL on.
func refusedWithinDelay(t *testing.T, b backend, r *server, clk *tokentest.Clock, tok, why string) {
	t.Helper()
	if !b.pushes {
		clk.Advance(stateTTL)
		r.mustRefuse(t, tok, why+", after StateTTL")
		return
	}
	deadline := time.Now().Add(pushBound)
	for !r.whoami(t, tok).refused() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still accepted %v after the change although the store pushes events", why, pushBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentFirstStart starts eight issuers at once on one empty store,
// each with its own handle: they must create exactly one signing key and
// all sign with it.
func TestConcurrentFirstStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const n = 8
		open := b.fresh(t)
		stores := make([]store.Store, n)
		for i := range stores {
			stores[i] = open()
		}
		issuers := make([]*issuer.Issuer, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				issuers[i], errs[i] = issuer.New(issuer.Config{Issuer: issuerID, Store: stores[i]})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("issuer %d: %v", i, err)
			}
		}
		keys, err := stores[0].ListKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 {
			t.Fatalf("%d signing keys after %d concurrent first starts, want 1", len(keys), n)
		}
		c, secret, err := issuers[0].CreateClient(context.Background(), issuer.ClientSpec{})
		if err != nil {
			t.Fatal(err)
		}
		for i, iss := range issuers {
			if kid := signedBy(t, iss, c.ID, secret); kid != keys[0].ID {
				t.Errorf("issuer %d signs with %s, want the stored key %s", i, kid, keys[0].ID)
			}
		}
	})
}

// signedBy gets a token from iss's token endpoint and returns the kid of
// the key that signed it.
func signedBy(t *testing.T, iss *issuer.Issuer, id, secret string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, iss.Paths().Token, strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	iss.Handler().ServeHTTP(w, r)
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", w.Code, w.Body)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(body.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}
