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
// The table's DPoP rows (RFC 9449) go to a guard that accepts DPoP-bound
// tokens and requires server nonces ([Fixture.DPoPGuard]), a fresh one
// for each side so that each sees a proof for the first time:
//
//   - a bound token with a proof carrying the current nonce (with the
//     "DPoP" scheme and with "dpop") is let through, and the answer
//     carries that nonce in DPoP-Nonce;
//   - a proof without a nonce, with a stale one, or with one of another
//     deployment is refused with 401, WWW-Authenticate: DPoP
//     error="use_dpop_nonce" and a DPoP-Nonce to retry with;
//   - a proof sent a second time (the first time through the same
//     wiring, which must accept it), no proof, a bound token sent as a
//     bearer token (with or without DPoP on the guard), an unbound token
//     sent with the DPoP scheme, and a bound token that lacks the scope
//     are refused, with no DPoP-Nonce.
//
// DPoP-Nonce is compared on every row, its absence included. So an adapter
// that writes refusals by other means than the guard's ErrorHandler must
// send the nonce as [middleware.WriteError] does, one that lets requests
// through must set it as Wrap does, and a wiring that runs two guards over
// one request (a group's and a route's) must not take the proof the first
// accepted for a replay.
//
// Tokens are minted by a [token.KeyManager] over [memory.New], and DPoP
// proofs with golang-jwt, all with a fixed clock, so the table needs no
// network and no sleeping.
package adaptertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	// dpop is the client's DPoP key, which the table's bound tokens name.
	dpop *ecdsa.PrivateKey
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
	dpop, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	f := &Fixture{Keys: ks, dpop: dpop}
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

// dpopNonceSecret keys the server nonces of [Fixture.DPoPGuard].
var dpopNonceSecret = []byte("adaptertest DPoP nonce secret, 32 bytes or more")

// dpopNonceWindow is how long a nonce of [Fixture.DPoPGuard] is handed out.
const dpopNonceWindow = 5 * time.Minute

// DPoPGuard returns a guard over f.Verifier like [Fixture.Guard] that also
// accepts DPoP-bound tokens (RFC 9449) and requires server nonces, on the
// fixed clock. Each call returns a guard with a replay memory of its own,
// so that a proof that one guard has seen is new to another.
func (f *Fixture) DPoPGuard(tb testing.TB) *middleware.Guard {
	tb.Helper()
	return f.dpopGuard(tb, dpopNonceSecret, Now)
}

