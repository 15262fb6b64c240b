package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// dpopServer is an issuer with DPoP and a guarded GET /v1/data whose guard
// checks proofs against the issuer's store.
type dpopServer struct {
	srv           *httptest.Server
	iss           *issuer.Issuer
	id, secret    string
	plainGuardURL string // a route whose guard has no DPoP config
}

func newDPoPServer(t *testing.T) *dpopServer {
	return newDPoPServerWith(t, issuer.DPoPConfig{}, middleware.DPoPConfig{})
}

// newDPoPServerWith is newDPoPServer with DPoP configs (Enabled and the
// guard's Nonces are set for you).
func newDPoPServerWith(t *testing.T, ic issuer.DPoPConfig, gc middleware.DPoPConfig) *dpopServer {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	st := memory.New()
	ic.Enabled = true
	iss, err := issuer.New(issuer.Config{Issuer: srv.URL, Store: st, Logger: slog.New(slog.DiscardHandler),
		DPoP: ic})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", iss.Handler())
	gc.Nonces = store.Nonces(st)
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Logger: slog.New(slog.DiscardHandler),
		DPoP: &gc})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.Handle("GET /v1/data", httpauth.Middleware(guard)(ok))
	mux.Handle("GET /v1/plain", httpauth.Middleware(plain)(ok))
	c, secret, err := iss.CreateClient(t.Context(), issuer.ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	return &dpopServer{srv: srv, iss: iss, id: c.ID, secret: secret, plainGuardURL: srv.URL + "/v1/plain"}
}

// dpopKey makes proofs with golang-jwt.
type dpopKey struct{ priv *ecdsa.PrivateKey }

func newDPoPKey() *dpopKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &dpopKey{k}
}

func (k *dpopKey) proof(t *testing.T, method, htu, accessToken string, mod func(h, c map[string]any)) string {
	t.Helper()
	pub, _ := k.priv.PublicKey.ECDH()
	raw := pub.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	claims := jwt.MapClaims{"jti": rand.Text(), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64(sum[:])
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
	if mod != nil {
		mod(tok.Header, claims)
	}
	var signer crypto.Signer = k.priv
	s, err := tok.SignedString(signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *dpopServer) token(t *testing.T, proof string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(s.id), url.QueryEscape(s.secret))
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func call(t *testing.T, u, auth, proof string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", auth)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

func TestDPoP(t *testing.T) {
	s := newDPoPServer(t)
	k := newDPoPKey()
	tokenURL, dataURL := s.srv.URL+"/oauth/token", s.srv.URL+"/v1/data"

	status, body := s.token(t, k.proof(t, "POST", tokenURL, "", nil))
	if status != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("token with a proof: %d %v", status, body)
	}
	at := body["access_token"].(string)

	if got, _ := call(t, dataURL, "DPoP "+at, k.proof(t, "GET", dataURL, at, nil)); got != http.StatusOK {
		t.Fatalf("bound token with its proof: %d", got)
	}
	proof := k.proof(t, "GET", dataURL, at, nil)
	call(t, dataURL, "DPoP "+at, proof)
	for name, c := range map[string]struct{ auth, proof, url string }{
		"replayed proof":       {"DPoP " + at, proof, dataURL},
		"as a bearer token":    {"Bearer " + at, "", dataURL},
		"bearer with a proof":  {"Bearer " + at, k.proof(t, "GET", dataURL, at, nil), dataURL},
		"no proof":             {"DPoP " + at, "", dataURL},
		"another key":          {"DPoP " + at, newDPoPKey().proof(t, "GET", dataURL, at, nil), dataURL},
		"wrong method":         {"DPoP " + at, k.proof(t, "POST", dataURL, at, nil), dataURL},
		"wrong url":            {"DPoP " + at, k.proof(t, "GET", s.srv.URL+"/v1/other", at, nil), dataURL},
		"no ath":               {"DPoP " + at, k.proof(t, "GET", dataURL, "", nil), dataURL},
		"ath of another token": {"DPoP " + at, k.proof(t, "GET", dataURL, "x", nil), dataURL},
		"old proof": {"DPoP " + at, k.proof(t, "GET", dataURL, at, func(_, c map[string]any) {
			c["iat"] = time.Now().Add(-10 * time.Minute).Unix()
		}), dataURL},
		"hmac proof": {"DPoP " + at, func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"jti": "h", "htm": "GET", "htu": dataURL, "iat": time.Now().Unix()})
			tok.Header["typ"] = "dpop+jwt"
			s, _ := tok.SignedString([]byte("0123456789abcdef0123456789abcdef"))
			return s
		}(), dataURL},
		"wrong typ":                    {"DPoP " + at, k.proof(t, "GET", dataURL, at, func(h, _ map[string]any) { h["typ"] = "JWT" }), dataURL},
		"guard without DPoP":           {"DPoP " + at, k.proof(t, "GET", s.plainGuardURL, at, nil), s.plainGuardURL},
		"bearer at guard without DPoP": {"Bearer " + at, "", s.plainGuardURL},
	} {
		if got, challenge := call(t, c.url, c.auth, c.proof); got != http.StatusUnauthorized {
			t.Errorf("%s: status %d (%s), want 401", name, got, challenge)
		}
	}
	if _, challenge := call(t, dataURL, "DPoP "+at, proof); !strings.HasPrefix(challenge, `DPoP algs="ES256 EdDSA RS256", error="invalid_dpop_proof"`) {
		t.Errorf("replayed proof: challenge %q", challenge)
	}

	// A bearer token (no proof at the token endpoint) is refused with the
	// DPoP scheme.
	_, body = s.token(t, "")
	if body["token_type"] != "Bearer" {
		t.Fatalf("token without a proof: %v", body)
	}
	bt := body["access_token"].(string)
	if got, _ := call(t, dataURL, "DPoP "+bt, k.proof(t, "GET", dataURL, bt, nil)); got != http.StatusUnauthorized {
		t.Errorf("unbound token with the DPoP scheme: %d, want 401", got)
	}
	if got, _ := call(t, dataURL, "Bearer "+bt, ""); got != http.StatusOK {
		t.Errorf("unbound token as a bearer token: %d, want 200", got)
	}

	// The token endpoint refuses a bad or replayed proof.
	tp := k.proof(t, "POST", tokenURL, "", nil)
	s.token(t, tp)
	for name, p := range map[string]string{
		"replayed":   tp,
		"wrong htu":  k.proof(t, "POST", dataURL, "", nil),
		"wrong htm":  k.proof(t, "GET", tokenURL, "", nil),
		"not a JWT":  "nonsense",
		"future iat": k.proof(t, "POST", tokenURL, "", func(_, c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }),
	} {
		if status, body := s.token(t, p); status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
			t.Errorf("token with a %s proof: %d %v, want 400 invalid_dpop_proof", name, status, body)
		}
	}

	// The metadata advertises it.
	mresp, err := http.Get(s.srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	json.NewDecoder(mresp.Body).Decode(&meta)
	mresp.Body.Close()
	if algs, _ := json.Marshal(meta["dpop_signing_alg_values_supported"]); string(algs) != `["ES256","EdDSA","RS256"]` {
		t.Errorf("dpop_signing_alg_values_supported = %s", algs)
	}

	// Introspection tells a resource server about the binding.
	form := url.Values{"token": {at}}
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/oauth/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.id, s.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	json.NewDecoder(resp.Body).Decode(&in)
	resp.Body.Close()
	if cnf, _ := in["cnf"].(map[string]any); in["token_type"] != "DPoP" || cnf["jkt"] == nil {
		t.Errorf("introspection of a bound token: %v", in)
	}
}

