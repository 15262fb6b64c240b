package issuer_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

var badRefresh = errBody("invalid_grant", "the refresh token is invalid, expired or revoked")

func refreshEnv(t *testing.T, mod func(*issuer.Config)) *env {
	return newEnv(t, true, func(c *issuer.Config) {
		c.Refresh.Enabled = true
		c.Scopes = []string{"read", "write"}
		if mod != nil {
			mod(c)
		}
	})
}

// envMaker builds a test's issuer: refreshEnv or exchangeRefreshEnv.
type envMaker func(t *testing.T, mod func(*issuer.Config)) *env

// exchangeRefreshEnv is refreshEnv over a store that is also a
// store.RefreshExchanger.
func exchangeRefreshEnv(t *testing.T, mod func(*issuer.Config)) *env {
	f := newFaultStore()
	return newEnvOnStore(t, exchangingFaultStore{f}, f, func(c *issuer.Config) {
		c.Refresh.Enabled = true
		c.Scopes = []string{"read", "write"}
		if mod != nil {
			mod(c)
		}
	})
}

// bothRefreshPaths runs a refresh test over a store without
// store.RefreshExchanger, where the issuer reads, checks and then rotates
// the presented token, and over one with it, where the common case is one
// exchange and everything else falls back to the read: each must answer
// every request alike.
func bothRefreshPaths(t *testing.T, test func(*testing.T, envMaker)) {
	t.Run("ReadRotate", func(t *testing.T) { test(t, refreshEnv) })
	t.Run("Exchange", func(t *testing.T) { test(t, exchangeRefreshEnv) })
}

// refresh runs the refresh_token grant with Basic auth (id "" for none).
func (e *env) refresh(id, secret, rt string, extra ...string) *httpResult {
	h := map[string]string{}
	if id != "" {
		h["Authorization"] = basic(id, secret)
	}
	return result(e.do(req{body: form(append([]string{"grant_type", "refresh_token", "refresh_token", rt}, extra...)...), header: h}))
}

func (r *httpResult) token(t *testing.T) tokenResp {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("status %d, body %s", r.code, r.body)
	}
	var tr tokenResp
	if err := json.Unmarshal([]byte(r.body), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestRefreshRotationAndReuse(t *testing.T) { bothRefreshPaths(t, testRefreshRotationAndReuse) }

func testRefreshRotationAndReuse(t *testing.T, refreshEnv envMaker) {
	for _, f := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		t.Run(string(f), func(t *testing.T) {
			e := refreshEnv(t, func(c *issuer.Config) { c.Format = f })
			id, secret := e.client(issuer.ClientSpec{})
			first := e.getToken(id, secret)
			if !token.WellFormed(first.RefreshToken, token.PrefixRefreshToken) {
				t.Fatalf("refresh token %q is not a well-formed pcr_ token", first.RefreshToken)
			}
			stored, err := e.st.GetRefreshToken(t.Context(), e.iss.Hasher().Hex(first.RefreshToken), epoch)
			if err != nil || stored.ClientID != id || !stored.ExpiresAt.Equal(epoch.Add(365*24*time.Hour)) {
				t.Fatalf("stored refresh token %+v, %v", stored, err)
			}
			e.clock.Advance(time.Minute)
			second := e.refresh(id, secret, first.RefreshToken).token(t)
			if second.RefreshToken == first.RefreshToken || second.AccessToken == "" || second.Scope != "read write" ||
				second.ExpiresIn != 3600 || second.TokenType != "Bearer" {
				t.Errorf("refresh response %+v", second)
			}
			p, err := e.iss.Verifier().Verify(t.Context(), second.AccessToken)
			if err != nil || p.ClientID != id || !p.IssuedAt.Equal(epoch.Add(time.Minute)) {
				t.Errorf("refreshed access token: %+v, %v", p, err)
			}
			third := e.refresh(id, secret, second.RefreshToken).token(t)

			// Reusing the first token revokes the family: the newest dies too.
			r := e.refresh(id, secret, first.RefreshToken)
			wantResponse(t, r, 400, noStoreJSON, badRefresh)
			r = e.refresh(id, secret, third.RefreshToken)
			wantResponse(t, r, 400, noStoreJSON, badRefresh)
			// Other families are untouched.
			other := e.getToken(id, secret)
			e.refresh(id, secret, other.RefreshToken).token(t)
		})
	}
}

