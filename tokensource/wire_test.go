package tokensource_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/portcullis/portcullis/tokensource"
)

// TestWire checks the bytes each dialect sends, for client credentials and
// (where the dialect has them) for a refresh, and that it reads its own
// answers.
func TestWire(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(testID)+":"+url.QueryEscape(testSecret)))
	exp := time.Now().Add(time.Hour).Unix()
	bloqToken := jwt(map[string]any{"exp": exp, "iat": exp - 3600})
	for _, tc := range []struct {
		name     string
		dialect  tokensource.Dialect
		scopes   []string
		ct       string // Content-Type sent
		basic    bool   // credentials in HTTP Basic
		body     string // the client credentials request
		answer   string // the first answer; a refresh token "R1" in it when the dialect refreshes
		token    string // its access token
		refresh  string // the refresh request; empty when the dialect has none
		answer2  string
		token2   string
		lifetime time.Duration
	}{{
		name: "OAuth2", dialect: tokensource.OAuth2(), scopes: []string{"read", "write"},
		ct: "application/x-www-form-urlencoded", basic: true,
		body:    "grant_type=client_credentials&scope=read+write",
		answer:  `{"access_token":"A1","token_type":"bearer","expires_in":3600,"refresh_token":"R1","scope":"read write"}`,
		token:   "A1",
		refresh: "grant_type=refresh_token&refresh_token=R1&scope=read+write",
		answer2: `{"access_token":"A2","token_type":"Bearer","expires_in":"3600"}`, token2: "A2",
		lifetime: time.Hour,
	}, {
		name: "zero value is OAuth2", dialect: tokensource.Dialect{},
		ct: "application/x-www-form-urlencoded", basic: true,
		body:     "grant_type=client_credentials",
		answer:   `{"access_token":"A1","token_type":"Bearer","expires_in":60}`,
		token:    "A1",
		lifetime: time.Minute,
	}, {
		name: "DataCrunch", dialect: tokensource.DataCrunch(), scopes: []string{"fullAccess"},
		ct:       "application/json",
		body:     `{"grant_type":"client_credentials","client_id":"id:1%","client_secret":"s+c/r t&=<secret>","scope":"fullAccess"}`,
		answer:   `{"access_token":"A1","token_type":"Bearer","expires_in":3600,"refresh_token":"R1","scope":"fullAccess"}`,
		token:    "A1",
		refresh:  `{"grant_type":"refresh_token","client_id":"id:1%","client_secret":"s+c/r t&=<secret>","refresh_token":"R1","scope":"fullAccess"}`,
		answer2:  `{"access_token":"A2","token_type":"Bearer","expires_in":3600,"refresh_token":"R2","scope":"fullAccess"}`,
		token2:   "A2",
		lifetime: time.Hour,
	}, {
		name: "Bloq", dialect: tokensource.Bloq(),
		ct:       "application/json",
		body:     `{"grantType":"clientCredentials","clientId":"id:1%","clientSecret":"s+c/r t&=<secret>"}`,
		answer:   `{"accessToken":"` + bloqToken + `","refreshToken":"R1"}`,
		token:    bloqToken,
		refresh:  `{"grantType":"refreshToken","refreshToken":"R1"}`,
		answer2:  `{"accessToken":"B2","refreshToken":"R2"}`,
		token2:   "B2",
		lifetime: time.Hour, // the JWT's exp - iat
	}, {
		name: "OffBlocks", dialect: tokensource.OffBlocks(),
		ct:       "application/json",
		body:     `{"apiKey":"id:1%","apiSecret":"s+c/r t&=<secret>"}`,
		answer:   `{"token":"T1","expiresAt":` + itoa(int(exp)) + `,"tokenType":"Bearer"}`,
		token:    "T1",
		lifetime: time.Hour, // expiresAt - the Date header
	}, {
		name: "Generic", dialect: tokensource.Generic(),
		ct:       "application/json",
		body:     `{"clientId":"id:1%","secret":"s+c/r t&=<secret>"}`,
		answer:   `{"accessToken":"4172bbf1-0890-41c7-b0db-477095a288b6","tokenType":"Bearer","expiresIn":1800}`,
		token:    "4172bbf1-0890-41c7-b0db-477095a288b6",
		lifetime: 30 * time.Minute,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, func(w http.ResponseWriter, r seen, n int) {
				// The Date header the server stamps: expiresAt is read
				// against it.
				w.Header().Set("Date", time.Unix(exp-3600, 0).UTC().Format(http.TimeFormat))
				if n == 0 || tc.answer2 == "" {
					writeJSON(w, 200, tc.answer)
				} else {
					writeJSON(w, 200, tc.answer2)
				}
			})
			c := newClock()
			s := newSource(t, e, tc.dialect, c, func(cfg *tokensource.Config) { cfg.Scopes = tc.scopes })
			tok, err := s.Token()
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != tc.token || tok.Type() != "Bearer" || tok.RefreshToken != "" {
				t.Errorf("token %+v", tok)
			}
			if want := c.Now().Add(tc.lifetime); !tok.Expiry.Equal(want) {
				t.Errorf("expiry %v, want %v (%v from now)", tok.Expiry, want, tc.lifetime)
			}
			r := e.requests()[0]
			if got := r.Header.Get("Content-Type"); got != tc.ct {
				t.Errorf("Content-Type %q, want %q", got, tc.ct)
			}
			if got := r.Header.Get("Authorization"); (got == basic) != tc.basic || (!tc.basic && got != "") {
				t.Errorf("Authorization %q", got)
			}
			if r.Body != tc.body {
				t.Errorf("body\n%s\nwant\n%s", r.Body, tc.body)
			}

			// At the end of the token's life, the next one: with the
			// refresh token where the dialect has one.
			c.Advance(tc.lifetime)
			tok2, err := s.Token()
			if err != nil {
				t.Fatal(err)
			}
			if len(e.requests()) != 2 {
				t.Fatalf("%d requests", len(e.requests()))
			}
			r = e.requests()[1]
			want := tc.refresh
			if want == "" {
				want = tc.body
			} else if tok2.AccessToken != tc.token2 {
				t.Errorf("refreshed token %q, want %q", tok2.AccessToken, tc.token2)
			}
			if r.Body != want {
				t.Errorf("second request\n%s\nwant\n%s", r.Body, want)
			}
			if got := r.Header.Get("Authorization"); (got == basic) != tc.basic {
				t.Errorf("second request's Authorization %q", got)
			}
		})
	}
}

