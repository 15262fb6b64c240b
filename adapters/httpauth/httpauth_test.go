package httpauth_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/adapters/adaptertest"
	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

func wire(g *middleware.Guard, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+adaptertest.Path, httpauth.Protect(g, h))
	return mux
}

// The shared table: every answer as the neutral guard's, byte for byte.
func TestProtect(t *testing.T) { adaptertest.Run(t, wire) }

// The issuer's endpoints through Mount answer as iss.Handler() does, and a
// whole flow (token, guarded route, introspection, revocation, rotation)
// works through them.
func TestMount(t *testing.T) {
	adaptertest.RunMount(t, func(iss *issuer.Issuer, g *middleware.Guard, h http.Handler) http.Handler {
		mux := http.NewServeMux()
		httpauth.Mount(mux, iss)
		mux.Handle("GET "+adaptertest.Path, httpauth.Protect(g, h))
		return mux
	})
}

func TestMountLeavesRootToTheApplication(t *testing.T) {
	iss, err := issuer.New(issuer.Config{Issuer: "https://issuer.httpauth.test", Store: memory.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app "+r.URL.Path) }))

	for _, path := range []string{"/", "/v1/things", "/oauth", "/oauth/token/x", "/.well-known/other"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK || w.Body.String() != "app "+path {
			t.Errorf("GET %s = %d %q: the application's route lost it", path, w.Code, w.Body)
		}
	}
	p := iss.Paths()
	for _, path := range []string{p.JWKS, p.Metadata} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK || strings.HasPrefix(w.Body.String(), "app ") {
			t.Errorf("GET %s = %d %q: not the issuer's", path, w.Code, w.Body)
		}
	}
}

func TestRequireAndPrincipal(t *testing.T) {
	f := adaptertest.NewFixture(t)
	g := f.Guard(t, f.Verifier) // requires adaptertest.Scope ("read")
	var seen []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := httpauth.Principal(r)
		if !ok {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		seen = append(seen, p.Subject)
		fmt.Fprint(w, strings.Join(p.Scopes, " "))
	})
	mux := http.NewServeMux()
	mux.Handle("GET /read", httpauth.Protect(g, h))
	mux.Handle("GET /write", httpauth.Require(g, "write")(h))
	mux.Handle("GET /open", h)

	read, readWrite := f.Token(t, token.KindClient, "read"), f.Token(t, token.KindClient, "read write")
	for _, tc := range []struct {
		path, tok string
		status    int
		challenge string
	}{
		{"/read", read, 200, ""},
		{"/write", readWrite, 200, ""},
		{"/write", read, 403, `Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="read write"`},
		{"/write", "", 401, `Bearer realm="api"`},
		{"/open", read, 500, ""}, // not guarded: no principal
	} {
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.tok != "" {
			r.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
		}
	}
	if !slices.Equal(seen, []string{adaptertest.Client, adaptertest.Client}) {
		t.Errorf("the handler saw %v", seen)
	}
	// Require made a copy: the base guard still lets a read token in.
	r := httptest.NewRequest(http.MethodGet, "/read", nil)
	r.Header.Set("Authorization", "Bearer "+read)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("base guard after Require: %d", w.Code)
	}
}
