package middleware_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// keyServer is an issuer's JWKS endpoint whose behaviour a test switches.
type keyServer struct {
	*httptest.Server
	hits    atomic.Int64
	mode    atomic.Value // serveMode
	mu      sync.Mutex
	body    []byte
	release chan struct{} // closed when the test ends: unblocks modeBlock
}

type serveMode string

const (
	modeUp      serveMode = "up"      // 200 with the body
	modeDown    serveMode = "down"    // the connection is dropped: a network error
	modeFail    serveMode = "fail"    // 500
	modeBlock   serveMode = "block"   // never answers while the test runs
	modeChunked serveMode = "chunked" // 200, streamed without Content-Length
)

func newKeyServer(t testing.TB, mode serveMode) *keyServer {
	t.Helper()
	s := &keyServer{release: make(chan struct{})}
	s.mode.Store(mode)
	s.body = []byte(`{"keys":[]}`)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.release) }) // runs before Close (LIFO)
	return s
}

func (s *keyServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/jwks.json" {
		http.NotFound(w, r)
		return
	}
	s.hits.Add(1)
	s.mu.Lock()
	body := s.body
	s.mu.Unlock()
	switch s.mode.Load().(serveMode) {
	case modeDown:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case modeFail:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case modeBlock:
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
	case modeChunked:
		w.Header().Set("Content-Type", "application/json")
		for len(body) > 0 {
			n := min(len(body), 512)
			w.Write(body[:n])
			w.(http.Flusher).Flush()
			body = body[n:]
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

func (s *keyServer) setMode(m serveMode) { s.mode.Store(m) }

// publish serves these keys' JWKS, plus any extra raw JWKs.
func (s *keyServer) publish(t testing.TB, keys []*token.Key, extra ...map[string]any) {
	t.Helper()
	var doc struct {
		Keys []any `json:"keys"`
	}
	doc.Keys = []any{}
	for _, k := range keys {
		jwk, ok := k.JWK()
		if !ok {
			t.Fatalf("key %s has no public JWK", k.ID)
		}
		doc.Keys = append(doc.Keys, jwk)
	}
	for _, e := range extra {
		doc.Keys = append(doc.Keys, e)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(body)
}

func (s *keyServer) setBody(b []byte) {
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

// remoteKey makes a signing key; id overrides its random kid when not empty.
func remoteKey(t testing.TB, alg, id string) *token.Key {
	t.Helper()
	sk, err := token.GenerateKey(alg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		sk.ID = id
	}
	k, err := token.ParseKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// remoteToken signs a client token for issuer with key; edit changes the
// claims before signing.
func remoteToken(t testing.TB, key *token.Key, issuer string, edit ...func(*token.Claims)) string {
	t.Helper()
	ks, err := token.NewKeySet([]*token.Key{key}, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ks.Sign(baseClaims(issuer, edit...))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// baseClaims are a client token's claims for issuer, valid for an hour.
func baseClaims(issuer string, edit ...func(*token.Claims)) *token.Claims {
	now := time.Now()
	c := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   "c1",
			Audience:  jwt.ClaimStrings{issuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        "jti-" + rand.Text(),
		},
		ClientID: "c1", Scope: "read", Kind: token.KindClient, Generation: 1,
	}
	for _, e := range edit {
		e(c)
	}
	return c
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newJWKS(t testing.TB, s *keyServer, edit ...func(*middleware.JWKSConfig)) *middleware.JWKSVerifier {
	t.Helper()
	cfg := middleware.JWKSConfig{Issuer: s.URL, Logger: discardLog()}
	for _, e := range edit {
		e(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := middleware.NewJWKSVerifier(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantIs(t *testing.T, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("err = %v, want %v", err, sentinel)
	}
}

func TestJWKSVerifierAccepts(t *testing.T) {
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256} {
		t.Run(alg, func(t *testing.T) {
			s := newKeyServer(t, modeUp)
			key := remoteKey(t, alg, "")
			s.publish(t, []*token.Key{key})
			v := newJWKS(t, s)
			raw := remoteToken(t, key, s.URL)
			p, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != token.KindClient || p.Subject != "c1" || p.ClientID != "c1" || !p.HasScope("read") || p.Issuer != s.URL {
				t.Errorf("principal = %+v", p)
			}
			again, err := v.Verify(context.Background(), raw)
			if err != nil || again != p {
				t.Errorf("second Verify = %p, %v; want the cached %p", again, err, p)
			}
			if n := s.hits.Load(); n != 1 {
				t.Errorf("key server hit %d times, want 1 (the start-up fetch)", n)
			}
		})
	}
}

func TestJWKSVerifierRefuses(t *testing.T) {
	s := newKeyServer(t, modeUp)
	key := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{key})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.Audiences = []string{"https://api.test"} })
	aud := func(c *token.Claims) { c.Audience = jwt.ClaimStrings{"https://api.test"} }
	sign := func(edit ...func(*token.Claims)) string {
		return remoteToken(t, key, s.URL, append([]func(*token.Claims){aud}, edit...)...)
	}
	if _, err := v.Verify(context.Background(), sign()); err != nil {
		t.Fatalf("the baseline token fails: %v", err)
	}
	// withHeader signs the baseline claims with key, under a header that
	// edit changes.
	withHeader := func(k *token.Key, edit func(h map[string]any)) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, baseClaims(s.URL, aud))
		tok.Header["typ"] = token.JWTType
		tok.Header["kid"] = k.ID
		edit(tok.Header)
		signer, _ := k.Signer()
		raw, err := tok.SignedString(signer)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	unsigned := func(h map[string]any) string {
		b, _ := json.Marshal(h)
		claims := strings.Split(sign(), ".")[1]
		return base64.RawURLEncoding.EncodeToString(b) + "." + claims + "."
	}
	evil := newKeyServer(t, modeUp)
	stranger := remoteKey(t, token.ES256, "")
	evil.publish(t, []*token.Key{stranger})
	forger := remoteKey(t, token.ES256, key.ID) // another key with the same kid
	hsSecret := remoteKey(t, token.HS256, key.ID)
	cases := map[string]string{
		"empty":           "",
		"not a JWT":       "nope",
		"too long":        strings.Repeat("a", 9<<10),
		"expired":         sign(func(c *token.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }),
		"no exp":          sign(func(c *token.Claims) { c.ExpiresAt = nil }),
		"not yet valid":   sign(func(c *token.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
		"issued later":    sign(func(c *token.Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
		"other issuer":    sign(func(c *token.Claims) { c.Issuer = "https://evil.test" }),
		"issuer's aud":    remoteToken(t, key, s.URL),
		"no kind":         sign(func(c *token.Claims) { c.Kind = "" }),
		"no sub":          sign(func(c *token.Claims) { c.Subject = "" }),
		"no jti":          sign(func(c *token.Claims) { c.ID = "" }),
		"forged same kid": remoteToken(t, forger, s.URL, aud),
		"HS256 same kid":  remoteToken(t, hsSecret, s.URL, aud),
		"tampered":        tamper(sign()),
		"typ JWT":         withHeader(key, func(h map[string]any) { h["typ"] = "JWT" }),
		"no typ":          withHeader(key, func(h map[string]any) { delete(h, "typ") }),
		"no kid":          withHeader(key, func(h map[string]any) { delete(h, "kid") }),
		"jku":             withHeader(stranger, func(h map[string]any) { h["jku"] = evil.URL + "/.well-known/jwks.json" }),
		"embedded jwk":    withHeader(stranger, func(h map[string]any) { j, _ := stranger.JWK(); h["jwk"] = j }),
		"alg none":        unsigned(map[string]any{"alg": "none", "typ": "at+jwt", "kid": key.ID}),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), raw)
			if p != nil {
				t.Errorf("accepted: %+v", p)
			}
			wantIs(t, err, middleware.ErrInvalidToken)
		})
	}
	if n := evil.hits.Load(); n != 0 {
		t.Errorf("the jku server was hit %d times", n)
	}
}

// tamper flips a character of the signature.
func tamper(raw string) string {
	i := strings.LastIndexByte(raw, '.') + 2
	c := byte('A')
	if raw[i] == 'A' {
		c = 'B'
	}
	return raw[:i] + string(c) + raw[i+1:]
}

// A remote set may hold keys the verifier must not use; the others still
// work.
func TestJWKSIgnoresUnpinnedKeys(t *testing.T) {
	s := newKeyServer(t, modeUp)
	good := remoteKey(t, token.ES256, "good")
	noAlg := remoteKey(t, token.ES256, "no-alg")
	mislabelled := remoteKey(t, token.ES256, "mislabelled")
	enc := remoteKey(t, token.ES256, "enc")
	ed := remoteKey(t, token.EdDSA, "ed-as-es")
	secret := remoteKey(t, token.HS256, "oct")
	rsaSmall := remoteKey(t, token.RS256, "rsa")
	raw := func(k *token.Key, edit func(map[string]any)) map[string]any {
		jwk, _ := k.JWK()
		b, _ := json.Marshal(jwk)
		m := map[string]any{}
		json.Unmarshal(b, &m)
		edit(m)
		return m
	}
	s.publish(t, []*token.Key{good},
		raw(noAlg, func(m map[string]any) { delete(m, "alg") }),
		raw(mislabelled, func(m map[string]any) { m["alg"] = "RS256" }),
		raw(enc, func(m map[string]any) { m["use"] = "enc" }),
		raw(ed, func(m map[string]any) { m["alg"] = "ES256" }),
		raw(rsaSmall, func(m map[string]any) { m["alg"] = "PS256" }),
		map[string]any{"kty": "oct", "kid": "oct", "alg": "HS256", "use": "sig",
			"k": base64.RawURLEncoding.EncodeToString(secretBytes(t, secret))},
	)
	v := newJWKS(t, s)
	if _, err := v.Verify(context.Background(), remoteToken(t, good, s.URL)); err != nil {
		t.Fatalf("the pinned key fails: %v", err)
	}
	for _, k := range []*token.Key{noAlg, mislabelled, enc, ed, secret, rsaSmall} {
		t.Run(k.ID, func(t *testing.T) {
			_, err := v.Verify(context.Background(), remoteToken(t, k, s.URL))
			wantIs(t, err, middleware.ErrInvalidToken)
		})
	}
	// An RSA key below 2048 bits, properly labelled, is ignored too.
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	s.publish(t, []*token.Key{good}, map[string]any{"kty": "RSA", "kid": "rsa-1024", "alg": "RS256", "use": "sig",
		"n": b64(weak.N.Bytes()), "e": b64(big.NewInt(int64(weak.E)).Bytes())})
	var logs strings.Builder
	v = newJWKS(t, s, func(c *middleware.JWKSConfig) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if !strings.Contains(logs.String(), "kid=rsa-1024") || !strings.Contains(logs.String(), "ignoring") {
		t.Errorf("the weak key was not ignored by the pinning: %q", logs.String())
	}
	weakTok := jwt.NewWithClaims(jwt.SigningMethodRS256, baseClaims(s.URL))
	weakTok.Header["typ"], weakTok.Header["kid"] = token.JWTType, "rsa-1024"
	rawWeak, err := weakTok.SignedString(weak)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), rawWeak)
	wantIs(t, err, middleware.ErrInvalidToken)
	if _, err := v.Verify(context.Background(), remoteToken(t, good, s.URL)); err != nil {
		t.Errorf("the pinned key beside a weak one: %v", err)
	}

	// The same HS256 token passes a verifier that holds the secret: the
	// refusal above is the remote verifier ignoring the oct key.
	local, err := token.NewKeySet([]*token.Key{secret}, "")
	if err != nil {
		t.Fatal(err)
	}
	lv, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: s.URL, Keys: token.StaticKeys{Set: local}, Store: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lv.VerifyJWT(context.Background(), remoteToken(t, secret, s.URL)); err != nil {
		t.Errorf("control: %v", err)
	}
}

// secretBytes digs the HMAC secret out of an HS256 key through its
// verification half.
func secretBytes(t testing.TB, k *token.Key) []byte {
	b, ok := k.Public().([]byte)
	if !ok {
		t.Fatalf("key %s is not symmetric", k.ID)
	}
	return b
}

func TestJWKSDownAtStartup(t *testing.T) {
	s := newKeyServer(t, modeDown)
	key := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{key})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.MinRefreshInterval = time.Nanosecond })
	raw := remoteToken(t, key, s.URL)

	_, err := v.Verify(context.Background(), raw)
	wantIs(t, err, middleware.ErrUnavailable)
	g, err := middleware.New(middleware.Config{Verifier: v, Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	w := httptest.NewRecorder()
	g.Wrap(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("guard answered %d, want 503", w.Code)
	}

	s.setMode(modeUp)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Errorf("after the issuer came back: %v", err)
	}
}

func TestJWKSServerErrorKeepsKeys(t *testing.T) {
	s := newKeyServer(t, modeUp)
	key := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{key})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.MinRefreshInterval = time.Nanosecond })
	s.setMode(modeFail)

	if _, err := v.Verify(context.Background(), remoteToken(t, key, s.URL)); err != nil {
		t.Errorf("known key while the issuer fails: %v", err)
	}
	// A new kid cannot be looked up: that is unavailability, not forgery.
	_, err := v.Verify(context.Background(), remoteToken(t, remoteKey(t, token.ES256, ""), s.URL))
	wantIs(t, err, middleware.ErrUnavailable)
	if _, err := v.Verify(context.Background(), remoteToken(t, key, s.URL)); err != nil {
		t.Errorf("known key after a failed refresh: %v", err)
	}
	if n := s.hits.Load(); n != 2 {
		t.Errorf("key server hit %d times, want 2", n)
	}
}

