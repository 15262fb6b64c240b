// Package adaptertest is the behaviour table every framework adapter must
// pass, so that a request gets the same answer (status, WWW-Authenticate,
// body, every header) through net/http, gin, chi or an adapter of your own.
//
// An adapter's test is a few lines that put the protected handler behind
// the guard the adapter's way:
//
//	func TestTable(t *testing.T) {
//		adaptertest.Run(t, func(g *middleware.Guard, h http.Handler) http.Handler {
//			e := gin.New()
//			e.GET(adaptertest.Path, ginauth.Middleware(g), gin.WrapH(h))
//			return e
//		})
//	}
//
// # What is checked
//
// [Run] sends each request of the table (no token, another scheme,
// malformed headers, lowercase "bearer", expired, forged, wrong kind, wrong
// audience, insufficient scope, valid, and a store that is down) both to
// the adapter and to [middleware.Guard.Wrap], the reference, and checks
// that the adapter's answer is the expected one and identical to the
// reference's, and that the protected handler ran only for accepted tokens
// and found the principal in the request context.
//
// Tokens are minted by a [token.KeyManager] over [memory.New] with a fixed
// clock, so the table needs no network and no sleeping.
package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// Path is the route the table requests; the wiring must serve it (GET).
const Path = "/v1/whoami"

// Issuer is the iss and default audience of the fixture's tokens.
const Issuer = "https://issuer.adaptertest"

// Realm is the realm of the fixture's guards.
const Realm = "api"

// Scope is the scope the fixture's guard requires.
const Scope = "read"

// Now is the fixture's fixed clock.
var Now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Client is the id of the client the fixture's client tokens name; Account
// that of the account its account tokens name.
const (
	Client  = "adaptertest-client"
	Account = "adaptertest-account"
)

// Wire puts h behind g the adapter's way and returns the handler that
// serves GET Path.
type Wire func(g *middleware.Guard, h http.Handler) http.Handler

// Fixture is one issuer's worth of keys and state and guards over them.
type Fixture struct {
	// Keys signs the fixture's tokens.
	Keys *token.KeySet
	// Verifier accepts them (fixed clock, memory store).
	Verifier *middleware.LocalVerifier
	// Down verifies with the same keys over a store that never answers,
	// so that every token is ErrUnavailable.
	Down *middleware.LocalVerifier
	// Calls counts the requests that reached Handler.
	Calls atomic.Int64
	jti   atomic.Int64
}

// NewFixture returns a fixture with one ES256 key, one client and one
// account, each at generation 1.
func NewFixture(tb testing.TB) *Fixture {
	tb.Helper()
	ctx := context.Background()
	st := memory.New()
	now := func() time.Time { return Now }
	km, err := token.NewKeyManager(ctx, token.KeyManagerConfig{Keys: st, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := km.KeySet(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateClient(ctx, &store.Client{ID: Client, Generation: 1, CreatedAt: Now, UpdatedAt: Now}); err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateAccount(ctx, &store.Account{ID: Account, Username: Account, Generation: 1, CreatedAt: Now, UpdatedAt: Now}); err != nil {
		tb.Fatal(err)
	}
	f := &Fixture{Keys: ks}
	if f.Verifier, err = middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: Issuer, Keys: km, Store: st, Now: now}); err != nil {
		tb.Fatal(err)
	}
	if f.Down, err = middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: Issuer, Keys: km, Store: downStore{}, Now: now}); err != nil {
		tb.Fatal(err)
	}
	return f
}

// errDown is what the store that is down answers.
var errDown = errors.New("adaptertest: store is down")

// downStore injects the one fault the table needs: a store that cannot
// answer.
type downStore struct{}

func (downStore) GetClient(context.Context, string) (*store.Client, error)   { return nil, errDown }
func (downStore) GetAccount(context.Context, string) (*store.Account, error) { return nil, errDown }
func (downStore) IsRevoked(context.Context, string, time.Time) (bool, error) { return false, errDown }
func (downStore) GetAccessToken(context.Context, string, time.Time) (*store.AccessToken, error) {
	return nil, errDown
}

