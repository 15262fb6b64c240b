package bench_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/portcullis/portcullis/internal/cputime"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// What every verifier is told to expect. All of them check the same iss,
// aud and exp (plus nbf and iat where the library does), with the same
// leeway, so that they do comparable work on the claims.
const (
	benchIssuer   = "https://issuer.bench.test"
	benchAudience = "https://api.bench.test"
	benchClient   = "6f1c2b0d9e8a7f6e5d4c3b2a19081726"
	benchLeeway   = 10 * time.Second
	// poolSize distinct tokens are minted per algorithm and cycled through,
	// so that nothing can answer a request from memory of an earlier one
	// (see Portcullis/first-sight).
	poolSize = 4096
)

var verifyAlgs = []string{token.HS256, token.ES256, token.EdDSA, token.RS256}

// verifyFixture is one algorithm's key, its pool of tokens and one request
// per token. Every benchmark of that algorithm verifies the same tokens.
type verifyFixture struct {
	alg   string
	keys  *token.KeySet
	key   any // what verifies: the public key, or the HMAC secret
	pool  []string
	reqs  []*http.Request
	state *memory.Store
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*verifyFixture{}
)

// fixtureFor mints alg's pool once per test binary: RS256 signing is slow
// enough that doing it per benchmark would dominate the run.
func fixtureFor(b testing.TB, alg string) *verifyFixture {
	b.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[alg]; f != nil {
		return f
	}
	now := time.Now()
	sk, err := token.GenerateKey(alg, now)
	if err != nil {
		b.Fatal(err)
	}
	k, err := token.ParseKey(sk)
	if err != nil {
		b.Fatal(err)
	}
	ks, err := token.NewKeySet([]*token.Key{k}, k.ID)
	if err != nil {
		b.Fatal(err)
	}
	st := memory.New()
	if err := st.CreateClient(context.Background(), &store.Client{
		ID: benchClient, SecretHash: make([]byte, 32), Name: "bench", Scopes: []string{"read", "write"},
		Audiences: []string{benchAudience}, Generation: 1, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		b.Fatal(err)
	}
	n := fixtureSize()
	f := &verifyFixture{alg: alg, keys: ks, key: k.Public(), state: st,
		pool: make([]string, n), reqs: make([]*http.Request, n)}
	// Sign on every core: 4096 RS256 signatures take seconds on one.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < n; i += 2 {
				raw, err := ks.Sign(benchClaims(now))
				if err != nil {
					errs <- err
					return
				}
				f.pool[i] = raw
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for i, raw := range f.pool {
		r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		f.reqs[i] = r
	}
	fixtures[alg] = f
	return f
}

// fixtureSize is how many tokens a fixture mints: poolSize, or, under a
// fixed iteration count (-benchtime Nx, as .ci/run's smoke runs every
// benchmark ten times), no more than one per iteration, which keeps every
// request a first sight just the same. Minting 4096 tokens per algorithm
// (RS256's take seconds) is what such a run otherwise spends its time on.
// At least two: TestVerifiers forges from the second.
func fixtureSize() int {
	bt := flag.Lookup("test.benchtime")
	if bt == nil {
		return poolSize
	}
	s, ok := strings.CutSuffix(bt.Value.String(), "x")
	if !ok {
		return poolSize
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return poolSize
	}
	return min(max(n, 2), poolSize)
}

// benchClaims are the claims of a Portcullis client token (RFC 9068 plus
// kind and gen). The peers read the registered ones and ignore the rest.
func benchClaims(now time.Time) *token.Claims {
	jti := make([]byte, 16)
	rand.Read(jti)
	return &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    benchIssuer,
			Subject:   benchClient,
			Audience:  jwt.ClaimStrings{benchAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
		ClientID:   benchClient,
		Scope:      "read write",
		Kind:       token.KindClient,
		Generation: 1,
	}
}

// sink is a ResponseWriter reused across iterations. httptest.NewRecorder
// would add the same few allocations and a few hundred nanoseconds to every
// middleware figure, none of it the middleware's; the bare parse has no
// writer at all, so leaving the harness out keeps the ratios about the
// libraries.
type sink struct {
	h      http.Header
	status int
}

func (s *sink) Header() http.Header { return s.h }
func (s *sink) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(p), nil
}
func (s *sink) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// serve times h on f's requests: the same request every time when same is
// set, else the pool in turn. h must answer 204 to a verified request.
func serve(b *testing.B, f *verifyFixture, h http.Handler, same bool) {
	b.Helper()
	w := &sink{h: http.Header{}}
	b.ReportAllocs()
	cpu := cputime.Start()
	defer cpu.Report(b)
	for i := 0; b.Loop(); i++ {
		r := f.reqs[0]
		if !same {
			r = f.reqs[i%len(f.reqs)]
		}
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusNoContent {
			b.Fatalf("request %d: status %d, headers %v", i, w.status, w.h)
		}
	}
}

