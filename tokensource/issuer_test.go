package tokensource_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/tokensource"
)

// TestDialectsMatchIssuer keeps each client dialect in step with the
// issuer's declaration of the same name: what the client sends, the
// server reads, and what the server writes, the client reads.
func TestDialectsMatchIssuer(t *testing.T) {
	for _, tc := range []struct {
		client tokensource.Dialect
		server issuer.DialectSpec
	}{
		{tokensource.OffBlocks(), issuer.OffBlocks()},
		{tokensource.Bloq(), issuer.Bloq()},
		{tokensource.DataCrunch(), issuer.DataCrunch()},
		{tokensource.Generic(), issuer.Generic()},
	} {
		t.Run(tc.server.Name, func(t *testing.T) {
			c, s := tc.client, tc.server
			if c.Name != s.Name {
				t.Errorf("name %q, the issuer's %q", c.Name, s.Name)
			}
			cr, sr := c.Request, s.Request
			if cr.GrantType != sr.GrantType || cr.ClientID != sr.ClientID || cr.ClientSecret != sr.ClientSecret ||
				cr.RefreshToken != sr.RefreshToken || cr.Scope != sr.Scope {
				t.Errorf("request fields %+v, the issuer's %+v", cr, sr)
			}
			grants := map[string]string{ // wire value → grant type
				or(c.GrantTypes.ClientCredentials, "client_credentials"): issuer.GrantClientCredentials,
				or(c.GrantTypes.RefreshToken, "refresh_token"):           issuer.GrantRefreshToken,
			}
			for wire, g := range grants {
				got := wire
				if s.GrantTypes != nil {
					got = s.GrantTypes[wire]
				}
				if sr.GrantType != "" && got != g {
					t.Errorf("grant %q reads as %q, want %q", wire, got, g)
				}
			}
			if (c.Form && !s.Form) || (c.Basic && !s.Basic) {
				t.Errorf("sends form %v, Basic %v; the issuer takes form %v, Basic %v", c.Form, c.Basic, s.Form, s.Basic)
			}
			want := tokensource.ResponseFields{}
			for _, m := range s.Response {
				switch m.Field {
				case issuer.FieldAccessToken:
					want.AccessToken = m.Name
				case issuer.FieldTokenType:
					want.TokenType = m.Name
				case issuer.FieldExpiresIn:
					want.ExpiresIn = m.Name
				case issuer.FieldExpiresAt:
					want.ExpiresAt = m.Name
				case issuer.FieldRefreshToken:
					want.RefreshToken = m.Name
				case issuer.FieldScope:
					want.Scope = m.Name
				}
			}
			if c.Response != want {
				t.Errorf("response %+v, the issuer writes %+v", c.Response, want)
			}
			ce, se := c.Error, s.Error
			rfc := tokensource.ErrorFields{Code: "error", Description: "error_description", URI: "error_uri"}
			if ce == (tokensource.ErrorFields{}) {
				ce = rfc
			}
			if se == (issuer.ErrorFields{}) {
				se = issuer.ErrorFields(rfc)
			}
			if ce != tokensource.ErrorFields(se) {
				t.Errorf("error fields %+v, the issuer's %+v", ce, se)
			}
		})
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// provider is a real issuer serving one dialect, on a clock the test
// moves, with one client and a guarded route at /api that answers with
// the caller's principal.
type provider struct {
	*httptest.Server
	iss   *issuer.Issuer
	token string // the token endpoint's URL

	mu     sync.Mutex
	grants []string // of each token request: "credentials", "refresh" or "refresh refused"
}

const (
	providerID     = "customer-1"
	providerSecret = "a customer's secret of at least 32 characters"
)

func newProvider(t *testing.T, c *clock, cfg issuer.Config, refreshField string) *provider {
	t.Helper()
	cfg.Issuer = "https://issuer.example"
	cfg.Store = memory.New()
	cfg.Now = c.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	iss, err := issuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := iss.CreateClient(context.Background(), issuer.ClientSpec{ID: providerID, Secret: providerSecret}); err != nil {
		t.Fatal(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("GET /api", httpauth.Protect(guard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpauth.Principal(r)
		json.NewEncoder(w).Encode(p)
	})))
	p := &provider{iss: iss}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server's clock is the test's, Date header included.
		w.Header().Set("Date", c.Now().UTC().Format(http.TimeFormat))
		if r.URL.Path != iss.Paths().Token {
			mux.ServeHTTP(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		g := "credentials"
		if refreshField != "" && strings.Contains(string(b), refreshField) {
			g = "refresh"
			if rec.status != 200 {
				g = "refresh refused"
			}
		}
		p.mu.Lock()
		p.grants = append(p.grants, g)
		p.mu.Unlock()
	}))
	t.Cleanup(p.Close)
	p.token = p.URL + iss.Paths().Token
	return p
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.ResponseWriter.Write(b)
}

func (p *provider) requests() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.grants, ", ")
}