// Guard returns a guard over v that requires Scope, with Realm, logging
// nowhere.
func (f *Fixture) Guard(tb testing.TB, v middleware.Verifier) *middleware.Guard {
	tb.Helper()
	g, err := middleware.New(middleware.Config{
		Verifier: v,
		Scopes:   []string{Scope},
		Realm:    Realm,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// Token mints a token of kind ("client" or "account") with a space-separated
// scope, issued at Now for an hour; edit changes the claims before signing.
func (f *Fixture) Token(tb testing.TB, kind, scope string, edit ...func(*token.Claims)) string {
	tb.Helper()
	c := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Audience:  jwt.ClaimStrings{Issuer},
			IssuedAt:  jwt.NewNumericDate(Now),
			NotBefore: jwt.NewNumericDate(Now),
			ExpiresAt: jwt.NewNumericDate(Now.Add(time.Hour)),
			ID:        fmt.Sprintf("jti-%d", f.jti.Add(1)),
		},
		Scope:      scope,
		Kind:       kind,
		Generation: 1,
	}
	if kind == token.KindAccount {
		c.Subject, c.AccountID = Account, Account
	} else {
		c.Subject, c.ClientID = Client, Client
	}
	for _, e := range edit {
		e(c)
	}
	raw, err := f.Keys.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// Handler is the protected handler: it answers 200 with the principal it
// finds in the request context ("kind subject scope…"), and 500 when there
// is none.
func (f *Fixture) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Calls.Add(1)
		p, ok := middleware.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "no principal in the request context", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s %s", p.Kind, p.Subject, strings.Join(p.Scopes, " "))
	})
}

// Expected answers, as RFC 6750 and the middleware package define them.
const (
	ChallengeNoToken        = `Bearer realm="api"`
	ChallengeInvalidRequest = `Bearer realm="api", error="invalid_request", error_description="the request must carry exactly one well-formed bearer token"`
	ChallengeInvalidToken   = `Bearer realm="api", error="invalid_token", error_description="the access token is invalid"`
	ChallengeInsufficient   = `Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="read"`

	BodyInvalidRequest = `{"error":"invalid_request","error_description":"the request must carry exactly one well-formed bearer token"}`
	BodyInvalidToken   = `{"error":"invalid_token","error_description":"the access token is invalid"}`
	BodyInsufficient   = `{"error":"insufficient_scope","error_description":"the access token lacks a required scope"}`
	BodyUnavailable    = `{"error":"temporarily_unavailable","error_description":"the access token cannot be checked now; try again later"}`
)

// Case is one row of the table.
type Case struct {
	Name string
	// Authorization headers to send (none, one, or several).
	Authorization []string
	// Down sends the request to a guard whose store cannot answer.
	Down bool
	// Want is the answer expected.
	Status    int
	Challenge string // WWW-Authenticate, "" for none
	Body      string
}

