package httpauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

func ExampleMount() {
	ctx := context.Background()
	iss, err := issuer.New(issuer.Config{
		Issuer: "https://api.example.com",
		Store:  memory.New(), // sqlstore or redisstore to share state between replicas
		Scopes: []string{"reports:read", "reports:write"},
	})
	if err != nil {
		panic(err)
	}
	client, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{Name: "reporting", Scopes: []string{"reports:read"}})
	if err != nil {
		panic(err)
	}

	// Client tokens with "reports:read" reach /v1/reports; deleting needs
	// "reports:write" too, which this client may not have.
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"reports:read"}})
	if err != nil {
		panic(err)
	}
	reports := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpauth.Principal(r)
		fmt.Fprintf(w, "reports for %s", p.Subject)
	})
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("GET /v1/reports", httpauth.Protect(guard, reports))
	mux.Handle("DELETE /v1/reports", httpauth.Require(guard, "reports:write")(reports))
	mux.Handle("/", http.NotFoundHandler()) // the application's own routes stay its own

	// The client gets a token (RFC 6749 client credentials, HTTP Basic)...
	form := url.Values{"grant_type": {"client_credentials"}}
	r := httptest.NewRequest("POST", iss.Paths().Token, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(client.ID, secret)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(w.Body).Decode(&tok); err != nil {
		panic(err)
	}
	fmt.Println("token endpoint:", w.Code, tok.TokenType)

	// ...and presents it.
	for _, method := range []string{"GET", "DELETE"} {
		r := httptest.NewRequest(method, "/v1/reports", nil)
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(method, w.Code, strings.ReplaceAll(w.Body.String(), client.ID, "<client>"))
	}
	// Output:
	// token endpoint: 200 Bearer
	// GET 200 reports for <client>
	// DELETE 403 {"error":"insufficient_scope","error_description":"the access token lacks a required scope"}
}