func TestRefreshClientAuthentication(t *testing.T) {
	bothRefreshPaths(t, testRefreshClientAuthentication)
}

func testRefreshClientAuthentication(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, nil)
	id, secret := e.client(issuer.ClientSpec{})
	other, otherSecret := e.client(issuer.ClientSpec{})
	rt := e.getToken(id, secret).RefreshToken

	// RFC 6749 §6: a confidential client must authenticate.
	r := e.refresh("", "", rt)
	if r.code != 401 || r.body != errBody("invalid_client", "client authentication failed") {
		t.Errorf("refresh without client authentication: %d %s", r.code, r.body)
	}
	r = result(e.do(req{body: form("grant_type", "refresh_token", "refresh_token", rt, "client_id", id)}))
	if r.code != 401 {
		t.Errorf("refresh with a bare client_id: %d %s", r.code, r.body)
	}
	if r := e.refresh(id, "wrong", rt); r.code != 401 {
		t.Errorf("refresh with a wrong secret: %d %s", r.code, r.body)
	}
	// Another client cannot use it, and its attempt does not burn it.
	wantResponse(t, e.refresh(other, otherSecret, rt), 400, noStoreJSON, badRefresh)
	e.refresh(id, secret, rt).token(t)

	// Missing or malformed refresh tokens.
	wantResponse(t, e.do(req{body: form("grant_type", "refresh_token"), header: map[string]string{"Authorization": basic(id, secret)}}),
		400, noStoreJSON, errBody("invalid_request", "missing refresh_token"))
	wantResponse(t, e.refresh(id, secret, "pcr_nope"), 400, noStoreJSON, badRefresh)
	wantResponse(t, e.refresh(id, secret, token.NewSecret(token.PrefixRefreshToken)), 400, noStoreJSON, badRefresh)
	// A refresh token in the URL is refused like any parameter there.
	r = result(e.do(req{path: "/oauth/token?refresh_token=" + rt, body: form("grant_type", "refresh_token"),
		header: map[string]string{"Authorization": basic(id, secret)}}))
	if r.code != 400 || !strings.Contains(r.body, "not in the URL") {
		t.Errorf("refresh token in the query: %d %s", r.code, r.body)
	}
}

// TestRefreshPublic: the DataCrunch style, where a refresh token alone
// (JSON body, no client secret) refreshes.
func TestRefreshPublic(t *testing.T) { bothRefreshPaths(t, testRefreshPublic) }

func testRefreshPublic(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, func(c *issuer.Config) { c.Refresh.AllowPublic = true })
	id, secret := e.client(issuer.ClientSpec{})
	other, _ := e.client(issuer.ClientSpec{})
	rt := e.getToken(id, secret).RefreshToken
	post := func(body string) *httpResult { return result(e.do(req{ct: "application/json", body: body})) }
	wantResponse(t, post(`{"grant_type":"refresh_token","refresh_token":"`+rt+`","client_id":"`+other+`"}`), 400, noStoreJSON, badRefresh)
	tr := post(`{"grant_type":"refresh_token","refresh_token":"` + rt + `"}`).token(t)
	tr = post(`{"grant_type":"refresh_token","refresh_token":"` + tr.RefreshToken + `","client_id":"` + id + `"}`).token(t)
	// Credentials, when sent, are still checked.
	if r := e.refresh(id, "wrong", tr.RefreshToken); r.code != 401 {
		t.Errorf("public refresh with a wrong secret: %d %s", r.code, r.body)
	}
	e.refresh(id, secret, tr.RefreshToken).token(t)
	// Metadata says so.
	m := result(e.do(req{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"})).body
	if !strings.Contains(m, `"grant_types_supported":["client_credentials","refresh_token"]`) ||
		!strings.Contains(m, `"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"]`) {
		t.Errorf("metadata %s", m)
	}
}

func TestRefreshConcurrentExactlyOneWins(t *testing.T) {
	bothRefreshPaths(t, testRefreshConcurrentExactlyOneWins)
}

func testRefreshConcurrentExactlyOneWins(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, nil)
	id, secret := e.client(issuer.ClientSpec{})
	rt := e.getToken(id, secret).RefreshToken
	const n = 8
	var wg sync.WaitGroup
	results := make([]*httpResult, n)
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k] = e.refresh(id, secret, rt)
		}()
	}
	wg.Wait()
	wins := 0
	for _, r := range results {
		switch {
		case r.code == 200:
			wins++
		case r.code != 400 || r.body != badRefresh:
			t.Errorf("loser answered %d %s, want invalid_grant", r.code, r.body)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent refreshes succeeded, want exactly 1", wins)
	}
}