func TestJWKSSlowServer(t *testing.T) {
	s := newKeyServer(t, modeBlock)
	key := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{key})
	// The start-up fetch and the one Verify makes each give up after the
	// client's timeout; without it both would wait until the test ends.
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) {
		c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
		c.MinRefreshInterval = time.Nanosecond
	})
	_, err := v.Verify(context.Background(), remoteToken(t, key, s.URL))
	wantIs(t, err, middleware.ErrUnavailable)
}

func TestJWKSUnknownKIDFloodIsRateLimited(t *testing.T) {
	s := newKeyServer(t, modeUp)
	key := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{key})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.MinRefreshInterval = time.Hour })
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		raw := remoteToken(t, remoteKey(t, token.ES256, fmt.Sprintf("forged-%d", i)), s.URL)
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), raw); !errors.Is(err, middleware.ErrInvalidToken) {
				t.Errorf("forged kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := s.hits.Load(); n != 2 {
		t.Errorf("key server hit %d times by 50 unknown kids, want 2 (start-up and one refresh)", n)
	}
	if _, err := v.Verify(context.Background(), remoteToken(t, key, s.URL)); err != nil {
		t.Errorf("known key during the flood: %v", err)
	}
}

func TestJWKSRotation(t *testing.T) {
	s := newKeyServer(t, modeUp)
	oldKey := remoteKey(t, token.ES256, "")
	newKey := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{oldKey})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.MinRefreshInterval = time.Nanosecond })
	oldTok := remoteToken(t, oldKey, s.URL)
	if _, err := v.Verify(context.Background(), oldTok); err != nil {
		t.Fatal(err)
	}

	// The issuer publishes a new key and signs with it: its kid is unknown
	// here, so the set is fetched again.
	s.publish(t, []*token.Key{oldKey, newKey})
	if _, err := v.Verify(context.Background(), remoteToken(t, newKey, s.URL)); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := v.Verify(context.Background(), oldTok); err != nil {
		t.Errorf("old key still published: %v", err)
	}

	// The old key is withdrawn: once the set is fetched again, its tokens
	// fail, even the one in the cache.
	s.publish(t, []*token.Key{newKey})
	_, err := v.Verify(context.Background(), remoteToken(t, remoteKey(t, token.ES256, ""), s.URL))
	wantIs(t, err, middleware.ErrInvalidToken)
	_, err = v.Verify(context.Background(), oldTok)
	wantIs(t, err, middleware.ErrInvalidToken)
}

