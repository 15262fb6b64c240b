package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

var (
	nonceSecretA = []byte("nonce secret A: 32 bytes or more, shared by replicas")
	nonceSecretB = []byte("nonce secret B: another deployment's, just as long")
)

// nonceResponse is what a test reads of an answer.
type nonceResponse struct {
	status             int
	error, nonce       string
	challenge, caching string
	body               map[string]any
}

func (s *dpopServer) tokenResponse(t *testing.T, proof string) nonceResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(s.id), url.QueryEscape(s.secret))
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return send(t, req)
}

func callResponse(t *testing.T, u, auth, proof string) nonceResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", auth)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) nonceResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	e, _ := body["error"].(string)
	return nonceResponse{status: resp.StatusCode, error: e, nonce: resp.Header.Get("DPoP-Nonce"),
		challenge: resp.Header.Get("WWW-Authenticate"), caching: resp.Header.Get("Cache-Control"), body: body}
}

// withNonce sets a proof's nonce claim.
func withNonce(n string) func(h, c map[string]any) {
	return func(_, c map[string]any) { c["nonce"] = n }
}

// TestDPoPNonce: RFC 9449 §8 at the token endpoint and §9 at the guard,
// with proofs made by golang-jwt: every way a nonce can be wrong is
// use_dpop_nonce with a fresh nonce; the nonce given is accepted; a bad
// proof stays invalid_dpop_proof whatever its nonce.
func TestDPoPNonce(t *testing.T) {
	const window = time.Hour
	s := newDPoPServerWith(t, issuer.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA, NonceWindow: window},
		middleware.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA, NonceWindow: window})
	k := newDPoPKey()
	tokenURL, dataURL := s.srv.URL+"/oauth/token", s.srv.URL+"/v1/data"
	nonces := func(secret []byte, label string) *token.DPoPNonces {
		n, err := token.NewDPoPNonces(secret, label, window)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	asA, rsA := nonces(nonceSecretA, token.NonceAuthorizationServer), nonces(nonceSecretA, token.NonceResourceServer)
	asB, rsB := nonces(nonceSecretB, token.NonceAuthorizationServer), nonces(nonceSecretB, token.NonceResourceServer)
	now := time.Now()

	// The token endpoint.
	first := s.tokenResponse(t, k.proof(t, "POST", tokenURL, "", nil))
	if first.status != http.StatusBadRequest || first.error != "use_dpop_nonce" || first.nonce == "" || first.caching != "no-store" {
		t.Fatalf("token request without a nonce: %+v; want 400 use_dpop_nonce, a DPoP-Nonce, no-store", first)
	}
	for name, n := range map[string]string{
		"stale nonce":                      asA.Current(now.Add(-2 * window)),
		"forged nonce":                     strings.Repeat("A", 32),
		"junk nonce":                       "\"; drop table",
		"nonce of another secret":          asB.Current(now),
		"the guard's nonce":                rsA.Current(now),
		"nonce from too far in the future": asA.Current(now.Add(3 * window)),
	} {
		got := s.tokenResponse(t, k.proof(t, "POST", tokenURL, "", withNonce(n)))
		if got.status != http.StatusBadRequest || got.error != "use_dpop_nonce" || got.nonce != first.nonce && got.nonce != asA.Current(time.Now()) {
			t.Errorf("token request with a %s: %+v; want 400 use_dpop_nonce with the current nonce", name, got)
		}
	}
	if got := s.tokenResponse(t, k.proof(t, "GET", tokenURL, "", withNonce(first.nonce))); got.error != "invalid_dpop_proof" || got.nonce != "" {
		t.Errorf("a bad proof with a good nonce: %+v; want invalid_dpop_proof and no nonce", got)
	}
	ok := s.tokenResponse(t, k.proof(t, "POST", tokenURL, "", withNonce(first.nonce)))
	if ok.status != http.StatusOK || ok.body["token_type"] != "DPoP" {
		t.Fatalf("token request with the nonce given: %+v", ok)
	}
	// A nonce of the window before is still good, and the answer brings
	// the current one.
	prev := asA.Current(time.Now().Add(-window))
	if got := s.tokenResponse(t, k.proof(t, "POST", tokenURL, "", withNonce(prev))); got.status != http.StatusOK || got.nonce != asA.Current(time.Now()) {
		t.Errorf("token request with the previous window's nonce: %+v; want 200 with the current nonce", got)
	}
	at := ok.body["access_token"].(string)

	// The guard.
	auth := "DPoP " + at
	refused := callResponse(t, dataURL, auth, k.proof(t, "GET", dataURL, at, nil))
	if refused.status != http.StatusUnauthorized || refused.nonce == "" ||
		!strings.HasPrefix(refused.challenge, `DPoP algs="ES256 EdDSA RS256", error="use_dpop_nonce", error_description="`) {
		t.Fatalf("call without a nonce: %+v; want 401 with a DPoP use_dpop_nonce challenge and a DPoP-Nonce", refused)
	}
	if refused.nonce == first.nonce {
		t.Error("the guard hands out the issuer's nonce")
	}
	for name, n := range map[string]string{
		"stale nonce":             rsA.Current(now.Add(-2 * window)),
		"forged nonce":            strings.Repeat("_", 32),
		"nonce of another secret": rsB.Current(now),
		"the issuer's nonce":      first.nonce,
	} {
		got := callResponse(t, dataURL, auth, k.proof(t, "GET", dataURL, at, withNonce(n)))
		if got.status != http.StatusUnauthorized || !strings.Contains(got.challenge, `error="use_dpop_nonce"`) || got.nonce == "" {
			t.Errorf("call with a %s: %+v; want 401 use_dpop_nonce with a nonce", name, got)
		}
	}
	if got := callResponse(t, dataURL, auth, newDPoPKey().proof(t, "GET", dataURL, at, withNonce(refused.nonce))); !strings.Contains(got.challenge, `error="invalid_dpop_proof"`) || got.nonce != "" {
		t.Errorf("another key's proof with a good nonce: %+v; want invalid_dpop_proof and no nonce", got)
	}
	if got := callResponse(t, dataURL, auth, k.proof(t, "GET", dataURL, at, withNonce(refused.nonce))); got.status != http.StatusOK || got.nonce != rsA.Current(time.Now()) {
		t.Errorf("call with the nonce given: %+v; want 200 with the current nonce", got)
	}

	// A bearer token needs no proof, so no nonce, and gets none.
	bearer := s.tokenResponse(t, "")
	if bearer.status != http.StatusOK || bearer.body["token_type"] != "Bearer" {
		t.Fatalf("token request without DPoP: %+v", bearer)
	}
	if got := callResponse(t, dataURL, "Bearer "+bearer.body["access_token"].(string), ""); got.status != http.StatusOK || got.nonce != "" {
		t.Errorf("bearer call: %+v; want 200 without a nonce", got)
	}
}

