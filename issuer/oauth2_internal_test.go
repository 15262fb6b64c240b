package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// TestOAuth2TokenResponseJSON checks the hand-written token response
// against what encoding/json makes of RFC 6749 §5.1's fields, optional
// ones left out, odd characters escaped alike.
func TestOAuth2TokenResponseJSON(t *testing.T) {
	type rfc6749 struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token,omitempty"`
		Scope        string `json:"scope,omitempty"`
	}
	for _, resp := range []TokenResponse{
		{AccessToken: "eyJ.eyJ.sig", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "pcr_x", Scope: "read write"},
		{AccessToken: "a", TokenType: "Bearer"},
		{AccessToken: "a<b>&\"\\\u2028\xff", TokenType: "Bearer", ExpiresIn: -1, Scope: "é\t"},
	} {
		w := httptest.NewRecorder()
		OAuth2{}.WriteTokenResponse(w, nil, &resp)
		want, err := json.Marshal(rfc6749{resp.AccessToken, resp.TokenType, resp.ExpiresIn, resp.RefreshToken, resp.Scope})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); got != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" ||
			w.Header().Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Errorf("status %d, header %v", w.Code, w.Header())
		}
	}
}

// TestMintedTokensNeedNoEscaping holds appendMinted's premise: every
// token the issuer mints, in every format and algorithm, and its refresh
// tokens, is a JSON string as it is, so that the response written without
// a scan is the one encoding/json writes. A token a dialect replaces is
// escaped, whether it replaced it in a copy of the response or in place.
func TestMintedTokensNeedNoEscaping(t *testing.T) {
	for _, c := range []struct {
		alg    string
		format Format
	}{
		{token.ES256, FormatJWT}, {token.EdDSA, FormatJWT}, {token.HS256, FormatJWT}, {token.RS256, FormatJWT},
		{token.ES256, FormatOpaque}, {token.ES256, FormatUUID},
	} {
		t.Run(c.alg+"/"+string(c.format), func(t *testing.T) {
			i, err := New(Config{
				Issuer: "https://issuer.example", Store: memory.New(), Algorithm: c.alg, Format: c.format,
				Refresh: RefreshConfig{Enabled: true}, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			kind := i.kinds[KindClient]
			resp, e := i.mint(context.Background(), time.Now(), minting{
				kind: kind, grantType: GrantClientCredentials, refresh: true,
				grant: store.Grant{Subject: "client:<&>", ClientID: "<&>", Scopes: []string{"a<b"}, Audience: []string{"x&y"}},
			})
			if e != nil {
				t.Fatal(e)
			}
			for _, tok := range []string{resp.AccessToken, resp.RefreshToken} {
				if tok == "" {
					t.Fatal("no token minted")
				}
				if got := string(token.AppendJSONString(nil, tok)); got != `"`+tok+`"` {
					t.Errorf("minted token %q needs escaping: %s", tok, got)
				}
			}
			copied := *resp
			copied.AccessToken = "<" + resp.AccessToken
			resp.RefreshToken = resp.RefreshToken + "&"
			for _, r := range []*TokenResponse{resp, &copied} {
				w := httptest.NewRecorder()
				OAuth2{}.WriteTokenResponse(w, nil, r)
				var back struct {
					AccessToken  string `json:"access_token"`
					RefreshToken string `json:"refresh_token"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &back); err != nil {
					t.Fatalf("%v: %s", err, w.Body)
				}
				if back.AccessToken != r.AccessToken || back.RefreshToken != r.RefreshToken {
					t.Errorf("got %+v from %s", back, w.Body)
				}
				if strings.ContainsAny(w.Body.String(), "<&") {
					t.Errorf("not escaped: %s", w.Body)
				}
			}
		})
	}
}

// referenceFormParams is parseFormParams as it was, over url.ParseQuery:
// the semantics the hand-written parser must keep.
func referenceFormParams(body []byte) (map[string]string, string) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, "malformed form body"
	}
	p := make(map[string]string, len(vals))
	for k, vs := range vals {
		if len(vs) > 1 {
			return nil, "repeated"
		}
		if vs[0] != "" {
			p[k] = vs[0]
		}
	}
	return p, ""
}

// FuzzFormParams checks parseFormParams against url.ParseQuery's reading:
// the same parameters, or the same kind of refusal.
func FuzzFormParams(f *testing.F) {
	for _, s := range []string{
		"grant_type=client_credentials&scope=read", "a=1&a=2", "a=&a=", "a&b=", "=x", "a=%zz", "a;b=1", "&&a=1&",
		"a=1&a=2&b=%zz", "scope=read+write%20x", "k%3D=v%26", "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := parseFormParams([]byte(body))
		want, why := referenceFormParams([]byte(body))
		if why != "" {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(e.Description, why) {
				t.Fatalf("%q: got %v, want an error %q", body, err, why)
			}
			return
		}
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("%q: got %v %v, want %v", body, got, err, want)
		}
	})
}

// TestReadParamsContentType: the plain media types skip the full parse,
// the rest still get it (charset, case, parameters).
func TestReadParamsContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/x-www-form-urlencoded":                 true,
		"Application/X-WWW-Form-Urlencoded":                 true,
		"application/x-www-form-urlencoded; charset=UTF-8":  true,
		"application/x-www-form-urlencoded; charset=latin1": false,
		"text/plain":                         false,
		"application/x-www-form-urlencodedx": false,
	} {
		r := httptest.NewRequest("POST", "/t", strings.NewReader("a=1"))
		r.Header.Set("Content-Type", ct)
		p, err := ReadParams(r)
		if ok != (err == nil) || ok && p["a"] != "1" {
			t.Errorf("%q: %v %v", ct, p, err)
		}
	}
}
