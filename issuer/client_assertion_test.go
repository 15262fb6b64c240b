package issuer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
)

// assertionKey is a client's key pair with its public JWK.
type assertionKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	priv   crypto.Signer
	jwk    map[string]string
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newAssertionKey(t testing.TB, kid, alg string) *assertionKey {
	t.Helper()
	k := &assertionKey{kid: kid, alg: alg}
	switch alg {
	case "ES256":
		p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, _ := p.PublicKey.ECDH()
		raw := pub.Bytes() // 0x04 || X || Y
		k.priv, k.method = p, jwt.SigningMethodES256
		k.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
	case "EdDSA":
		pub, p, _ := ed25519.GenerateKey(rand.Reader)
		k.priv, k.method = p, jwt.SigningMethodEdDSA
		k.jwk = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}
	case "RS256":
		p, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.priv, k.method = p, jwt.SigningMethodRS256
		k.jwk = map[string]string{"kty": "RSA", "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	default:
		t.Fatalf("no such algorithm %q", alg)
	}
	if kid != "" {
		k.jwk["kid"] = kid
	}
	k.jwk["alg"] = alg
	return k
}

// jwks returns the JWK Set of keys.
func jwks(keys ...*assertionKey) []byte {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk)
	}
	b, _ := json.Marshal(set)
	return b
}

// sign makes an assertion with claims and the key's kid in the header.
func (k *assertionKey) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var jtiSeq atomic.Int64

// claimsFor are the claims of a good assertion of client id at now.
func claimsFor(id string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": id, "sub": id, "aud": testIssuer + "/oauth/token",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
		"jti": "jti-" + string(rune('a'+jtiSeq.Add(1)%26)) + time.Now().Format("150405.000000000"),
	}
}

func assertionForm(assertion string, kv ...string) string {
	return form(append([]string{"grant_type", "client_credentials",
		"client_assertion_type", issuer.AssertionTypeJWTBearer, "client_assertion", assertion}, kv...)...)
}

func newAssertionEnv(t *testing.T) *env {
	return newEnv(t, false, func(c *issuer.Config) { c.PrivateKeyJWT.Enabled = true })
}

func TestPrivateKeyJWT(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			e := newAssertionEnv(t)
			k := newAssertionKey(t, "k1", alg)
			id, secret := e.client(issuer.ClientSpec{JWKS: jwks(k)})
			if secret != "" {
				t.Fatalf("a client with keys got a secret %q", secret)
			}
			tr := decodeToken(t, e.do(req{body: assertionForm(k.sign(t, claimsFor(id, e.clock.Now())))}))
			p, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken)
			if err != nil || p.ClientID != id {
				t.Fatalf("token of an assertion: %v, %v", p, err)
			}
			// client_id may be sent as well, and must agree.
			decodeToken(t, e.do(req{body: assertionForm(k.sign(t, claimsFor(id, e.clock.Now())), "client_id", id)}))
		})
	}
}