// New keys arrive through the background refresh alone, with no request
// allowed to cause a fetch.
func TestJWKSBackgroundRefresh(t *testing.T) {
	s := newKeyServer(t, modeUp)
	oldKey := remoteKey(t, token.ES256, "")
	newKey := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{oldKey})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) {
		c.MinRefreshInterval = time.Hour
		c.RefreshInterval = 5 * time.Millisecond
	})
	raw := remoteToken(t, newKey, s.URL)
	_, err := v.Verify(context.Background(), raw) // spends the one on-demand fetch
	wantIs(t, err, middleware.ErrInvalidToken)
	s.publish(t, []*token.Key{oldKey, newKey})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err = v.Verify(context.Background(), raw); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background refresh never picked the new key up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSOversizedBody(t *testing.T) {
	key := remoteKey(t, token.ES256, "")
	jwk, _ := key.JWK()
	// A valid document, made large by padding that a JSON decoder skips.
	body, _ := json.Marshal(map[string]any{"keys": []any{jwk}, "padding": strings.Repeat("x", 8<<10)})
	for _, mode := range []serveMode{modeUp, modeChunked} {
		t.Run(string(mode), func(t *testing.T) {
			s := newKeyServer(t, mode)
			s.setBody(body)
			raw := remoteToken(t, key, s.URL)
			small := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.MaxResponseBytes = 4 << 10 })
			_, err := small.Verify(context.Background(), raw)
			wantIs(t, err, middleware.ErrUnavailable)
			// Control: the same document within the default limit.
			if _, err := newJWKS(t, s).Verify(context.Background(), raw); err != nil {
				t.Errorf("within the limit: %v", err)
			}
		})
	}
}

