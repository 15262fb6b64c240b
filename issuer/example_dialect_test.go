package issuer_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// keyDialect is a custom wire format, written outside the issuer package
// from its building blocks: a JSON body {"key":…,"secret":…} and a
// response {"token":…,"expires":<Unix seconds>}.
type keyDialect struct{}

func (keyDialect) DecodeTokenRequest(r *http.Request) (*issuer.TokenRequest, error) {
	// ReadParams refuses repeated parameters, duplicate JSON keys and
	// non-string values, as the Dialect contract asks.
	p, err := issuer.ReadParams(r)
	if err != nil {
		return nil, err
	}
	if r.Header.Get("Authorization") != "" {
		return nil, issuer.ErrInvalidRequest.WithDescription("send the key in the body only")
	}
	req := &issuer.TokenRequest{
		GrantType: issuer.GrantClientCredentials,
		ClientID:  p["key"], ClientSecret: p["secret"],
		AuthMethod: issuer.AuthNone,
		Params:     p,
	}
	if req.ClientSecret != "" {
		// Report truthfully how the client authenticated.
		req.AuthMethod = issuer.AuthPost
	}
	return req, nil
}

func (keyDialect) WriteTokenResponse(w http.ResponseWriter, _ *http.Request, resp *issuer.TokenResponse) {
	issuer.WriteJSON(w, http.StatusOK, struct {
		Token   string `json:"token"`
		Expires int64  `json:"expires"`
	}{resp.AccessToken, resp.ExpiresAt.Unix()})
}

func (keyDialect) WriteError(w http.ResponseWriter, _ *http.Request, err *issuer.Error) {
	// The body depends on the *Error alone, so an unknown key and a wrong
	// secret look the same.
	issuer.WriteJSON(w, err.Status, struct {
		Message string `json:"message"`
	}{err.Code})
}

// Example_customDialect serves the token endpoint in a wire format of
// one's own. The issuer still enforces POST, no URL query, a bounded body
// and Cache-Control: no-store before the dialect runs.
func Example_customDialect() {
	iss, err := issuer.New(issuer.Config{
		Issuer:  "https://auth.example.com",
		Store:   memory.New(),
		Dialect: keyDialect{},
		Paths:   issuer.Paths{Token: "/v1/token"},
		Now:     func() time.Time { return time.Unix(1_700_000_000, 0) },
	})
	if err != nil {
		log.Fatal(err)
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{ID: "demo-key"})
	if err != nil {
		log.Fatal(err)
	}
	post := func(body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		iss.Handler().ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		if strings.Contains(string(b), `"token"`) {
			b = []byte(`{"token":"…","expires":` + strings.Split(string(b), `"expires":`)[1])
		}
		fmt.Println(w.Code, w.Header().Get("Cache-Control"), string(b))
	}
	post(`{"key":"` + c.ID + `","secret":"` + secret + `"}`)
	post(`{"key":"` + c.ID + `","secret":"wrong"}`)
	post(`{"key":"a","key":"b"}`)
	// Output:
	// 200 no-store {"token":"…","expires":1700003600}
	// 401 no-store {"message":"invalid_client"}
	// 400 no-store {"message":"invalid_request"}
}