// callAPI calls the guarded route with c and returns the principal.
func (p *provider) callAPI(t *testing.T, c *http.Client) middleware.Principal {
	t.Helper()
	resp, err := c.Get(p.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api: %d", resp.StatusCode)
	}
	var pr middleware.Principal
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestAgainstIssuer runs each dialect against a real issuer declaring it:
// a token, a renewal (with the refresh token where the dialect has them),
// a refresh token that expired, and a wrong secret.
func TestAgainstIssuer(t *testing.T) {
	refresh := issuer.RefreshConfig{Enabled: true, TTL: 2 * time.Hour}
	for _, tc := range []struct {
		name    string
		client  tokensource.Dialect
		cfg     issuer.Config
		refresh string // the refresh token's request field, when the issuer issues them
	}{
		{"OAuth2", tokensource.OAuth2(), issuer.Config{Refresh: refresh}, "refresh_token"},
		{"OAuth2 without refresh tokens", tokensource.OAuth2(), issuer.Config{}, ""},
		{"OffBlocks", tokensource.OffBlocks(), issuer.Config{Dialect: issuer.OffBlocks()}, ""},
		{"Bloq", tokensource.Bloq(), issuer.Config{Dialect: issuer.Bloq(),
			Refresh: issuer.RefreshConfig{Enabled: true, TTL: 2 * time.Hour, AllowPublic: true}}, "refreshToken"},
		{"DataCrunch", tokensource.DataCrunch(), issuer.Config{Dialect: issuer.DataCrunch(), Refresh: refresh}, "refresh_token"},
		{"generic", tokensource.Generic(), issuer.Config{Dialect: issuer.Generic(),
			Kinds: []issuer.Kind{{Name: issuer.KindClient, Format: issuer.FormatUUID, TTL: 30 * time.Minute}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			p := newProvider(t, c, tc.cfg, tc.refresh)
			src, err := tokensource.New(tokensource.Config{
				TokenURL: p.token, ClientID: providerID, ClientSecret: providerSecret, Dialect: tc.client, Now: c.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			hc := src.Client()
			if pr := p.callAPI(t, hc); pr.ClientID != providerID {
				t.Errorf("principal %+v", pr)
			}
			tok, _ := src.Token()
			if lifetime := tok.Expiry.Sub(c.Now()); lifetime != time.Hour && lifetime != 30*time.Minute {
				t.Errorf("lifetime %v", lifetime)
			}

			// The token's end: the next one, with the refresh token if any.
			c.Advance(time.Hour)
			p.callAPI(t, hc)
			// The refresh token's end: refused, and the credentials again.
			c.Advance(3 * time.Hour)
			p.callAPI(t, hc)
			want := "credentials, credentials, credentials"
			if tc.refresh != "" {
				want = "credentials, refresh, refresh refused, credentials"
			}
			if got := p.requests(); got != want {
				t.Errorf("token requests: %s, want %s", got, want)
			}

			wrong, err := tokensource.New(tokensource.Config{
				TokenURL: p.token, ClientID: providerID, ClientSecret: "not " + providerSecret, Dialect: tc.client, Now: c.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = wrong.Token()
			var te *tokensource.Error
			if !errors.Is(err, tokensource.ErrInvalidClient) || !errors.As(err, &te) || te.StatusCode != 401 {
				t.Errorf("wrong secret: %v", err)
			}
			if strings.Contains(err.Error(), providerSecret) {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}
}
