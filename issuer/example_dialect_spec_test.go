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