func TestJWKSConfigErrors(t *testing.T) {
	for name, cfg := range map[string]middleware.JWKSConfig{
		"no issuer":   {},
		"relative":    {Issuer: "x", JWKSURL: "/jwks.json"},
		"file scheme": {Issuer: "x", JWKSURL: "file:///etc/jwks.json"},
		"empty kind":  {Issuer: "https://x.test", Kinds: []string{""}},
	} {
		if _, err := middleware.NewJWKSVerifier(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The verifier tells guards the kinds its issuer defines, so that a guard
// asking for another is refused at New.
func TestJWKSKinds(t *testing.T) {
	s := newKeyServer(t, modeUp)
	def := newJWKS(t, s)
	if got := def.Kinds(); !slices.Equal(got, []string{middleware.KindClient, middleware.KindAccount}) {
		t.Errorf("default Kinds() = %q", got)
	}
	if _, err := middleware.New(middleware.Config{Verifier: def, Kinds: []string{"acount"}}); err == nil {
		t.Error("a guard asking for an undefined kind was accepted")
	}
	robots := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.Kinds = []string{"robot"} })
	if got := robots.Kinds(); !slices.Equal(got, []string{"robot"}) {
		t.Errorf("Kinds() = %q", got)
	}
	if _, err := middleware.New(middleware.Config{Verifier: robots, Kinds: []string{"robot"}}); err != nil {
		t.Errorf("a guard asking for a defined kind: %v", err)
	}
}

// A JWKS fetch never follows a redirect to another origin, where the keys
// would come from someone else; a redirect within the issuer's origin is
// followed.
func TestJWKSRedirects(t *testing.T) {
	key := remoteKey(t, token.ES256, "")
	jwk, _ := key.JWK()
	body, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
	serveKeys := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		serveKeys(w, r)
	}))
	t.Cleanup(other.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/keys", serveKeys)
	mux.Handle("/moved", http.RedirectHandler("/keys", http.StatusFound))
	mux.Handle("/moved-twice", http.RedirectHandler("/moved", http.StatusMovedPermanently))
	mux.Handle("/loop", http.RedirectHandler("/loop", http.StatusTemporaryRedirect))
	// The same host on another port is another origin; so is another scheme.
	mux.Handle("/away", http.RedirectHandler(other.URL+"/keys", http.StatusFound))
	mux.Handle("/away-later", http.RedirectHandler("/away", http.StatusFound))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	verify := func(t *testing.T, path string, edit ...func(*middleware.JWKSConfig)) error {
		v := newJWKS(t, &keyServer{Server: srv}, append([]func(*middleware.JWKSConfig){func(c *middleware.JWKSConfig) {
			c.JWKSURL = srv.URL + path
			c.MinRefreshInterval = time.Nanosecond
		}}, edit...)...)
		_, err := v.Verify(context.Background(), remoteToken(t, key, srv.URL))
		return err
	}
	for _, path := range []string{"/keys", "/moved", "/moved-twice"} {
		t.Run("same origin "+path, func(t *testing.T) {
			if err := verify(t, path); err != nil {
				t.Errorf("keys behind a same-origin redirect: %v", err)
			}
		})
	}
	for _, path := range []string{"/away", "/away-later", "/loop"} {
		t.Run("refused "+path, func(t *testing.T) {
			wantIs(t, verify(t, path), middleware.ErrUnavailable)
		})
	}
	t.Run("refused whatever the client's CheckRedirect", func(t *testing.T) {
		followAll := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		wantIs(t, verify(t, "/away", func(c *middleware.JWKSConfig) { c.HTTPClient = followAll }), middleware.ErrUnavailable)
	})
	t.Run("the client's CheckRedirect still applies within the origin", func(t *testing.T) {
		never := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		wantIs(t, verify(t, "/moved", func(c *middleware.JWKSConfig) { c.HTTPClient = never }), middleware.ErrUnavailable)
	})
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other origin was asked for keys %d times", n)
	}
}

