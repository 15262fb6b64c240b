package tokensource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxResponseBytes bounds a token endpoint's answer that is read: a token
// response is a few kilobytes at most, and a server that sends more is
// not one to wait for.
const maxResponseBytes = 1 << 20

// answer is a successful token response, read.
type answer struct {
	tok      *oauth2.Token // AccessToken, TokenType and Expiry
	refresh  string        // empty when none was sent
	lifetime time.Duration
}

// param is one field of a request body; the order is the dialect
// documentation's: grant type, credentials, refresh token, scope.
type param struct{ name, value string }

// request asks the token endpoint for a token: with a refresh token when
// refresh is not empty, with the client's credentials otherwise.
func (s *Source) request(ctx context.Context, refresh string) (*answer, error) {
	d, f := s.dialect, s.dialect.Request
	var ps []param
	add := func(name, value string) {
		if name != "" && value != "" {
			ps = append(ps, param{name, value})
		}
	}
	grant := d.GrantTypes.ClientCredentials
	if refresh != "" {
		grant = d.GrantTypes.RefreshToken
	}
	add(f.GrantType, grant)
	credentials := refresh == "" || d.AuthenticateRefresh
	if credentials && !d.Basic {
		add(f.ClientID, s.cfg.ClientID)
		add(f.ClientSecret, s.cfg.ClientSecret)
	}
	add(f.RefreshToken, refresh)
	add(f.Scope, s.scope)

	var body []byte
	contentType := "application/json"
	if d.Form {
		v := url.Values{}
		for _, p := range ps {
			v.Set(p.name, p.value)
		}
		body, contentType = []byte(v.Encode()), "application/x-www-form-urlencoded"
	} else {
		body = jsonObject(ps)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("tokensource: token request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if credentials && d.Basic {
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	}

	sent := s.cfg.Now()
	resp, err := s.http.Do(req)
	if err != nil {
		// A *url.Error names the method and the URL, which holds no
		// secret (New refuses a query and user info), and the cause.
		return nil, fmt.Errorf("tokensource: token request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokensource: reading the token response: %w", err)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedResponse, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, s.refusal(resp, b, refresh)
	}
	return s.read(b, resp.Header, sent)
}

// jsonObject encodes ps as a JSON object of strings, in order.
func jsonObject(ps []param) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, p.name)
		b.WriteByte(':')
		writeString(&b, p.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeString writes s as a JSON string, leaving <, > and & as they are
// (json.Marshal would escape them for HTML, which a token request is not).
func writeString(b *bytes.Buffer, s string) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	e.Encode(s)             // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// refusal reads an error answer with the dialect's names. A body that is
// not a JSON object leaves Code empty: the status still says what
// happened, and nothing of the body is kept.
func (s *Source) refusal(resp *http.Response, b []byte, refresh string) *Error {
	e := &Error{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header, s.cfg.Now())}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return e
	}
	names := s.dialect.Error
	str := func(name string) string {
		var v string
		if name != "" && json.Unmarshal(m[name], &v) == nil {
			return clean(v, s.cfg.ClientSecret, refresh)
		}
		return ""
	}
	e.Code, e.Description, e.URI = str(names.Code), str(names.Description), str(names.URI)
	return e
}

// read reads a successful answer. The token's lifetime comes from the
// first of: the expires-in member, the expires-at member, the JWT's own
// times, Config.DefaultTTL. Absolute times are turned into a lifetime
// with the server's own clock (its Date header, the JWT's iat), so that a
// client whose clock is off by more than a token's lifetime neither uses
// dead tokens nor asks for a new one on every call.
func (s *Source) read(b []byte, h http.Header, sent time.Time) (*answer, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformedResponse)
	}
	r := s.dialect.Response
	str := func(name string) (string, error) {
		raw, ok := m[name]
		if name == "" || !ok || string(raw) == "null" {
			return "", nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("%w: %q is not a string", ErrMalformedResponse, name)
		}
		return v, nil
	}
	access, err := str(r.AccessToken)
	if err != nil {
		return nil, err
	}
	if access == "" {
		return nil, fmt.Errorf("%w: no %q", ErrMalformedResponse, r.AccessToken)
	}
	typ, err := str(r.TokenType)
	if err != nil {
		return nil, err
	}
	if typ != "" && !strings.EqualFold(typ, "Bearer") {
		// A token bound to a key (DPoP, MAC) sent as a bearer token would
		// only be refused, call after call.
		return nil, fmt.Errorf("%w: token type %q is not Bearer", ErrMalformedResponse, clean(typ))
	}
	refresh, err := str(r.RefreshToken)
	if err != nil {
		return nil, err
	}
	scope, err := str(r.Scope)
	if err != nil {
		return nil, err
	}

	var serverNow time.Time
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		serverNow = t
	}
	lifetime, known := time.Duration(0), false
	if n, ok := number(m[r.ExpiresIn], r.ExpiresIn); ok && n > 0 {
		// 0 (or less) is how some servers say they do not know: read on.
		lifetime, known = seconds(n), true
	} else if n, ok := number(m[r.ExpiresAt], r.ExpiresAt); ok {
		lifetime, known = until(n, serverNow, sent), true
	} else if exp, iat, ok := jwtTimes(access); ok {
		if iat != 0 {
			lifetime = seconds(exp - iat)
		} else {
			lifetime = until(exp, serverNow, sent)
		}
		known = true
	}
	if !known {
		lifetime = s.cfg.DefaultTTL
	}
	if lifetime <= 0 {
		return nil, fmt.Errorf("%w: the token has already expired", ErrMalformedResponse)
	}
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer", Expiry: sent.Add(lifetime)}
	if scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": scope})
	}
	return &answer{tok: tok, refresh: refresh, lifetime: lifetime}, nil
}

// number reads a member that is a JSON number or a string holding one (as
// some servers send expires_in); absent, null or anything else is not a
// number.
func number(raw json.RawMessage, name string) (float64, bool) {
	if name == "" || len(raw) == 0 {
		return 0, false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(s)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// maxLifetime bounds a lifetime read from the server, so that a huge
// number neither overflows a Duration nor keeps a token forever.
const maxLifetime = 10 * 365 * 24 * time.Hour

// seconds turns a number of seconds into a bounded Duration.
func seconds(n float64) time.Duration {
	if n > maxLifetime.Seconds() {
		return maxLifetime
	}
	if n <= 0 {
		return 0
	}
	return time.Duration(n * float64(time.Second))
}

// until is the time left until the Unix time at, by the server's clock
// when its Date is known, by the client's otherwise.
func until(at float64, serverNow, sent time.Time) time.Duration {
	now := sent
	if !serverNow.IsZero() {
		now = serverNow
	}
	return seconds(at - float64(now.Unix()))
}

// jwtTimes reads the exp and iat claims of a JWT without verifying it: the
// client cannot, and needs them only to know when to ask again; the server
// that receives the token checks it. iat is 0 when absent.
func jwtTimes(tok string) (exp, iat float64, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0, 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, 0, false
	}
	var c struct {
		Exp *float64 `json:"exp"`
		Iat *float64 `json:"iat"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == nil {
		return 0, 0, false
	}
	if c.Iat != nil && *c.Iat > 0 && *c.Iat < *c.Exp {
		iat = *c.Iat
	}
	return *c.Exp, iat, true
}
