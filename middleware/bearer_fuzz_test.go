package middleware_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/middleware"
)

// FuzzBearerToken throws Authorization headers (none, one or two) at
// BearerToken: never a panic, and exactly RFC 6750 §2.1's reading: one
// header of at most 8 KiB, the scheme "Bearer" in any case, one or more
// spaces, a b64token, which is returned as it is. Every refusal is
// ErrNoToken (no header, another scheme) or ErrInvalidRequest.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []struct {
		n    uint8
		a, b string
	}{
		{1, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", ""},
		{1, "bearer   abc==", ""},
		{1, "BEARER a=b", ""},
		{1, "Bearer", ""},
		{1, "Bearer ", ""},
		{1, "Basic dXNlcjpwYXNz", ""},
		{1, "Bearer\tabc", ""},
		{1, "Bearer a b", ""},
		{1, "Bearer " + strings.Repeat("A", 8<<10), ""},
		{2, "Bearer a", "Bearer b"},
		{0, "", ""},
		{1, "DPoP abc", ""},
		{1, "Bearer pca_ünï", ""},
	} {
		f.Add(s.n, s.a, s.b)
	}
	grammar := regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)
	f.Fuzz(func(t *testing.T, n uint8, a, b string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		headers := []string{a, b}[:n%3]
		if len(headers) > 0 {
			r.Header["Authorization"] = headers
		}
		got, err := middleware.BearerToken(r)

		// What RFC 6750 §2.1 reads.
		var want string
		var wantErr error
		switch {
		case len(headers) == 0:
			wantErr = middleware.ErrNoToken
		case len(headers) > 1, len(a) > 8<<10:
			wantErr = middleware.ErrInvalidRequest
		default:
			scheme, rest, _ := strings.Cut(a, " ")
			tok := strings.TrimLeft(rest, " ")
			switch {
			case !strings.EqualFold(scheme, "Bearer"):
				wantErr = middleware.ErrNoToken
			case !grammar.MatchString(tok):
				wantErr = middleware.ErrInvalidRequest
			default:
				want = tok
			}
		}
		switch {
		case wantErr == nil && (err != nil || got != want):
			t.Fatalf("BearerToken(%q) = %q, %v; want %q", headers, got, err, want)
		case wantErr != nil && (!errors.Is(err, wantErr) || got != ""):
			t.Fatalf("BearerToken(%q) = %q, %v; want %v", headers, got, err, wantErr)
		}
	})
}