// BenchmarkJWKSVerify compares the remote verifier with the local one on the
// same ES256 token: first sight (signature and claims) and a token seen
// before (cache).
func BenchmarkJWKSVerify(b *testing.B) {
	s := newKeyServer(b, modeUp)
	key := remoteKey(b, token.ES256, "")
	s.publish(b, []*token.Key{key})
	set, err := token.NewKeySet([]*token.Key{key}, "")
	if err != nil {
		b.Fatal(err)
	}
	st := memory.New()
	if err := st.CreateClient(context.Background(), &store.Client{ID: "c1", Generation: 1}); err != nil {
		b.Fatal(err)
	}
	local, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: s.URL, Keys: token.StaticKeys{Set: set}, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	raw := remoteToken(b, key, s.URL)
	run := func(b *testing.B, verify func(context.Context, string) (*middleware.Principal, error)) {
		ctx := context.Background()
		if _, err := verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("first-sight/jwks", func(b *testing.B) {
		run(b, newJWKS(b, s, func(c *middleware.JWKSConfig) { c.CacheSize = -1 }).Verify)
	})
	b.Run("first-sight/local", func(b *testing.B) { run(b, local.VerifyJWT) })
	b.Run("cached/jwks", func(b *testing.B) { run(b, newJWKS(b, s).Verify) })
	b.Run("cached/local", func(b *testing.B) { run(b, local.Verify) })
}

// A resource server that shares nothing with the issuer but its URL: it
// learns the keys from the issuer's JWKS and verifies tokens locally.
func ExampleNewJWKSVerifier() {
	ctx := context.Background()

	// The issuer runs elsewhere; here, on a test server.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	iss, err := issuer.New(issuer.Config{Issuer: srv.URL, Store: memory.New(), Scopes: []string{"read"}})
	if err != nil {
		panic(err)
	}
	mux.Handle("/", iss.Handler())
	client, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{Name: "reporting"})
	if err != nil {
		panic(err)
	}

	// The resource server. Cancel ctx to stop the background refresh.
	// Remember what a remote verifier cannot see: revocation and rotation
	// (tokens live until they expire); use NewIntrospectionVerifier or a
	// LocalVerifier over the issuer's store where that matters.
	verifier, err := middleware.NewJWKSVerifier(ctx, middleware.JWKSConfig{Issuer: srv.URL})
	if err != nil {
		panic(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: verifier, Scopes: []string{"read"}})
	if err != nil {
		panic(err)
	}
	api := guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := middleware.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello %s client", p.Kind)
	}))

	// A client gets a token from the issuer and calls the API.
	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: secret, TokenURL: srv.URL + iss.Paths().Token, Scopes: []string{"read"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/reports", nil)
	tok.SetAuthHeader(r)
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body)
	// Output:
	// 200 hello client client
}

