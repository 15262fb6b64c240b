// Package routes builds the routes that the bench's HTTP-level comparison
// times: one GET route on net/http, chi and gin, each plain (no guard) and
// guarded by Portcullis through its adapter (httpauth, chiauth, ginauth),
// so that the Go benchmark (http_test.go) and the loopback server for wrk
// (cmd/http-server) measure exactly the same setups.
//
// Every route answers the same 12-byte text body. The guarded handler first
// reads the caller with the adapter's Principal (and answers 500 without
// one), as an application would; the plain one does not. Every request
// carries the same Authorization header, a cached ES256 client token, so
// that plain and guarded routes receive the same bytes: the difference is
// the guard's work on a token it has seen before (DESIGN §7 asks for
// guarded ≥ 0.97× plain in requests per second).
package routes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"

	"github.com/portcullis/portcullis/adapters/chiauth"
	"github.com/portcullis/portcullis/adapters/ginauth"
	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// Path is the route every setup serves.
const Path = "/v1/things"

// Body is what every route answers.
const Body = "hello world\n"

// Frameworks lists the frameworks, in the order they are reported.
var Frameworks = []string{"nethttp", "chi", "gin"}

// Modes are the two variants of each framework's route.
var Modes = []string{"plain", "guarded"}

// Route is one framework's route and the request header that reaches it.
type Route struct {
	// Name is framework/mode, e.g. "gin/guarded".
	Name    string
	Handler http.Handler
	// Authorization is the header every request carries: a bearer token
	// the guard accepts (the plain route ignores it).
	Authorization string
}

// Request returns a new request for r, ready to be served again and again
// (it has no body).
func (r *Route) Request() *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1"+Path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Authorization", r.Authorization)
	req.Header.Set("Accept", "*/*")
	return req
}

// Setup is an issuer, a guard over its verifier and a client token, shared
// by every route of a run.
type Setup struct {
	Guard         *middleware.Guard
	Authorization string
}

// NewSetup makes an issuer over the memory store (ES256, the default), a
// guard requiring scope "read" with the default token cache, and a token
// for one client, issued by the token endpoint.
func NewSetup() (*Setup, error) {
	quiet := slog.New(slog.DiscardHandler)
	iss, err := issuer.New(issuer.Config{
		Issuer: "http://127.0.0.1", Store: memory.New(), Scopes: []string{"read"}, Logger: quiet,
	})
	if err != nil {
		return nil, err
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "bench"})
	if err != nil {
		return nil, err
	}
	req := httptest.NewRequest(http.MethodPost, iss.Paths().Token, strings.NewReader("grant_type=client_credentials&scope=read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, secret)
	w := httptest.NewRecorder()
	iss.Handler().ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || w.Code != http.StatusOK || tok.AccessToken == "" {
		return nil, fmt.Errorf("routes: no token from the issuer: %d %s", w.Code, w.Body)
	}
	g, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: quiet})
	if err != nil {
		return nil, err
	}
	return &Setup{Guard: g, Authorization: "Bearer " + tok.AccessToken}, nil
}

// Route builds framework's route, guarded or plain.
func (s *Setup) Route(framework string, guarded bool) (*Route, error) {
	mode := Modes[0]
	if guarded {
		mode = Modes[1]
	}
	rt := &Route{Name: framework + "/" + mode, Authorization: s.Authorization}
	write := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(Body))
	}
	plain := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { write(w) })
	// who answers like plain once it has found the caller.
	who := func(found bool, w http.ResponseWriter) {
		if !found {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		write(w)
	}
	switch framework {
	case "nethttp":
		mux := http.NewServeMux()
		if guarded {
			mux.Handle("GET "+Path, httpauth.Protect(s.Guard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, found := httpauth.Principal(r)
				who(found, w)
			})))
		} else {
			mux.Handle("GET "+Path, plain)
		}
		rt.Handler = mux
	case "chi":
		r := chi.NewRouter()
		if guarded {
			r.With(chiauth.Middleware(s.Guard)).Get(Path, func(w http.ResponseWriter, r *http.Request) {
				_, found := chiauth.Principal(r)
				who(found, w)
			})
		} else {
			r.Get(Path, plain)
		}
		rt.Handler = r
	case "gin":
		gin.SetMode(gin.ReleaseMode)
		e := gin.New()
		if guarded {
			e.GET(Path, ginauth.Middleware(s.Guard), func(c *gin.Context) {
				_, found := ginauth.Principal(c)
				who(found, c.Writer)
			})
		} else {
			e.GET(Path, func(c *gin.Context) { write(c.Writer) })
		}
		rt.Handler = e
	default:
		return nil, fmt.Errorf("routes: unknown framework %q (want one of %s)", framework, strings.Join(Frameworks, ", "))
	}
	return rt, nil
}