func (f *Fixture) dpopGuard(tb testing.TB, secret []byte, now time.Time) *middleware.Guard {
	tb.Helper()
	g, err := middleware.New(middleware.Config{
		Verifier: f.Verifier,
		Scopes:   []string{Scope},
		Realm:    Realm,
		Logger:   slog.New(slog.DiscardHandler),
		DPoP: &middleware.DPoPConfig{
			RequireNonce: true,
			NonceSecret:  secret,
			NonceWindow:  dpopNonceWindow,
			Now:          func() time.Time { return now },
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// BoundToken mints a client token with scope, bound to the fixture's DPoP
// key (cnf.jkt), issued at Now for an hour.
func (f *Fixture) BoundToken(tb testing.TB, scope string) string {
	tb.Helper()
	jkt, err := token.Thumbprint(&f.dpop.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return f.Token(tb, token.KindClient, scope, func(c *token.Claims) {
		c.Confirmation = &token.Confirmation{JKT: jkt}
	})
}

// proofURL is the htu of the table's requests: httptest.NewRequest's host,
// without TLS, as the guard's default DPoPConfig.URL reads it.
const proofURL = "http://example.com" + Path

// proof returns a DPoP proof (RFC 9449 §4.2) by the fixture's key for GET
// Path, issued at Now, with a jti of its own, for accessToken (ath) and
// carrying nonce unless it is "".
func (f *Fixture) proof(tb testing.TB, accessToken, nonce string) string {
	tb.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	pub, err := f.dpop.PublicKey.ECDH()
	if err != nil {
		tb.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || x || y
	ath := sha256.Sum256([]byte(accessToken))
	claims := jwt.MapClaims{
		"jti": fmt.Sprintf("proof-%d", f.jti.Add(1)),
		"htm": http.MethodGet,
		"htu": proofURL,
		"iat": Now.Unix(),
		"ath": b64(ath[:]),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["typ"] = token.DPoPType
	t.Header["jwk"] = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
	s, err := t.SignedString(f.dpop)
	if err != nil {
		tb.Fatal(err)
	}
	return s
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

	// RFC 9449 §7.1 and §9: refusals of a DPoP proof use the DPoP scheme.
	ChallengeUseDPoPNonce     = `DPoP algs="ES256 EdDSA RS256", realm="api", error="use_dpop_nonce", error_description="the DPoP proof must carry the server nonce of the DPoP-Nonce header"`
	ChallengeInvalidDPoPProof = `DPoP algs="ES256 EdDSA RS256", realm="api", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`

	BodyUseDPoPNonce     = `{"error":"use_dpop_nonce","error_description":"the DPoP proof must carry the server nonce of the DPoP-Nonce header"}`
	BodyInvalidDPoPProof = `{"error":"invalid_dpop_proof","error_description":"the DPoP proof is invalid"}`
)

// Case is one row of the table.
type Case struct {
	Name string
	// Authorization headers to send (none, one, or several).
	Authorization []string
	// DPoP headers (proofs) to send.
	DPoP []string
	// Down sends the request to a guard whose store cannot answer.
	Down bool
	// DPoPGuard sends the request to a guard that accepts DPoP-bound
	// tokens and requires server nonces ([Fixture.DPoPGuard]), a fresh
	// one for the adapter and another for the reference.
	DPoPGuard bool
	// Replay sends the request once before, through the same wiring and
	// guard, which must accept it: the answer checked is the second one.
	Replay bool
	// Want is the answer expected.
	Status    int
	Challenge string // WWW-Authenticate, "" for none
	Body      string
	Nonce     string // DPoP-Nonce, "" for none
}

// Cases returns the table, with tokens minted by f.
func (f *Fixture) Cases(tb testing.TB) []Case {
	tb.Helper()
	valid := f.Token(tb, token.KindClient, "read write")
	forged := valid[:strings.LastIndexByte(valid, '.')+1] + "AAAA" + valid[strings.LastIndexByte(valid, '.')+5:]
	return append([]Case{
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
	}, f.dpopCases(tb)...)
}

// dpopCases are the rows of the DPoP guard (RFC 9449).
func (f *Fixture) dpopCases(tb testing.TB) []Case {
	tb.Helper()
	nonce := f.DPoPGuard(tb).DPoPNonce()
	// A nonce this deployment gave out three windows ago, and one that
	// another deployment (another secret) gives out now.
	stale := f.dpopGuard(tb, dpopNonceSecret, Now.Add(-3*dpopNonceWindow)).DPoPNonce()
	foreign := f.dpopGuard(tb, []byte("adaptertest: another deployment's nonce secret"), Now).DPoPNonce()
	if nonce == "" || nonce == stale || nonce == foreign {
		tb.Fatalf("DPoP nonces: current %q, stale %q, foreign %q", nonce, stale, foreign)
	}
	bound, writeOnly := f.BoundToken(tb, "read write"), f.BoundToken(tb, "write")
	dpop := []string{"DPoP " + bound}
	ok := "client " + Client + " read write"
	return []Case{
		{Name: "dpop: valid proof with nonce", Authorization: dpop, DPoP: []string{f.proof(tb, bound, nonce)}, DPoPGuard: true,
			Status: 200, Body: ok, Nonce: nonce},
		{Name: "dpop: lowercase scheme", Authorization: []string{"dpop " + bound}, DPoP: []string{f.proof(tb, bound, nonce)}, DPoPGuard: true,
			Status: 200, Body: ok, Nonce: nonce},
		{Name: "dpop: proof without nonce", Authorization: dpop, DPoP: []string{f.proof(tb, bound, "")}, DPoPGuard: true,
			Status: 401, Challenge: ChallengeUseDPoPNonce, Body: BodyUseDPoPNonce, Nonce: nonce},
		{Name: "dpop: stale nonce", Authorization: dpop, DPoP: []string{f.proof(tb, bound, stale)}, DPoPGuard: true,
			Status: 401, Challenge: ChallengeUseDPoPNonce, Body: BodyUseDPoPNonce, Nonce: nonce},
		{Name: "dpop: foreign nonce", Authorization: dpop, DPoP: []string{f.proof(tb, bound, foreign)}, DPoPGuard: true,
			Status: 401, Challenge: ChallengeUseDPoPNonce, Body: BodyUseDPoPNonce, Nonce: nonce},
		{Name: "dpop: insufficient scope", Authorization: []string{"DPoP " + writeOnly}, DPoP: []string{f.proof(tb, writeOnly, nonce)}, DPoPGuard: true,
			Status: 403, Challenge: ChallengeInsufficient, Body: BodyInsufficient},
		{Name: "dpop: replayed proof", Authorization: dpop, DPoP: []string{f.proof(tb, bound, nonce)}, DPoPGuard: true, Replay: true,
			Status: 401, Challenge: ChallengeInvalidDPoPProof, Body: BodyInvalidDPoPProof},
		{Name: "dpop: no proof", Authorization: dpop, DPoPGuard: true,
			Status: 401, Challenge: ChallengeInvalidDPoPProof, Body: BodyInvalidDPoPProof},
		// RFC 9449 §7.2: a bound token is never a bearer token, with or
		// without a proof.
		{Name: "dpop: bound token as bearer", Authorization: []string{"Bearer " + bound}, DPoP: []string{f.proof(tb, bound, nonce)}, DPoPGuard: true,
			Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "dpop: bound token as bearer, no DPoP guard", Authorization: []string{"Bearer " + bound},
			Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
		{Name: "dpop: unbound token with the DPoP scheme", Authorization: []string{"DPoP " + f.Token(tb, token.KindClient, "read")}, DPoP: []string{f.proof(tb, bound, nonce)}, DPoPGuard: true,
			Status: 401, Challenge: ChallengeInvalidToken, Body: BodyInvalidToken},
	}
}

// Request builds the request of a case.
func (c Case) Request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, Path, nil)
	for _, a := range c.Authorization {
		r.Header.Add("Authorization", a)
	}
	for _, p := range c.DPoP {
		r.Header.Add("DPoP", p)
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
			refGuard, g := guards[c.Down], guards[c.Down]
			if c.DPoPGuard {
				// Two guards, two replay memories: each side sees the
				// proof for the first time.
				refGuard, g = f.DPoPGuard(t), f.DPoPGuard(t)
			}
			refHandler, h := refGuard.Wrap(f.Handler()), wire(g, f.Handler())
			if c.Replay {
				if w := serve(refHandler, c.Request()); w.Code != http.StatusOK {
					t.Fatalf("reference: first use of the request: %d %q", w.Code, w.Body)
				}
				if w := serve(h, c.Request()); w.Code != http.StatusOK {
					t.Errorf("first use of the request: %d %q (WWW-Authenticate %q), want 200", w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
				}
			}
			ref := serve(refHandler, c.Request())
			before := f.Calls.Load()
			got := serve(h, c.Request())
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
			if n := strings.Join(got.Header().Values(middleware.DPoPNonceHeader), " | "); n != c.Nonce {
				t.Errorf("DPoP-Nonce = %q, want %q", n, c.Nonce)
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