func TestPrivateKeyJWTRefused(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.PrivateKeyJWT.Enabled = true
		c.RateLimit.PerClient, c.RateLimit.PerAddress = 1000, 1000 // every case fails on purpose
	})
	k := newAssertionKey(t, "k1", "ES256")
	id, _ := e.client(issuer.ClientSpec{JWKS: jwks(k)})
	other := newAssertionKey(t, "k1", "ES256") // same kid, another key
	secretID, secret := e.client(issuer.ClientSpec{})
	now := e.clock.Now()
	mod := func(f func(c jwt.MapClaims)) jwt.MapClaims {
		c := claimsFor(id, now)
		f(c)
		return c
	}
	hmacWithPublic := func() string {
		// Algorithm confusion: HS256 keyed with the public key's bytes.
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsFor(id, now))
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString([]byte(k.jwk["x"] + k.jwk["y"]))
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claimsFor(id, now))
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}
	crit := func() string {
		tok := jwt.NewWithClaims(k.method, claimsFor(id, now))
		tok.Header["kid"], tok.Header["crit"], tok.Header["exp"] = "k1", []string{"exp"}, 1
		s, _ := tok.SignedString(k.priv)
		return s
	}
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"other key", assertionForm(other.sign(t, claimsFor(id, now))), 401, "invalid_client"},
		{"unknown kid", assertionForm((&assertionKey{kid: "k2", method: k.method, priv: k.priv}).sign(t, claimsFor(id, now))), 401, "invalid_client"},
		{"hmac with the public key", assertionForm(hmacWithPublic()), 401, "invalid_client"},
		{"alg none", assertionForm(none()), 401, "invalid_client"},
		{"crit header", assertionForm(crit()), 401, "invalid_client"},
		{"iss differs", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["iss"] = "someone" }))), 401, "invalid_client"},
		{"sub differs", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["sub"] = secretID })), "client_id", id), 401, "invalid_client"},
		{"client_id differs", assertionForm(k.sign(t, claimsFor(id, now)), "client_id", secretID), 401, "invalid_client"},
		{"wrong aud", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["aud"] = "https://elsewhere.example" }))), 401, "invalid_client"},
		{"no exp", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { delete(c, "exp") }))), 401, "invalid_client"},
		{"expired", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }))), 401, "invalid_client"},
		{"exp too far", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() }))), 401, "invalid_client"},
		{"exp as string", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["exp"] = "4102444800" }))), 401, "invalid_client"},
		{"iat in the future", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }))), 401, "invalid_client"},
		{"no jti", assertionForm(k.sign(t, mod(func(c jwt.MapClaims) { delete(c, "jti") }))), 401, "invalid_client"},
		{"garbage", assertionForm("not.a.jwt"), 401, "invalid_client"},
		{"overlong", assertionForm(strings.Repeat("a", 9000)), 401, "invalid_client"},
		{"wrong assertion type", form("grant_type", "client_credentials", "client_assertion_type", "urn:x", "client_assertion", k.sign(t, claimsFor(id, now))), 401, "invalid_client"},
		{"missing assertion", form("grant_type", "client_credentials", "client_assertion_type", issuer.AssertionTypeJWTBearer), 400, "invalid_request"},
		{"assertion and secret", assertionForm(k.sign(t, claimsFor(id, now)), "client_secret", "x"), 400, "invalid_request"},
		{"secret client's own assertion", assertionForm(k.sign(t, claimsFor(secretID, now))), 401, "invalid_client"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := e.do(req{body: c.body})
			var body struct{ Error string }
			json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != c.status || body.Error != c.code {
				t.Errorf("status %d, body %s; want %d %s", rec.Code, rec.Body, c.status, c.code)
			}
		})
	}
	// Both methods in one request: Basic and an assertion.
	rec := e.do(req{body: assertionForm(k.sign(t, claimsFor(id, now))), header: map[string]string{"Authorization": basic(secretID, secret)}})
	if rec.Code != http.StatusBadRequest {
		t.Errorf("Basic and an assertion: status %d, want 400", rec.Code)
	}
	// The keyed client has no secret: not even one a caller tries to set.
	if _, err := e.iss.RotateClient(t.Context(), id); !errors.Is(err, issuer.ErrInvalidClientSpec) {
		t.Errorf("RotateClient of a keyed client: %v, want ErrInvalidClientSpec", err)
	}
}

func TestPrivateKeyJWTReplay(t *testing.T) {
	e := newAssertionEnv(t)
	k := newAssertionKey(t, "k1", "EdDSA")
	id, _ := e.client(issuer.ClientSpec{JWKS: jwks(k)})
	a := k.sign(t, claimsFor(id, e.clock.Now()))
	decodeToken(t, e.do(req{body: assertionForm(a)}))
	if rec := e.do(req{body: assertionForm(a)}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("replayed assertion: status %d, body %s; want 401", rec.Code, rec.Body)
	}
	// A second issuer over the same store (another replica) refuses it too.
	cfg := e.cfg
	other, err := issuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hr := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(assertionForm(a)))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	other.Handler().ServeHTTP(rec, hr)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("assertion replayed at another replica: status %d, want 401", rec.Code)
	}
}

