package issuer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// ExampleNew runs an issuer with the defaults (ES256 keys generated in the
// store, 1 h JWT access tokens, the OAuth 2.0 dialect) and gets a token
// the way any OAuth 2.0 client would.
func ExampleNew() {
	ctx := context.Background()
	iss, err := issuer.New(issuer.Config{
		// Use https in production: the secret travels in this request.
		Issuer: "https://auth.example.com",
		Store:  memory.New(),
		Scopes: []string{"read", "write"},
	})
	if err != nil {
		log.Fatal(err)
	}
	c, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{Scopes: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: form-encode id and secret before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	fmt.Println(resp.Status, resp.Header.Get("Cache-Control"))
	fmt.Println(tok.TokenType, tok.ExpiresIn, tok.Scope)

	// Resource servers verify with the issuer's Verifier (or its JWKS).
	p, err := iss.Verifier().Verify(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Kind, p.ClientID == c.ID, p.Scopes)
	// Output:
	// 200 OK no-store
	// Bearer 3600 read
	// client true [read]
}

// ExampleIssuer_CreateClient creates a client. The secret is returned once
// and only its hash is stored: hand it to the client now.
func ExampleIssuer_CreateClient() {
	iss, err := issuer.New(issuer.Config{Issuer: "https://auth.example.com", Store: memory.New()})
	if err != nil {
		log.Fatal(err)
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "billing"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(c.ID), c.Name)
	// Secrets have a prefix and a checksum, so scanners can spot a leak.
	fmt.Println(secret[:4], token.WellFormed(secret, token.PrefixClientSecret))
	// Output:
	// 32 billing
	// pcs_ true
}

// ExampleIssuer_RotateClient rotates a client's secret: tokens issued
// before are refused from then on.
func ExampleIssuer_RotateClient() {
	ctx := context.Background()
	iss, err := issuer.New(issuer.Config{Issuer: "https://auth.example.com", Store: memory.New()})
	if err != nil {
		log.Fatal(err)
	}
	c, _, _ := iss.CreateClient(ctx, issuer.ClientSpec{})
	secret, err := iss.RotateClient(ctx, c.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(token.WellFormed(secret, token.PrefixClientSecret))
	// Output:
	// true
}
