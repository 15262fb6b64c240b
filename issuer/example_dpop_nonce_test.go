package issuer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// Example_dpopNonce requires DPoP server nonces at the token endpoint
// (RFC 9449 §8): the first proof is refused with use_dpop_nonce and a
// DPoP-Nonce header, and the client retries with a proof carrying it.
func Example_dpopNonce() {
	iss, err := issuer.New(issuer.Config{
		Issuer: "https://auth.example.com",
		Store:  memory.New(),
		DPoP: issuer.DPoPConfig{Enabled: true, RequireNonce: true,
			// In production: 32 or more random bytes from your secret
			// store, the same on every replica.
			NonceSecret: []byte("an example secret, 32 bytes long")},
	})
	if err != nil {
		log.Fatal(err)
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{})
	if err != nil {
		log.Fatal(err)
	}

	// The client's DPoP key, and a proof for the token request.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	proof := func(nonce string) string {
		claims := jwt.MapClaims{"jti": rand.Text(), "htm": "POST",
			"htu": "https://auth.example.com/oauth/token", "iat": time.Now().Unix()}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		p := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		p.Header["typ"] = "dpop+jwt"
		p.Header["jwk"] = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub)}
		s, _ := p.SignedString(priv)
		return s
	}
	send := func(nonce string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(c.ID, secret)
		r.Header.Set("DPoP", proof(nonce))
		w := httptest.NewRecorder()
		iss.Handler().ServeHTTP(w, r)
		return w
	}
	var body struct {
		Error     string `json:"error"`
		TokenType string `json:"token_type"`
	}

	w := send("")
	json.Unmarshal(w.Body.Bytes(), &body)
	nonce := w.Header().Get("DPoP-Nonce")
	fmt.Println(w.Code, body.Error, nonce != "")

	// The retry carries the nonce.
	w = send(nonce)
	json.Unmarshal(w.Body.Bytes(), &body)
	fmt.Println(w.Code, body.TokenType)
	// Output:
	// 400 use_dpop_nonce true
	// 200 DPoP
}
