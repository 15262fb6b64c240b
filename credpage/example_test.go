package credpage_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/portcullis/portcullis/credpage"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// The page mounted beside the issuer's endpoints, which it calls: it must
// be served from their origin (its Content-Security-Policy allows no
// other), over HTTPS in production, since the account's password and its
// new keys' secrets cross the wire.
func Example() {
	dialect := issuer.DataCrunch()
	iss, err := issuer.New(issuer.Config{Issuer: "https://api.example.com", Store: memory.New(), Dialect: dialect})
	if err != nil {
		log.Fatal(err)
	}
	page, err := credpage.New(credpage.Config{Paths: iss.Paths(), Dialect: dialect})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", iss.Handler()) // POST /account/login, /account/keys, …
	mux.Handle("GET /account/credentials", page)
	mux.Handle("GET /account/credentials/", page) // app.js, app.css

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/account/credentials", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Header().Get("Cache-Control"))
	// Output:
	// 200 text/html; charset=utf-8
	// no-store
}