func TestRefreshAfterRotationOrDisable(t *testing.T) {
	bothRefreshPaths(t, testRefreshAfterRotationOrDisable)
}

func testRefreshAfterRotationOrDisable(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, func(c *issuer.Config) { c.Refresh.AllowPublic = true })
	ctx := t.Context()
	id, secret := e.client(issuer.ClientSpec{})
	rt := e.getToken(id, secret).RefreshToken
	newSecret, err := e.iss.RotateClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantResponse(t, e.refresh(id, newSecret, rt), 400, noStoreJSON, badRefresh)
	wantResponse(t, e.refresh("", "", rt), 400, noStoreJSON, badRefresh)

	rt = e.getToken(id, newSecret).RefreshToken
	if err := e.iss.DisableClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantResponse(t, e.refresh("", "", rt), 400, noStoreJSON, badRefresh)
	if err := e.iss.EnableClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantResponse(t, e.refresh(id, newSecret, rt), 400, noStoreJSON, badRefresh) // disable bumped the generation
	rt = e.getToken(id, newSecret).RefreshToken
	if err := e.iss.DeleteClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantResponse(t, e.refresh("", "", rt), 400, noStoreJSON, badRefresh)
}

func TestRefreshScopesAndExpiry(t *testing.T) { bothRefreshPaths(t, testRefreshScopesAndExpiry) }

func testRefreshScopesAndExpiry(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, func(c *issuer.Config) { c.Refresh.TTL = 48 * time.Hour })
	id, secret := e.client(issuer.ClientSpec{})
	rt := e.getToken(id, secret).RefreshToken
	tr := e.refresh(id, secret, rt, "scope", "read").token(t)
	if tr.Scope != "read" {
		t.Errorf("narrowed scope %q", tr.Scope)
	}
	// The grant keeps its full scope for the next refresh.
	tr = e.refresh(id, secret, tr.RefreshToken).token(t)
	if tr.Scope != "read write" {
		t.Errorf("scope after a narrowed refresh %q, want the original grant", tr.Scope)
	}
	r := e.refresh(id, secret, tr.RefreshToken, "scope", "read admin")
	wantResponse(t, r, 400, noStoreJSON, errBody("invalid_scope", "the requested scope exceeds the scope originally granted"))
	// Each refresh token lives TTL from its issue.
	e.clock.Advance(48*time.Hour + time.Second)
	wantResponse(t, e.refresh(id, secret, tr.RefreshToken), 400, noStoreJSON, badRefresh)

	// A client limited to client_credentials gets no refresh token.
	cc, ccSecret := e.client(issuer.ClientSpec{GrantTypes: []string{"client_credentials"}})
	if got := e.getToken(cc, ccSecret); got.RefreshToken != "" {
		t.Errorf("client without the refresh grant got a refresh token")
	}
}

// TestRefreshStoreFailures: a failure before the commit point leaves the
// presented token usable; nothing is half-written.
func TestRefreshStoreFailures(t *testing.T) { bothRefreshPaths(t, testRefreshStoreFailures) }

