package tokensource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/tokensource"
)

// A customer's program calls an API whose token endpoint speaks the
// DataCrunch dialect. The source gets a token on the first request, reuses
// it, and renews it (with the refresh token the API issues) before it
// expires; the client puts it on every request.
func Example() {
	api, id, secret := startAPI() // the provider's side, here in-process
	defer api.Close()

	src, err := tokensource.New(tokensource.Config{
		TokenURL: api.URL + "/v1/oauth2/token",
		ClientID: id,
		// Keep the secret like a password: from the environment or a
		// secret store, never in source code or a URL.
		ClientSecret: secret,
		Dialect:      tokensource.DataCrunch(),
		Scopes:       []string{"fullAccess"},
	})
	if err != nil {
		log.Fatal(err)
	}
	client := src.Client()
	client.Timeout = 10 * time.Second // for the API calls; token requests have their own bound

	for range 3 { // one token request for the three calls
		resp, err := client.Get(api.URL + "/v1/balance")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.Status, " ", string(body))
	}
	// Output:
	// 200 OK {"amount":100,"currency":"usd"}
	// 200 OK {"amount":100,"currency":"usd"}
	// 200 OK {"amount":100,"currency":"usd"}
}

// Errors of the token endpoint carry its error code, and never the
// secret: tell a wrong secret (which retrying will not fix) from an
// outage.
func Example_errors() {
	api, id, _ := startAPI()
	defer api.Close()

	src, err := tokensource.New(tokensource.Config{
		TokenURL:     api.URL + "/v1/oauth2/token",
		ClientID:     id,
		ClientSecret: "a secret that was rotated away",
		Dialect:      tokensource.DataCrunch(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = src.TokenContext(ctx)
	var te *tokensource.Error
	switch {
	case errors.Is(err, tokensource.ErrInvalidClient):
		fmt.Println("the credentials are wrong:", err)
	case errors.As(err, &te):
		fmt.Println("refused:", te.StatusCode, te.Code)
	case err != nil:
		fmt.Println("the token endpoint did not answer:", err)
	}
	// Output:
	// the credentials are wrong: tokensource: token endpoint answered 401 invalid_client: client authentication failed
}

// startAPI serves a DataCrunch-style API, as examples/datacrunch does,
// and returns a client's id and secret.
func startAPI() (*httptest.Server, string, string) {
	quiet := slog.New(slog.DiscardHandler)
	iss, err := issuer.New(issuer.Config{
		Issuer:  "https://api.example.com",
		Store:   memory.New(),
		Dialect: issuer.DataCrunch(),
		Scopes:  []string{"fullAccess"},
		Refresh: issuer.RefreshConfig{Enabled: true},
		Paths:   issuer.Paths{Token: "/v1/oauth2/token"},
		Logger:  quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{})
	if err != nil {
		log.Fatal(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("GET /v1/balance", httpauth.Protect(guard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"amount": 100, "currency": "usd"})
	})))
	return httptest.NewServer(mux), c.ID, secret
}
