package issuer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// Example_privateKeyJWT registers a client by its public key and gets a
// token with an assertion signed by the private key (RFC 7523 §2.2): no
// secret is ever shared.
func Example_privateKeyJWT() {
	ctx := context.Background()
	iss, err := issuer.New(issuer.Config{
		Issuer:        "https://auth.example.com",
		Store:         memory.New(),
		PrivateKeyJWT: issuer.PrivateKeyJWTConfig{Enabled: true},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The client makes a key pair and hands over the public half only.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwks := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"k1","x":%q}]}`,
		base64.RawURLEncoding.EncodeToString(pub))
	c, _, err := iss.CreateClient(ctx, issuer.ClientSpec{JWKS: []byte(jwks)})
	if err != nil {
		log.Fatal(err)
	}

	// Each token request carries a fresh assertion.
	a := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": c.ID, "sub": c.ID, "aud": "https://auth.example.com/oauth/token",
		"exp": time.Now().Add(time.Minute).Unix(), "jti": "a-unique-id",
	})
	a.Header["kid"] = "k1"
	assertion, _ := a.SignedString(priv)

	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {issuer.AssertionTypeJWTBearer},
		"client_assertion":      {assertion},
	}
	send := func() int {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		iss.Handler().ServeHTTP(w, r)
		return w.Code
	}
	fmt.Println("first use:", send())
	fmt.Println("replayed: ", send())
	// Output:
	// first use: 200
	// replayed:  401
}
