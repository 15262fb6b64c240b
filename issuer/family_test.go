package issuer_test

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
)

// guardOf is a resource server's verifier over the issuer's store, as a
// guard builds it: keys read from the store, opaque tokens looked up.
func guardOf(t *testing.T, e *env) *middleware.LocalVerifier {
	t.Helper()
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{
		Issuer: testIssuer, Store: e.st, Opaque: true, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// introspect returns the introspection body of tok, asked by its client.
func (e *env) introspect(id, secret, tok string) string {
	e.t.Helper()
	return result(e.do(req{path: "/oauth/introspect", body: form("token", tok),
		header: map[string]string{"Authorization": basic(id, secret)}})).body
}

// wantAccess checks whether the guard and introspection accept tok.
func wantAccess(t *testing.T, e *env, guard *middleware.LocalVerifier, id, secret, tok string, live bool, what string) {
	t.Helper()
	_, err := guard.Verify(t.Context(), tok)
	switch {
	case live && err != nil:
		t.Errorf("%s: guard refused it: %v", what, err)
	case !live && !errors.Is(err, middleware.ErrInvalidToken):
		t.Errorf("%s: guard answered %v, want ErrInvalidToken", what, err)
	}
	body := e.introspect(id, secret, tok)
	if (body != `{"active":false}`) != live {
		t.Errorf("%s: introspection %s, want active %v", what, body, live)
	}
}

// TestRefreshFamilyRevokesAccessTokens: reuse of a refresh token, and its
// revocation at the revocation endpoint, revoke every access token minted
// with its family (RFC 9700 §4.14.2), JWT and opaque, at the guard (within
// its StateTTL) and at introspection (at once); other families live on.
func TestRefreshFamilyRevokesAccessTokens(t *testing.T) {
	bothRefreshPaths(t, testRefreshFamilyRevokesAccessTokens)
}

func testRefreshFamilyRevokesAccessTokens(t *testing.T, refreshEnv envMaker) {
	for _, f := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		for _, how := range []string{"reuse", "revocation"} {
			t.Run(string(f)+"/"+how, func(t *testing.T) {
				e := refreshEnv(t, func(c *issuer.Config) { c.Format = f })
				guard := guardOf(t, e)
				id, secret := e.client(issuer.ClientSpec{})
				first := e.getToken(id, secret)
				second := e.refresh(id, secret, first.RefreshToken).token(t)
				other := e.getToken(id, secret) // another family of the same client
				for _, tok := range []string{first.AccessToken, second.AccessToken, other.AccessToken} {
					wantAccess(t, e, guard, id, secret, tok, true, "before")
				}

				switch how {
				case "reuse":
					wantResponse(t, e.refresh(id, secret, first.RefreshToken), 400, noStoreJSON, badRefresh)
				case "revocation":
					if r := result(e.do(req{path: "/oauth/revoke", body: form("token", second.RefreshToken),
						header: map[string]string{"Authorization": basic(id, secret)}})); r.code != 200 {
						t.Fatalf("revocation: %d %s", r.code, r.body)
					}
				}
				// Introspection asks the issuer's own verifier, which
				// learns of it at once; the guard has the first two cached
				// and learns of it within its StateTTL (5s by default).
				for _, tok := range []string{first.AccessToken, second.AccessToken} {
					if body := e.introspect(id, secret, tok); body != `{"active":false}` {
						t.Errorf("introspection right after the family's revocation: %s", body)
					}
				}
				e.clock.Advance(5*time.Second + time.Millisecond)
				wantAccess(t, e, guard, id, secret, first.AccessToken, false, "the family's first access token")
				wantAccess(t, e, guard, id, secret, second.AccessToken, false, "the family's second access token")
				wantAccess(t, e, guard, id, secret, other.AccessToken, true, "another family's access token")
				// A new verifier, with nothing cached, refuses them too.
				fresh := guardOf(t, e)
				if _, err := fresh.Verify(t.Context(), second.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
					t.Errorf("a fresh guard answered %v, want ErrInvalidToken", err)
				}
			})
		}
	}
}

// TestRefreshFamilyWatch: a guard that watches the store drops the
// family's tokens from its cache at once.
func TestRefreshFamilyWatch(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Refresh.Enabled = true })
	guard := guardOf(t, e)
	if ok, err := guard.Watch(t.Context()); !ok || err != nil {
		t.Fatalf("Watch: %v, %v", ok, err)
	}
	id, secret := e.client(issuer.ClientSpec{})
	first := e.getToken(id, secret)
	wantAccess(t, e, guard, id, secret, first.AccessToken, true, "before")
	e.refresh(id, secret, first.RefreshToken).token(t)
	e.refresh(id, secret, first.RefreshToken)    // reuse
	deadline := time.Now().Add(30 * time.Second) // a bound on a goroutine hand-off, not a timing claim
	for {
		_, err := guard.Verify(t.Context(), first.AccessToken)
		if errors.Is(err, middleware.ErrInvalidToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watching guard still accepts the family's token: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRefreshGracePeriod: within the grace period, the just-rotated
// refresh token presented again gets a fresh pair, once; the successor
// from the lost response dies; the family never forks.
func TestRefreshGracePeriod(t *testing.T) { bothRefreshPaths(t, testRefreshGracePeriod) }

func testRefreshGracePeriod(t *testing.T, refreshEnv envMaker) {
	grace := func(c *issuer.Config) { c.Refresh.GracePeriod = time.Minute }

	t.Run("once", func(t *testing.T) {
		e := refreshEnv(t, grace)
		id, secret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		lost := e.refresh(id, secret, rt0).token(t) // the response the client never saw
		e.clock.Advance(30 * time.Second)
		again := e.refresh(id, secret, rt0).token(t)
		if again.RefreshToken == lost.RefreshToken || again.AccessToken == lost.AccessToken {
			t.Fatal("the grace use returned the lost pair again")
		}
		// The lost successor is dead, and presenting it is reuse.
		wantResponse(t, e.refresh(id, secret, lost.RefreshToken), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, again.RefreshToken), 400, noStoreJSON, badRefresh)
	})
	t.Run("only once", func(t *testing.T) {
		e := refreshEnv(t, grace)
		id, secret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		e.refresh(id, secret, rt0).token(t)
		again := e.refresh(id, secret, rt0).token(t)
		// A third use is reuse: the family goes, the grace pair with it.
		wantResponse(t, e.refresh(id, secret, rt0), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, again.RefreshToken), 400, noStoreJSON, badRefresh)
	})
	t.Run("not after the successor was used", func(t *testing.T) {
		e := refreshEnv(t, grace)
		id, secret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		rt1 := e.refresh(id, secret, rt0).token(t).RefreshToken
		e.clock.Advance(time.Second)
		rt2 := e.refresh(id, secret, rt1).token(t).RefreshToken
		wantResponse(t, e.refresh(id, secret, rt0), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, rt2), 400, noStoreJSON, badRefresh)
	})
	t.Run("not to take turns", func(t *testing.T) {
		// A thief presents the just-used token within the grace period
		// and gets the fresh pair; the client's token from the first use
		// then reads as reuse, and the family goes, the thief's pair too.
		e := refreshEnv(t, grace)
		id, secret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		clients := e.refresh(id, secret, rt0).token(t).RefreshToken
		e.clock.Advance(time.Second)
		thiefs := e.refresh(id, secret, rt0).token(t)
		e.clock.Advance(time.Second)
		wantResponse(t, e.refresh(id, secret, clients), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, thiefs.RefreshToken), 400, noStoreJSON, badRefresh)
	})
	t.Run("not after the grace period", func(t *testing.T) {
		e := refreshEnv(t, grace)
		id, secret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		rt1 := e.refresh(id, secret, rt0).token(t).RefreshToken
		e.clock.Advance(time.Minute)
		wantResponse(t, e.refresh(id, secret, rt0), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, rt1), 400, noStoreJSON, badRefresh)
	})
	t.Run("not for another client", func(t *testing.T) {
		e := refreshEnv(t, grace)
		id, secret := e.client(issuer.ClientSpec{})
		thief, thiefSecret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		rt1 := e.refresh(id, secret, rt0).token(t).RefreshToken
		wantResponse(t, e.refresh(thief, thiefSecret, rt0), 400, noStoreJSON, badRefresh)
		// Refused without touching the family.
		e.refresh(id, secret, rt1).token(t)
	})
	t.Run("off by default", func(t *testing.T) {
		e := refreshEnv(t, nil)
		id, secret := e.client(issuer.ClientSpec{})
		rt0 := e.getToken(id, secret).RefreshToken
		e.clock.Advance(time.Hour)
		rt1 := e.refresh(id, secret, rt0).token(t).RefreshToken
		wantResponse(t, e.refresh(id, secret, rt0), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, rt1), 400, noStoreJSON, badRefresh)
	})
}