func TestPrivateKeyJWTSetClientKeys(t *testing.T) {
	e := newAssertionEnv(t)
	old, next := newAssertionKey(t, "old", "ES256"), newAssertionKey(t, "new", "ES256")
	id, secret := e.client(issuer.ClientSpec{})
	tr := e.getToken(id, secret)
	if err := e.iss.SetClientKeys(t.Context(), id, jwks(old), ""); err != nil {
		t.Fatal(err)
	}
	// The secret stops working and its tokens die.
	if rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("secret after SetClientKeys: status %d, want 401", rec.Code)
	}
	if _, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken); err == nil {
		t.Error("a token of the secret survived SetClientKeys")
	}
	tr = decodeToken(t, e.do(req{body: assertionForm(old.sign(t, claimsFor(id, e.clock.Now())))}))
	if err := e.iss.SetClientKeys(t.Context(), id, jwks(next), ""); err != nil {
		t.Fatal(err)
	}
	if rec := e.do(req{body: assertionForm(old.sign(t, claimsFor(id, e.clock.Now())))}); rec.Code != http.StatusUnauthorized {
		t.Errorf("old key after SetClientKeys: status %d, want 401", rec.Code)
	}
	if _, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken); err == nil {
		t.Error("a token of the old key survived SetClientKeys")
	}
	decodeToken(t, e.do(req{body: assertionForm(next.sign(t, claimsFor(id, e.clock.Now())))}))
}

func TestPrivateKeyJWTRemoteKeys(t *testing.T) {
	k1, k2 := newAssertionKey(t, "k1", "ES256"), newAssertionKey(t, "k2", "EdDSA")
	var served atomic.Pointer[[]byte]
	var fetches atomic.Int64
	set := jwks(k1)
	served.Store(&set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(*served.Load())
	}))
	defer srv.Close()
	e := newAssertionEnv(t)
	id, _ := e.client(issuer.ClientSpec{JWKSURI: srv.URL + "/jwks"})
	for range 3 {
		decodeToken(t, e.do(req{body: assertionForm(k1.sign(t, claimsFor(id, e.clock.Now())))}))
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for three assertions, want 1 (cached)", n)
	}
	// The client rotates its key: an unknown kid fetches again, but not
	// more often than MinJWKSRefresh.
	set2 := jwks(k2)
	served.Store(&set2)
	if rec := e.do(req{body: assertionForm(k2.sign(t, claimsFor(id, e.clock.Now())))}); rec.Code != http.StatusUnauthorized {
		t.Errorf("new kid within MinJWKSRefresh: status %d, want 401", rec.Code)
	}
	e.clock.Advance(time.Minute)
	decodeToken(t, e.do(req{body: assertionForm(k2.sign(t, claimsFor(id, e.clock.Now())))}))
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestPrivateKeyJWTRemoteKeysBounded(t *testing.T) {
	k := newAssertionKey(t, "k1", "ES256")
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwks(k))
		w.Write([]byte(strings.Repeat(" ", 70<<10)))
	}))
	defer big.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, big.URL, http.StatusFound)
	}))
	defer redirect.Close()
	e := newAssertionEnv(t)
	for _, uri := range []string{big.URL, redirect.URL} {
		id, _ := e.client(issuer.ClientSpec{JWKSURI: uri})
		if rec := e.do(req{body: assertionForm(k.sign(t, claimsFor(id, e.clock.Now())))}); rec.Code != http.StatusUnauthorized {
			t.Errorf("keys at %s: status %d, want 401", uri, rec.Code)
		}
	}
}