func TestDPoPRequired(t *testing.T) {
	s := newDPoPServer(t)
	c, secret, err := s.iss.CreateClient(t.Context(), issuer.ClientSpec{RequireDPoP: true})
	if err != nil {
		t.Fatal(err)
	}
	s.id, s.secret = c.ID, secret
	if status, body := s.token(t, ""); status != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Errorf("required client without a proof: %d %v", status, body)
	}
	if status, body := s.token(t, newDPoPKey().proof(t, "POST", s.srv.URL+"/oauth/token", "", nil)); status != http.StatusOK || body["token_type"] != "DPoP" {
		t.Errorf("required client with a proof: %d %v", status, body)
	}
}

// TestDPoPWithNodeClient: the dpop package, a real DPoP client, against
// the issuer and the guard.
func TestDPoPWithNodeClient(t *testing.T) {
	dir := jsClient(t)
	for _, c := range []struct {
		alg    string
		nonces bool
	}{{"ES256", false}, {"RS256", false}, {"ES256", true}} {
		name := c.alg
		if c.nonces {
			name += "/nonces"
		}
		alg := c.alg
		t.Run(name, func(t *testing.T) {
			s := newDPoPServer(t)
			if c.nonces {
				// Both servers require nonces, under one secret: each
				// refuses the client's first proof, which retries.
				s = newDPoPServerWith(t, issuer.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA},
					middleware.DPoPConfig{RequireNonce: true, NonceSecret: nonceSecretA})
			}
			cmd := exec.Command("node", "dpop-client.mjs", s.srv.URL+"/oauth/token", s.srv.URL+"/v1/data", s.id, s.secret, alg)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			var got struct {
				JKT, AccessToken                    string
				TokenStatus                         int
				TokenType                           string
				Call, Once, Replay, AsBearer, Fresh int
				TokenRetries, CallRetries           int
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("node output %q: %v", out, err)
			}
			if got.TokenStatus != 200 || got.TokenType != "DPoP" || got.Call != 200 || got.Once != 200 || got.Replay != 401 || got.AsBearer != 401 || got.Fresh != 200 {
				t.Errorf("dpop client: %+v; want token 200 DPoP, call 200, proof once 200, replay 401, as bearer 401, fresh proof 200", got)
			}
			// With nonces, one use_dpop_nonce each from the token endpoint
			// and the guard; after that the guard's DPoP-Nonce on its
			// answers keeps the client current.
			if want := map[bool]int{false: 0, true: 1}[c.nonces]; got.TokenRetries != want || got.CallRetries != want {
				t.Errorf("retries on use_dpop_nonce: token %d, calls %d; want %d each", got.TokenRetries, got.CallRetries, want)
			}
			var claims struct {
				Cnf struct{ JKT string } `json:"cnf"`
			}
			if _, _, err := jwt.NewParser().ParseUnverified(got.AccessToken, jwt.MapClaims{}); err != nil {
				t.Fatal(err)
			}
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(got.AccessToken, ".")[1])
			json.Unmarshal(payload, &claims)
			if claims.Cnf.JKT == "" || claims.Cnf.JKT != got.JKT {
				t.Errorf("cnf.jkt %q, jose's thumbprint of the key %q", claims.Cnf.JKT, got.JKT)
			}
		})
	}
}