// TestDPoPNonceConfig: a nonce needs a secret every replica shares; the
// issuer falls back on its pepper, the guard on nothing.
func TestDPoPNonceConfig(t *testing.T) {
	cfg := func(d issuer.DPoPConfig, pepper []byte) issuer.Config {
		return issuer.Config{Issuer: "https://issuer.example", Store: memory.New(), DPoP: d, Pepper: pepper}
	}
	for name, c := range map[string]struct {
		cfg issuer.Config
		ok  bool
	}{
		"secret":            {cfg(issuer.DPoPConfig{Enabled: true, RequireNonce: true, NonceSecret: nonceSecretA}, nil), true},
		"pepper":            {cfg(issuer.DPoPConfig{Enabled: true, RequireNonce: true}, []byte("pepper")), true},
		"neither":           {cfg(issuer.DPoPConfig{Enabled: true, RequireNonce: true}, nil), false},
		"short secret":      {cfg(issuer.DPoPConfig{Enabled: true, RequireNonce: true, NonceSecret: nonceSecretA[:31]}, nil), false},
		"DPoP off":          {cfg(issuer.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA}, nil), false},
		"sub-second window": {cfg(issuer.DPoPConfig{Enabled: true, RequireNonce: true, NonceSecret: nonceSecretA, NonceWindow: time.Millisecond}, nil), false},
	} {
		if _, err := issuer.New(c.cfg); (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok %v", name, err, c.ok)
		}
	}
	iss, err := issuer.New(cfg(issuer.DPoPConfig{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		d  middleware.DPoPConfig
		ok bool
	}{
		"secret":       {middleware.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA}, true},
		"no secret":    {middleware.DPoPConfig{RequireNonce: true}, false},
		"short secret": {middleware.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA[:31]}, false},
		"bad window":   {middleware.DPoPConfig{NonceWindow: -time.Second}, false},
	} {
		if _, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), DPoP: &c.d}); (err == nil) != c.ok {
			t.Errorf("guard %s: err %v, want ok %v", name, err, c.ok)
		}
	}
}