func testRefreshStoreFailures(t *testing.T, refreshEnv envMaker) {
	for _, op := range []string{"GetRefreshToken", "CreateAccessToken", "RotateRefreshToken"} {
		t.Run(op, func(t *testing.T) {
			e := refreshEnv(t, func(c *issuer.Config) { c.Format = issuer.FormatOpaque })
			id, secret := e.client(issuer.ClientSpec{})
			rt := e.getToken(id, secret).RefreshToken
			e.fault.set(op, errInjected)
			wantResponse(t, e.refresh(id, secret, rt), 503, noStoreJSON,
				errBody("temporarily_unavailable", "the service is temporarily unavailable"))
			e.fault.set(op, nil)
			e.refresh(id, secret, rt).token(t)
		})
	}
	t.Run("client_credentials", func(t *testing.T) {
		e := refreshEnv(t, nil)
		id, secret := e.client(issuer.ClientSpec{})
		e.fault.set("CreateRefreshToken", errInjected)
		wantResponse(t, e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}),
			503, noStoreJSON, errBody("temporarily_unavailable", "the service is temporarily unavailable"))
	})
	t.Run("revoking a reused family", func(t *testing.T) {
		e := refreshEnv(t, nil)
		id, secret := e.client(issuer.ClientSpec{})
		first := e.getToken(id, secret).RefreshToken
		second := e.refresh(id, secret, first).token(t).RefreshToken
		e.fault.set("RevokeRefreshFamily", errInjected)
		if r := e.refresh(id, secret, first); r.code != 503 {
			t.Errorf("reuse with the revocation failing: %d %s, want 503", r.code, r.body)
		}
		e.fault.set("RevokeRefreshFamily", nil)
		wantResponse(t, e.refresh(id, secret, first), 400, noStoreJSON, badRefresh)
		wantResponse(t, e.refresh(id, secret, second), 400, noStoreJSON, badRefresh)
	})
}

func TestRefreshRevocationAndIntrospection(t *testing.T) {
	bothRefreshPaths(t, testRefreshRevocationAndIntrospection)
}

func testRefreshRevocationAndIntrospection(t *testing.T, refreshEnv envMaker) {
	e := refreshEnv(t, nil)
	id, secret := e.client(issuer.ClientSpec{})
	other, otherSecret := e.client(issuer.ClientSpec{})
	rt := e.getToken(id, secret, "scope", "read").RefreshToken
	r := result(e.do(req{path: "/oauth/introspect", body: form("token", rt), header: map[string]string{"Authorization": basic(id, secret)}}))
	var got map[string]any
	json.Unmarshal([]byte(r.body), &got)
	want := map[string]any{
		"active": true, "scope": "read", "client_id": id, "sub": id,
		"exp": float64(epoch.Add(365 * 24 * time.Hour).Unix()), "iat": float64(epoch.Unix()),
		"aud": []any{testIssuer}, "iss": testIssuer, "token_type": "refresh_token", "kind": "client",
	}
	if !jsonEqual(got, want) {
		t.Errorf("refresh token introspection\n got %v\nwant %v", got, want)
	}
	// Another client neither sees nor revokes it.
	r = result(e.do(req{path: "/oauth/introspect", body: form("token", rt), header: map[string]string{"Authorization": basic(other, otherSecret)}}))
	if r.body != `{"active":false}` {
		t.Errorf("another client's introspection: %s", r.body)
	}
	e.do(req{path: "/oauth/revoke", body: form("token", rt), header: map[string]string{"Authorization": basic(other, otherSecret)}})
	next := e.refresh(id, secret, rt).token(t).RefreshToken
	// A used token is inactive; revoking the live one kills the family.
	r = result(e.do(req{path: "/oauth/introspect", body: form("token", rt), header: map[string]string{"Authorization": basic(id, secret)}}))
	if r.body != `{"active":false}` {
		t.Errorf("used refresh token introspected as %s", r.body)
	}
	if r := result(e.do(req{path: "/oauth/revoke", body: form("token", next, "token_type_hint", "refresh_token"),
		header: map[string]string{"Authorization": basic(id, secret)}})); r.code != 200 || r.body != "" {
		t.Errorf("revocation: %d %s", r.code, r.body)
	}
	wantResponse(t, e.refresh(id, secret, next), 400, noStoreJSON, badRefresh)
	if _, err := e.st.GetRefreshToken(t.Context(), e.iss.Hasher().Hex(next), epoch); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked family still live in the store: %v", err)
	}
}

