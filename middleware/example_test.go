package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// exampleSetup stands in for the issuer: in a real server, iss.Verifier()
// gives the verifier and the token endpoint mints the tokens.
func exampleSetup() (*middleware.LocalVerifier, func(scope string) string) {
	ctx := context.Background()
	st := memory.New()
	keys, err := token.NewKeyManager(ctx, token.KeyManagerConfig{Keys: st})
	if err != nil {
		panic(err)
	}
	verifier, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: "https://issuer.example", Keys: keys, Store: st})
	if err != nil {
		panic(err)
	}
	if err := st.CreateClient(ctx, &store.Client{ID: "reporting", Generation: 1}); err != nil {
		panic(err)
	}
	mint := func(scope string) string {
		ks, _ := keys.KeySet(ctx)
		now := time.Now()
		raw, err := ks.Sign(&token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "https://issuer.example", Subject: "reporting", ID: "t-" + scope,
				Audience:  jwt.ClaimStrings{"https://issuer.example"},
				IssuedAt:  jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			ClientID: "reporting", Scope: scope, Kind: token.KindClient, Generation: 1,
		})
		if err != nil {
			panic(err)
		}
		return raw
	}
	return verifier, mint
}

func ExampleGuard_Wrap() {
	verifier, mint := exampleSetup()

	// Every route under /v1/ needs a client token with the "reports:read"
	// scope; deleting needs "reports:write" too. Account tokens are refused
	// unless a guard asks for them with WithKinds.
	guard, err := middleware.New(middleware.Config{
		Verifier: verifier,
		Scopes:   []string{"reports:read"},
		Realm:    "reports",
	})
	if err != nil {
		panic(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("GET /v1/reports", guard.Wrap(api))
	mux.Handle("DELETE /v1/reports", guard.Require("reports:write").Wrap(api))

	call := func(method, authorization string) {
		r := httptest.NewRequest(method, "/v1/reports", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if c := w.Header().Get("WWW-Authenticate"); c != "" {
			fmt.Println(w.Code, c)
		} else {
			fmt.Println(w.Code, w.Body)
		}
	}
	call("GET", "")
	call("GET", "Bearer "+mint("reports:read"))
	call("DELETE", "Bearer "+mint("reports:read"))
	call("GET", "Bearer forged")
	// Output:
	// 401 Bearer realm="reports"
	// 200 ok
	// 403 Bearer realm="reports", error="insufficient_scope", error_description="the access token lacks a required scope", scope="reports:read reports:write"
	// 401 Bearer realm="reports", error="invalid_token", error_description="the access token is invalid"
}

func ExamplePrincipalFrom() {
	verifier, mint := exampleSetup()
	guard, err := middleware.New(middleware.Config{Verifier: verifier})
	if err != nil {
		panic(err)
	}
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The principal is there for every request the guard let through.
		// It may be shared by requests that present the same token: read
		// it, never modify it.
		p, ok := middleware.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "unguarded route", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s scopes=%v", p.Kind, p.Subject, p.Scopes)
	})
	r := httptest.NewRequest("GET", "/whoami", nil)
	r.Header.Set("Authorization", "Bearer "+mint("reports:read reports:write"))
	w := httptest.NewRecorder()
	guard.Wrap(whoami).ServeHTTP(w, r)
	fmt.Println(w.Body)
	// Output:
	// client reporting scopes=[reports:read reports:write]
}

// A handler that authenticates a request itself reads the bearer token as
// a guard would, and answers a malformed request with the guard's bytes.
func ExampleBearerToken() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := middleware.BearerToken(r)
		if err != nil {
			middleware.WriteError(w, r, err)
			return
		}
		fmt.Fprintf(w, "token of %d characters", len(raw))
	})
	for _, authorization := range []string{"Bearer abc.def.ghi", "Bearer two tokens", "Basic dXNlcjpwYXNz"} {
		r := httptest.NewRequest("POST", "/rotate", nil)
		r.Header.Set("Authorization", authorization)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), w.Body)
	}
	// Output:
	// 200  token of 11 characters
	// 400 Bearer error="invalid_request", error_description="the request must carry exactly one well-formed bearer token" {"error":"invalid_request","error_description":"the request must carry exactly one well-formed bearer token"}
	// 401 Bearer
}