// ok answers 204 when check finds the caller in the request's context, so
// that every middleware is seen to pass its result on.
func ok(check func(r *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !check(r) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range verifyAlgs {
		b.Run("Bare/"+alg, func(b *testing.B) { benchBare(b, fixtureFor(b, alg)) })
		b.Run("Portcullis/"+alg+"/first-sight", func(b *testing.B) { benchPortcullis(b, fixtureFor(b, alg), false) })
		b.Run("Portcullis/"+alg+"/cached", func(b *testing.B) { benchPortcullis(b, fixtureFor(b, alg), true) })
		b.Run("Auth0/"+alg, func(b *testing.B) { benchAuth0(b, fixtureFor(b, alg)) })
		b.Run("JWTAuth/"+alg, func(b *testing.B) { benchJWTAuth(b, fixtureFor(b, alg)) })
	}
}

// benchBare is the baseline: what a careful golang-jwt user writes, a
// parser pinned to the algorithm that checks iss, aud, exp (required), nbf
// and iat, decoding into the same claims type that Portcullis uses. No
// HTTP, no kid lookup, no state.
func benchBare(b *testing.B, f *verifyFixture) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{f.alg}),
		jwt.WithIssuer(benchIssuer),
		jwt.WithAudience(benchAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(benchLeeway),
	)
	keyfunc := func(*jwt.Token) (any, error) { return f.key, nil }
	b.ReportAllocs()
	cpu := cputime.Start()
	defer cpu.Report(b)
	for i := 0; b.Loop(); i++ {
		var c token.Claims
		if _, err := p.ParseWithClaims(f.pool[i%len(f.pool)], &c, keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPortcullis times the guard's Wrap, which does everything a protected
// route pays: header parsing, the Verifier (kid lookup with the algorithm
// pinned by the key, signature, typ, iss, aud, exp, nbf, iat, kind), the
// client's generation through its state cache, the revocation check in the
// memory store, the scope policy, and the principal put in the context.
//
// first-sight cycles through poolSize distinct tokens with a token cache of
// 32 entries (one per shard): every lookup misses and every insert evicts,
// so the figure includes the cache's bookkeeping as a new token pays it.
// cached presents one token again and again with the default cache.
func benchPortcullis(b *testing.B, f *verifyFixture, cached bool) {
	serve(b, f, portcullisHandler(b, f, cached), cached)
}

func portcullisHandler(b testing.TB, f *verifyFixture, cached bool) http.Handler {
	cfg := middleware.LocalConfig{
		Issuer:    benchIssuer,
		Audiences: []string{benchAudience},
		Keys:      token.StaticKeys{Set: f.keys},
		Store:     f.state,
		Leeway:    benchLeeway,
	}
	if !cached {
		cfg.CacheSize = 32
	}
	v, err := middleware.NewLocalVerifier(cfg)
	if err != nil {
		b.Fatal(err)
	}
	g, err := middleware.New(middleware.Config{Verifier: v, Scopes: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	return g.Wrap(ok(func(r *http.Request) bool {
		p, found := middleware.PrincipalFrom(r.Context())
		return found && p.ClientID == benchClient
	}))
}

// benchAuth0 times auth0/go-jwt-middleware v2: its validator (go-jose v2)
// pinned to the algorithm, checking iss, aud, exp, nbf and iat, behind
// CheckJWT. It does not check typ, kid, the token kind, scopes, revocation
// or rotation.
func benchAuth0(b *testing.B, f *verifyFixture) { serve(b, f, auth0Handler(b, f), false) }

func auth0Handler(b testing.TB, f *verifyFixture) http.Handler {
	keyFunc := func(context.Context) (any, error) { return f.key, nil }
	val, err := validator.New(keyFunc, validator.SignatureAlgorithm(f.alg), benchIssuer, []string{benchAudience},
		validator.WithAllowedClockSkew(benchLeeway))
	if err != nil {
		b.Fatal(err)
	}
	mw := jwtmiddleware.New(val.ValidateToken)
	return mw.CheckJWT(ok(func(r *http.Request) bool {
		c, found := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		return found && c.RegisteredClaims.Subject == benchClient
	}))
}

// benchJWTAuth times go-chi/jwtauth v5 (lestrrat-go/jwx v2): Verifier then
// Authenticator, as its README chains them, checking iss and aud on top of
// its default exp, nbf and iat. It does not check typ, kid, the token kind,
// scopes, revocation or rotation.
func benchJWTAuth(b *testing.B, f *verifyFixture) { serve(b, f, jwtauthHandler(f), false) }

func jwtauthHandler(f *verifyFixture) http.Handler {
	// The verify key is used whatever the algorithm, the HMAC secret too.
	ja := jwtauth.New(f.alg, nil, f.key,
		jwxjwt.WithIssuer(benchIssuer), jwxjwt.WithAudience(benchAudience), jwxjwt.WithAcceptableSkew(benchLeeway))
	return jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(ok(func(r *http.Request) bool {
		t, found := r.Context().Value(jwtauth.TokenCtxKey).(jwxjwt.Token)
		return found && t.Subject() == benchClient
	})))
}

// TestVerifiersReject makes sure that every verifier timed above verifies:
// each accepts a pool token and rejects the same token with its signature
// altered, and one signed by another key of the same algorithm. A verifier
// that let everything through would look fast for nothing.
func TestVerifiersReject(t *testing.T) {
	for _, alg := range verifyAlgs {
		t.Run(alg, func(t *testing.T) {
			f := fixtureFor(t, alg)
			good := f.pool[1]
			sig := strings.LastIndexByte(good, '.') + 5
			flip := byte('A')
			if good[sig] == 'A' {
				flip = 'B'
			}
			bad := map[string]string{
				"tampered":  good[:sig] + string(flip) + good[sig+1:],
				"other key": signWithOtherKey(t, f),
			}
			handlers := map[string]http.Handler{
				"Portcullis/first-sight": portcullisHandler(t, f, false),
				"Portcullis/cached":      portcullisHandler(t, f, true),
				"Auth0":                  auth0Handler(t, f),
				"JWTAuth":                jwtauthHandler(f),
			}
			for name, h := range handlers {
				if got := status(h, good); got != http.StatusNoContent {
					t.Errorf("%s: good token: status %d, want 204", name, got)
				}
				for what, raw := range bad {
					if got := status(h, raw); got != http.StatusUnauthorized {
						t.Errorf("%s: %s token: status %d, want 401", name, what, got)
					}
				}
			}
		})
	}
}

// signWithOtherKey signs a token like the pool's with a new key of the same
// algorithm that claims the pool key's kid, so that it fails on its
// signature rather than on an unknown kid.
func signWithOtherKey(t *testing.T, f *verifyFixture) string {
	t.Helper()
	sk, err := token.GenerateKey(f.alg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sk.ID = f.keys.SigningKey().ID
	k, err := token.ParseKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet([]*token.Key{k}, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ks.Sign(benchClaims(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func status(h http.Handler, raw string) int {
	r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}