func TestPrivateKeyJWTRegistration(t *testing.T) {
	e := newAssertionEnv(t)
	k := newAssertionKey(t, "k1", "ES256")
	noKid := newAssertionKey(t, "", "EdDSA")
	for name, spec := range map[string]issuer.ClientSpec{
		"symmetric":      {JWKS: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"}]}`)},
		"empty set":      {JWKS: []byte(`{"keys":[]}`)},
		"not json":       {JWKS: []byte(`{`)},
		"wrong alg":      {JWKS: []byte(strings.Replace(string(jwks(k)), `"ES256"`, `"RS256"`, 1))},
		"duplicate kid":  {JWKS: jwks(k, k)},
		"both":           {JWKS: jwks(k), JWKSURI: "https://client.example/jwks"},
		"with secret":    {JWKS: jwks(k), Secret: "pcs_chosen-secret-of-enough-length-0123456789"},
		"relative uri":   {JWKSURI: "/jwks"},
		"uri with creds": {JWKSURI: "https://u:p@client.example/jwks"},
	} {
		if _, _, err := e.iss.CreateClient(t.Context(), spec); !errors.Is(err, issuer.ErrInvalidClientSpec) {
			t.Errorf("%s: CreateClient: %v, want ErrInvalidClientSpec", name, err)
		}
	}
	// A set of one key without kid: assertions without kid use it.
	id, _ := e.client(issuer.ClientSpec{JWKS: jwks(noKid)})
	decodeToken(t, e.do(req{body: assertionForm(noKid.sign(t, claimsFor(id, e.clock.Now())))}))

	// Without Config.PrivateKeyJWT, keys are refused at registration and
	// assertions at the token endpoint.
	off := newEnv(t, false, nil)
	if _, _, err := off.iss.CreateClient(t.Context(), issuer.ClientSpec{JWKS: jwks(k)}); !errors.Is(err, issuer.ErrInvalidClientSpec) {
		t.Errorf("keys without PrivateKeyJWT: %v, want ErrInvalidClientSpec", err)
	}
	if rec := off.do(req{body: assertionForm(k.sign(t, claimsFor("c", off.clock.Now())))}); rec.Code != http.StatusUnauthorized {
		t.Errorf("assertion without PrivateKeyJWT: status %d, want 401", rec.Code)
	}
}

func TestPrivateKeyJWTMetadata(t *testing.T) {
	e := newAssertionEnv(t)
	rec := e.do(req{method: http.MethodGet, path: "/.well-known/oauth-authorization-server"})
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
		if !strings.Contains(jsonString(m[f]), `"private_key_jwt"`) {
			t.Errorf("%s = %v, want private_key_jwt listed", f, m[f])
		}
	}
	if got := jsonString(m["token_endpoint_auth_signing_alg_values_supported"]); got != `["ES256","EdDSA","RS256"]` {
		t.Errorf("token_endpoint_auth_signing_alg_values_supported = %s", got)
	}
	// A store without Nonces cannot remember jtis: a configuration error.
	if _, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: struct{ store.Store }{e.st}, PrivateKeyJWT: issuer.PrivateKeyJWTConfig{Enabled: true}}); err == nil {
		t.Error("PrivateKeyJWT over a store without Nonces: no error")
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Revocation and introspection take assertions too.
func TestPrivateKeyJWTIntrospection(t *testing.T) {
	e := newAssertionEnv(t)
	k := newAssertionKey(t, "k1", "ES256")
	id, _ := e.client(issuer.ClientSpec{JWKS: jwks(k)})
	tr := decodeToken(t, e.do(req{body: assertionForm(k.sign(t, claimsFor(id, e.clock.Now())))}))
	body := form("token", tr.AccessToken, "client_assertion_type", issuer.AssertionTypeJWTBearer,
		"client_assertion", k.sign(t, claimsFor(id, e.clock.Now())))
	rec := e.do(req{path: "/oauth/introspect", body: body})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
		t.Fatalf("introspection with an assertion: %d %s", rec.Code, rec.Body)
	}
}