// Cases returns the table, with tokens minted by f.
func (f *Fixture) Cases(tb testing.TB) []Case {
	tb.Helper()
	valid := f.Token(tb, token.KindClient, "read write")
	forged := valid[:strings.LastIndexByte(valid, '.')+1] + "AAAA" + valid[strings.LastIndexByte(valid, '.')+5:]
	return []Case{
		{Name: "no token", Status: 401, Challenge: ChallengeNoToken},
		{Name: "basic scheme", Authorization: []string{"Basic Zm9vOmJhcg=="}, Status: 401, Challenge: ChallengeNoToken},
		{Name: "bearer without token", Authorization: []string{"Bearer "}, Status: 400, Challenge: ChallengeInvalidRequest, Body: BodyInvalidRequest},
		{Name: "two tokens", Authorization: []string{"Bearer " + valid + " " + valid}, Status: 400, Challenge: ChallengeInvalidRequest, Body: BodyInvalidRequest},
		{Name: "bad characters", Authorization: []string{"Bearer ab\"cd"}, Status: 400, Challenge: ChallengeInvalidRequest, Body: BodyInvalidRequest},
		{Name: "two headers", Authorization: []string{"Bearer " + valid, "Bearer " + valid}, Status: 400, Challenge: ChallengeInvalidRequest, Body: BodyInvalidRequest},
		{Name: "lowercase bearer", Authorization: []string{"bearer " + valid}, Status: 200, Body: "client " + Client + " read write"},
		{Name: "not a jwt", Authorization: []string{"Bearer garbage"}, Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "forged signature", Authorization: []string{"Bearer " + forged}, Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "expired", Authorization: []string{"Bearer " + f.Token(tb, token.KindClient, "read", func(c *token.Claims) {
			c.IssuedAt = jwt.NewNumericDate(Now.Add(-2 * time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(Now.Add(-time.Hour))
		})}, Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "wrong kind", Authorization: []string{"Bearer " + f.Token(tb, token.KindAccount, "read")}, Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "wrong audience", Authorization: []string{"Bearer " + f.Token(tb, token.KindClient, "read", func(c *token.Claims) {
			c.Audience = jwt.ClaimStrings{"https://elsewhere.adaptertest"}
		})}, Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "insufficient scope", Authorization: []string{"Bearer " + f.Token(tb, token.KindClient, "write")}, Status: 403, Challenge: ChallengeInsufficient, Body: BodyInsufficient},
		{Name: "valid", Authorization: []string{"Bearer " + valid}, Status: 200, Body: "client " + Client + " read write"},
		{Name: "store down", Authorization: []string{"Bearer " + valid}, Down: true, Status: 503, Body: BodyUnavailable},
	}
}

// Request builds the request of a case.
func (c Case) Request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, Path, nil)
	for _, a := range c.Authorization {
		r.Header.Add("Authorization", a)
	}
	return r
}

// Run checks wire against the table: each answer must be the expected one
// and identical, header for header, to the reference middleware.Guard.Wrap.
func Run(t *testing.T, wire Wire) {
	t.Helper()
	f := NewFixture(t)
	guards := map[bool]*middleware.Guard{false: f.Guard(t, f.Verifier), true: f.Guard(t, f.Down)}
	for _, c := range f.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			g := guards[c.Down]
			ref := serve(g.Wrap(f.Handler()), c.Request())
			before := f.Calls.Load()
			got := serve(wire(g, f.Handler()), c.Request())
			reached := f.Calls.Load() - before

			if got.Code != c.Status {
				t.Errorf("status = %d, want %d (body %q)", got.Code, c.Status, got.Body)
			}
			if ch := strings.Join(got.Header().Values("WWW-Authenticate"), " | "); ch != c.Challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", ch, c.Challenge)
			}
			if b := got.Body.String(); b != c.Body {
				t.Errorf("body = %q, want %q", b, c.Body)
			}
			if want := int64(0); c.Status == http.StatusOK {
				if reached != 1 {
					t.Errorf("protected handler ran %d times, want once", reached)
				}
			} else if reached != want {
				t.Errorf("protected handler ran %d times on a refused request", reached)
			}
			if got.Code != ref.Code || got.Body.String() != ref.Body.String() {
				t.Errorf("answer differs from net/http's: %d %q, want %d %q", got.Code, got.Body, ref.Code, ref.Body)
			}
			if !maps.EqualFunc(got.Header(), ref.Header(), slices.Equal) {
				t.Errorf("headers differ from net/http's:\n got %v\nwant %v", got.Header(), ref.Header())
			}
		})
	}
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Bench measures one accepted request through wire, with a token the
// verifier has already seen (its cache answers, as for a client that reuses
// its token for an hour), answered into an httptest.ResponseRecorder.
func Bench(b *testing.B, wire Wire) {
	f := NewFixture(b)
	h := wire(f.Guard(b, f.Verifier), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.PrincipalFrom(r.Context()); !ok {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	r := httptest.NewRequest(http.MethodGet, Path, nil)
	r.Header.Set("Authorization", "Bearer "+f.Token(b, token.KindClient, Scope))
	if w := serve(h, r); w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