// TestLifetime: where the lifetime comes from, for each way a server says
// it, and when it says nothing.
func TestLifetime(t *testing.T) {
	c := newClock()
	now := c.Now().Unix()
	serverNow := now + 7200 // a server whose clock is two hours ahead
	date := time.Unix(serverNow, 0).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name    string
		dialect tokensource.Dialect
		date    string
		answer  string
		want    time.Duration
	}{
		{"expires_in", tokensource.OAuth2(), date, `{"access_token":"x","expires_in":120}`, 2 * time.Minute},
		{"expires_in as a string", tokensource.OAuth2(), "", `{"access_token":"x","expires_in":"120"}`, 2 * time.Minute},
		{"expires_in wins over the JWT", tokensource.OAuth2(), "",
			`{"access_token":"` + jwt(map[string]any{"exp": now + 60}) + `","expires_in":120}`, 2 * time.Minute},
		{"expiresAt by the server's clock", tokensource.OffBlocks(), date,
			`{"token":"x","expiresAt":` + itoa(int(serverNow+300)) + `}`, 5 * time.Minute},
		{"expiresAt without a Date", tokensource.OffBlocks(), "",
			`{"token":"x","expiresAt":` + itoa(int(now+300)) + `}`, 5 * time.Minute},
		{"JWT exp - iat", tokensource.Bloq(), "",
			`{"accessToken":"` + jwt(map[string]any{"exp": serverNow + 900, "iat": serverNow}) + `"}`, 15 * time.Minute},
		{"JWT exp by the Date", tokensource.Bloq(), date,
			`{"accessToken":"` + jwt(map[string]any{"exp": serverNow + 900}) + `"}`, 15 * time.Minute},
		{"expires_in 0: DefaultTTL", tokensource.OAuth2(), "", `{"access_token":"x","expires_in":0}`, 5 * time.Minute},
		{"opaque, no expiry: DefaultTTL", tokensource.Bloq(), "", `{"accessToken":"pca_x"}`, 5 * time.Minute},
		{"no exp in the JWT: DefaultTTL", tokensource.Bloq(), "",
			`{"accessToken":"` + jwt(map[string]any{"sub": "x"}) + `"}`, 5 * time.Minute},
		{"a silly expires_in is bounded", tokensource.OAuth2(), "", `{"access_token":"x","expires_in":1e300}`, 10 * 365 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, func(w http.ResponseWriter, _ seen, _ int) {
				if tc.date != "" {
					w.Header().Set("Date", tc.date)
				} else {
					// net/http adds the real time's Date otherwise, which
					// is a second past the test's clock whenever a second
					// ticks between newClock and the answer.
					w.Header()["Date"] = nil
				}
				writeJSON(w, 200, tc.answer)
			})
			tok, err := newSource(t, e, tc.dialect, c).Token()
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Expiry.Sub(c.Now()); got != tc.want {
				t.Errorf("lifetime %v, want %v", got, tc.want)
			}
		})
	}
}