// TestRefreshExchange: over a store.RefreshExchanger, a client's refresh
// of its own token is one exchange, with no read or rotation of its own;
// what the exchange does not match (a narrower scope, reuse, a scope the
// client has lost, an opaque kind) goes the long way and answers as it
// always has; and a failed exchange is a 503 that leaves the token usable.
func TestRefreshExchange(t *testing.T) {
	calls := func(e *env) [3]int {
		return [3]int{e.fault.count("ExchangeRefreshToken"), e.fault.count("GetRefreshToken"), e.fault.count("RotateRefreshToken")}
	}
	step := func(t *testing.T, e *env, what string, want [3]int, f func()) {
		t.Helper()
		before := calls(e)
		f()
		after := calls(e)
		if got := [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]}; got != want {
			t.Errorf("%s: exchanges, reads, rotations = %v, want %v", what, got, want)
		}
	}

	e := exchangeRefreshEnv(t, func(c *issuer.Config) { c.ClientCacheTTL = -1 })
	id, secret := e.client(issuer.ClientSpec{})
	first := e.getToken(id, secret).RefreshToken
	var second, third string
	step(t, e, "a refresh", [3]int{1, 0, 0}, func() {
		tr := e.refresh(id, secret, first).token(t)
		if tr.Scope != "read write" || tr.AccessToken == "" {
			t.Errorf("exchanged: %+v", tr)
		}
		second = tr.RefreshToken
	})
	step(t, e, "a narrower scope", [3]int{0, 1, 1}, func() {
		third = e.refresh(id, secret, second, "scope", "read").token(t).RefreshToken
	})
	step(t, e, "reuse", [3]int{1, 1, 0}, func() {
		wantResponse(t, e.refresh(id, secret, first), 400, noStoreJSON, badRefresh)
	})
	wantResponse(t, e.refresh(id, secret, third), 400, noStoreJSON, badRefresh) // the family died with the reuse

	t.Run("lost scope", func(t *testing.T) {
		rt := e.getToken(id, secret).RefreshToken
		c, err := e.st.GetClient(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		c.Scopes = []string{"write"}
		if err := e.st.UpdateClient(t.Context(), c, c.Generation); err != nil {
			t.Fatal(err)
		}
		step(t, e, "a refresh after the client lost a scope", [3]int{1, 1, 1}, func() {
			rt = e.refresh(id, secret, rt).token(t).RefreshToken
		})
		step(t, e, "the next one", [3]int{1, 0, 0}, func() {
			if tr := e.refresh(id, secret, rt).token(t); tr.Scope != "write" {
				t.Errorf("scope %q, want write", tr.Scope)
			}
		})
	})

	t.Run("store failure", func(t *testing.T) {
		rt := e.getToken(id, secret).RefreshToken
		e.fault.set("ExchangeRefreshToken", errInjected)
		wantResponse(t, e.refresh(id, secret, rt), 503, noStoreJSON,
			errBody("temporarily_unavailable", "the service is temporarily unavailable"))
		e.fault.set("ExchangeRefreshToken", nil)
		e.refresh(id, secret, rt).token(t)
	})

	t.Run("opaque", func(t *testing.T) {
		e := exchangeRefreshEnv(t, func(c *issuer.Config) { c.Format = issuer.FormatOpaque })
		id, secret := e.client(issuer.ClientSpec{})
		rt := e.getToken(id, secret).RefreshToken
		step(t, e, "an opaque kind's refresh", [3]int{0, 1, 1}, func() { e.refresh(id, secret, rt).token(t) })
	})
}
