package issuer_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// ExampleDialectSpec declares a wire format of one's own as data: a JSON
// body {"key","secret"} and a response {"jwt","validUntil"} with the
// expiry in Unix seconds. The declaration keeps the Dialect contract
// (strict reading, one way to authenticate, errors that depend on the
// error alone); issuer.OffBlocks, DataCrunch and Generic are written the
// same way.
func ExampleDialectSpec() {
	iss, err := issuer.New(issuer.Config{
		Issuer: "https://auth.example.com",
		Store:  memory.New(),
		Dialect: issuer.DialectSpec{
			Name:    "example",
			Request: issuer.RequestFields{ClientID: "key", ClientSecret: "secret"},
			Response: []issuer.Member{
				{Name: "jwt", Field: issuer.FieldAccessToken},
				{Name: "validUntil", Field: issuer.FieldExpiresAt},
			},
			Error: issuer.ErrorFields{Code: "code", Description: "message"},
		},
		Paths: issuer.Paths{Token: "/login"},
		Now:   func() time.Time { return time.Unix(1_700_000_000, 0) },
	})
	if err != nil {
		log.Fatal(err)
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{ID: "demo-key"})
	if err != nil {
		log.Fatal(err)
	}
	jwt := regexp.MustCompile(`"jwt":"[^"]+"`)
	post := func(body string) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		iss.Handler().ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		fmt.Println(w.Code, jwt.ReplaceAllString(string(b), `"jwt":"…"`))
	}
	post(`{"key":"` + c.ID + `","secret":"` + secret + `"}`)
	post(`{"key":"` + c.ID + `","secret":"wrong"}`)
	post(`{"key":"a","key":"b"}`)
	// Output:
	// 200 {"jwt":"…","validUntil":1700003600}
	// 401 {"code":"invalid_client","message":"client authentication failed"}
	// 400 {"code":"invalid_request","message":"repeated parameter 'key'"}
}

// ExampleKeyFormat declares the answers of the account-keys endpoint
// beside the token request: 200 with {"id","secret"} (the secret in hex,
// shown this once) and a listing that is a top-level JSON array.
func ExampleKeyFormat() {
	d := issuer.Generic()
	d.Keys = issuer.KeyFormat{
		CreatedStatus: http.StatusOK,
		Created:       []issuer.KeyMember{{Name: "id", Field: issuer.KeyClientID}, {Name: "secret", Field: issuer.KeyClientSecret}},
		Listed:        []issuer.KeyMember{{Name: "id", Field: issuer.KeyClientID}},
		Array:         true,
		Secret:        issuer.SecretHex,
	}
	iss, err := issuer.New(issuer.Config{
		Issuer:  "https://auth.example.com",
		Store:   memory.New(),
		Dialect: d,
		// Cheap hashes keep the example fast; keep the defaults in a
		// server, whose passwords must resist guessing.
		Passwords: issuer.PasswordConfig{Memory: 64, Iterations: 1, Parallelism: 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := iss.CreateAccount(context.Background(), issuer.AccountSpec{Username: "alice", Password: "correct horse battery staple"}); err != nil {
		log.Fatal(err)
	}
	do := func(method, path, auth string) string {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		iss.Handler().ServeHTTP(w, r)
		return fmt.Sprint(w.Code, " ", w.Body)
	}
	r := httptest.NewRequest(http.MethodPost, "/account/login", nil)
	r.SetBasicAuth("alice", "correct horse battery staple")
	w := httptest.NewRecorder()
	iss.Handler().ServeHTTP(w, r)
	account := "Bearer " + regexp.MustCompile(`"accessToken":"([^"]+)"`).FindStringSubmatch(w.Body.String())[1]

	hex := regexp.MustCompile(`"[0-9a-f]{32}"|"[0-9a-f]{64}"`)
	fmt.Println(hex.ReplaceAllStringFunc(do(http.MethodPost, "/account/keys", account), func(s string) string {
		return fmt.Sprintf("<%d hex digits>", len(s)-2)
	}))
	fmt.Println(hex.ReplaceAllString(do(http.MethodGet, "/account/keys", account), `"…"`))
	// Output:
	// 200 {"id":<32 hex digits>,"secret":<64 hex digits>}
	// 200 [{"id":"…"}]
}
