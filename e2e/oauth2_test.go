package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
)

// Credentials with every character that Basic auth must form-encode
// (RFC 6749 §2.3.1): ':' would split the pair, '%' and '+' would decode.
const (
	oddID     = "svc:reports+1%/&=?"
	oddSecret = "s3cr:t+with%25 spaces&=/é"
)

// TestClientCredentialsAuthStyles gets a token with each of x/oauth2's
// auth styles and calls the guarded route with it.
func TestClientCredentialsAuthStyles(t *testing.T) {
	s := newServer(t, freshMemory(t)(), nil)
	id, secret := s.client(t, issuer.ClientSpec{ID: oddID, Secret: oddSecret})
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"InHeader", oauth2.AuthStyleInHeader},
		{"InParams", oauth2.AuthStyleInParams},
		{"AutoDetect", oauth2.AuthStyleAutoDetect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, want := range [][]string{{"read", "write"}, {"read"}} {
				cc := s.cc(id, secret, tc.style, want...)
				tok, err := cc.Token(context.Background())
				if err != nil {
					t.Fatalf("scopes %v: %v", want, err)
				}
				if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
					t.Errorf("token type %q, expiry %v", tok.TokenType, tok.Expiry)
				}
				// cc.Client sets the bearer token as any x/oauth2 user's would.
				resp, err := cc.Client(context.Background()).Get(s.srv.URL + "/v1/whoami")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("whoami through cc.Client: %d", resp.StatusCode)
				}
				p := s.whoami(t, tok.AccessToken).principal
				if p.ClientID != id || p.Subject != id || p.Kind != token.KindClient || p.Issuer != issuerID {
					t.Errorf("principal %+v", p)
				}
				if !slices.Equal(p.Scopes, want) {
					t.Errorf("scopes %v, want %v", p.Scopes, want)
				}
			}
			wrong := s.cc(id, secret+"x", tc.style)
			if _, err := wrong.Token(context.Background()); !invalidClient(err) {
				t.Errorf("wrong secret: %v, want invalid_client", err)
			}
		})
	}
}

// TestClientCredentialsWire records the exact request x/oauth2 sends and
// checks both that it is what RFC 6749 describes and that the issuer
// accepts it.
func TestClientCredentialsWire(t *testing.T) {
	s := newServer(t, freshMemory(t)(), nil)
	id, secret := s.client(t, issuer.ClientSpec{ID: oddID, Secret: oddSecret})

	var mu sync.Mutex
	var got struct {
		method, path, rawQuery, contentType, authorization string
		body                                               []byte
		status                                             int
	}
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		s.iss.Handler().ServeHTTP(sw, r)
		mu.Lock()
		defer mu.Unlock()
		got.method, got.path, got.rawQuery = r.Method, r.URL.Path, r.URL.RawQuery
		got.contentType, got.authorization = r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		got.body, got.status = body, sw.status
	}))
	defer rec.Close()

	for _, tc := range []struct {
		name     string
		style    oauth2.AuthStyle
		wantAuth string
		wantBody string
	}{
		{
			name:  "basic",
			style: oauth2.AuthStyleInHeader,
			wantAuth: "Basic " + base64.StdEncoding.EncodeToString(
				[]byte("svc%3Areports%2B1%25%2F%26%3D%3F:s3cr%3At%2Bwith%2525+spaces%26%3D%2F%C3%A9")),
			wantBody: "grant_type=client_credentials&scope=read",
		},
		{
			name:     "post",
			style:    oauth2.AuthStyleInParams,
			wantBody: "client_id=svc%3Areports%2B1%25%2F%26%3D%3F&client_secret=s3cr%3At%2Bwith%2525+spaces%26%3D%2F%C3%A9&grant_type=client_credentials&scope=read",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: rec.URL + "/oauth/token",
				Scopes: []string{"read"}, AuthStyle: tc.style}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got.method != "POST" || got.path != "/oauth/token" || got.rawQuery != "" {
				t.Errorf("request %s %s?%s", got.method, got.path, got.rawQuery)
			}
			if got.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", got.contentType)
			}
			if got.authorization != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", got.authorization, tc.wantAuth)
			}
			if string(got.body) != tc.wantBody {
				t.Errorf("body %q, want %q", got.body, tc.wantBody)
			}
			// The bytes decode back to the credentials: nothing was lost.
			form, _ := url.ParseQuery(string(got.body))
			if tc.style == oauth2.AuthStyleInParams && (form.Get("client_id") != oddID || form.Get("client_secret") != oddSecret) {
				t.Errorf("form credentials %q %q", form.Get("client_id"), form.Get("client_secret"))
			}
			if got.status != http.StatusOK {
				t.Fatalf("issuer answered %d", got.status)
			}
			s.mustAccept(t, tok.AccessToken, oddID)
		})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