// TestRefreshMaxFamilyLifetime: no refresh token of a family outlives the
// family's first issue plus MaxFamilyLifetime, and a refresh past it is
// refused.
func TestRefreshMaxFamilyLifetime(t *testing.T) { bothRefreshPaths(t, testRefreshMaxFamilyLifetime) }

func testRefreshMaxFamilyLifetime(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, func(c *issuer.Config) {
		c.Refresh.TTL = 24 * time.Hour
		c.Refresh.MaxFamilyLifetime = 36 * time.Hour
	})
	id, secret := e.client(issuer.ClientSpec{})
	expiry := func(raw string) time.Time {
		t.Helper()
		rt, err := e.st.GetRefreshToken(t.Context(), e.iss.Hasher().Hex(raw), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !rt.FamilyIssuedAt.Equal(epoch) {
			t.Errorf("FamilyIssuedAt %v, want the first issue %v", rt.FamilyIssuedAt, epoch)
		}
		return rt.ExpiresAt
	}
	rt := e.getToken(id, secret).RefreshToken
	if got := expiry(rt); !got.Equal(epoch.Add(24 * time.Hour)) {
		t.Errorf("first token expires %v, want TTL after issue", got)
	}
	e.clock.Advance(20 * time.Hour)
	rt = e.refresh(id, secret, rt).token(t).RefreshToken
	if got, want := expiry(rt), epoch.Add(36*time.Hour); !got.Equal(want) {
		t.Errorf("token refreshed at 20h expires %v, want the family's end %v", got, want)
	}
	e.clock.Advance(16 * time.Hour)
	wantResponse(t, e.refresh(id, secret, rt), 400, noStoreJSON, badRefresh)
	// The client starts a new family with its credentials.
	e.getToken(id, secret)

	if _, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: e.st, Refresh: issuer.RefreshConfig{MaxFamilyLifetime: -1}}); err == nil {
		t.Error("a negative MaxFamilyLifetime was accepted")
	}
}