// A key whose kid stays but whose material changes is a withdrawn key too:
// tokens signed by the old material must not pass from the cache.
func TestJWKSReplacedKeyUnderSameKID(t *testing.T) {
	s := newKeyServer(t, modeUp)
	oldKey := remoteKey(t, token.ES256, "k1")
	s.publish(t, []*token.Key{oldKey})
	v := newJWKS(t, s, func(c *middleware.JWKSConfig) { c.MinRefreshInterval = time.Nanosecond })
	oldTok := remoteToken(t, oldKey, s.URL)
	if _, err := v.Verify(context.Background(), oldTok); err != nil {
		t.Fatal(err)
	}
	newKey := remoteKey(t, token.ES256, "k1")
	s.publish(t, []*token.Key{newKey})
	// An unknown kid makes the verifier fetch the set again.
	_, err := v.Verify(context.Background(), remoteToken(t, remoteKey(t, token.ES256, ""), s.URL))
	wantIs(t, err, middleware.ErrInvalidToken)
	if _, err := v.Verify(context.Background(), remoteToken(t, newKey, s.URL)); err != nil {
		t.Fatalf("new material: %v", err)
	}
	_, err = v.Verify(context.Background(), oldTok)
	wantIs(t, err, middleware.ErrInvalidToken)
}

