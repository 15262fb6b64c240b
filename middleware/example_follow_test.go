package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// A resource server that shares nothing with the issuer follows its change
// feed: a token issued before its client's secret was rotated is refused
// within the poll interval.
func ExampleFollowConfig() {
	ctx := context.Background()
	// The issuer, elsewhere.
	var iss *issuer.Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.Handler().ServeHTTP(w, r) }))
	defer srv.Close()
	iss, err := issuer.New(issuer.Config{Issuer: srv.URL, Store: memory.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	// The resource server's own client, made to introspect any token.
	rs, rsSecret, _ := iss.CreateClient(ctx, issuer.ClientSpec{IntrospectAny: true})
	app, appSecret, _ := iss.CreateClient(ctx, issuer.ClientSpec{})

	// The resource server.
	v, err := middleware.NewJWKSVerifier(ctx, middleware.JWKSConfig{
		Issuer: srv.URL,
		Follow: &middleware.FollowConfig{ClientID: rs.ID, ClientSecret: rsSecret, PollInterval: 100 * time.Millisecond},
	})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	tok := clientToken(srv.URL, app.ID, appSecret)
	_, err = v.Verify(ctx, tok)
	fmt.Println("before the rotation:", err)

	iss.RotateClient(ctx, app.ID)
	for range 250 { // up to 5 s: a liveness bound, not a measurement
		if _, err = v.Verify(ctx, tok); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("after the rotation, refused:", errors.Is(err, middleware.ErrInvalidToken))
	// Output:
	// before the rotation: <nil>
	// after the rotation, refused: true
}

// clientToken gets a client_credentials token.
func clientToken(issuerURL, id, secret string) string {
	resp, err := http.PostForm(issuerURL+"/oauth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&t)
	return t.AccessToken
}