// A token being verified with a key while a fetch withdraws that key must
// not land in the cache after the cache was flushed for the withdrawal:
// otherwise it passes from the cache until its exp (which a token forged
// with a leaked key sets as it likes).
func TestJWKSWithdrawalDuringVerify(t *testing.T) {
	s := newKeyServer(t, modeUp)
	oldKey := remoteKey(t, token.ES256, "")
	newKey := remoteKey(t, token.ES256, "")
	s.publish(t, []*token.Key{oldKey, newKey})
	var v *middleware.JWKSVerifier
	var calls atomic.Int64
	var armed atomic.Bool
	v = newJWKS(t, s, func(c *middleware.JWKSConfig) {
		c.MinRefreshInterval = time.Nanosecond
		// The verifier reads the clock once on entry and once more to check
		// the claims, after the signature: that second read is where the
		// withdrawal is made to happen.
		c.Now = func() time.Time {
			if armed.Load() && calls.Add(1) == 2 {
				armed.Store(false)
				s.publish(t, []*token.Key{newKey})
				_, err := v.Verify(context.Background(), remoteToken(t, remoteKey(t, token.ES256, ""), s.URL))
				wantIs(t, err, middleware.ErrInvalidToken)
			}
			return time.Now()
		}
	})
	oldTok := remoteToken(t, oldKey, s.URL)
	armed.Store(true)
	// This one may pass: it was checked against the set of its time.
	v.Verify(context.Background(), oldTok)
	if armed.Load() {
		t.Fatal("the withdrawal was not injected")
	}
	_, err := v.Verify(context.Background(), oldTok)
	wantIs(t, err, middleware.ErrInvalidToken)
}
