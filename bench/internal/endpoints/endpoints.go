// Package endpoints builds the token endpoints that the bench compares, each
// with one confidential client allowed client_credentials, so that the Go
// benchmarks (endpoint_test.go) and the loopback server for wrk
// (cmd/endpoint-server) measure exactly the same setups.
//
// # Setups
//
// Every endpoint takes the same request: POST, form body
// "grant_type=client_credentials&scope=read", client authenticated with
// HTTP Basic (RFC 6749 §2.3.1), and answers a JSON token response.
//
//   - Portcullis: issuer.New over the memory store with the default
//     (OAuth2) dialect, secrets stored as SHA-256 hashes, JWT access tokens
//     signed with ES256 (the default), EdDSA or HS256. Failed
//     authentications are rate limited (successful ones, the only kind
//     measured, are not).
//   - go-oauth2: github.com/go-oauth2/oauth2/v4 as its README sets it up:
//     NewDefaultManager, its memory (buntdb) token store, its memory client
//     store, which keeps the secret in plaintext and compares it with ==, and
//     NewDefaultServer (HTTP Basic client auth). Access tokens are opaque and
//     stored.
//   - fosite: github.com/ory/fosite composed with the HMAC (opaque) token
//     strategy and OAuth2ClientCredentialsGrantFactory over its memory
//     store; the client secret is hashed with its default hasher, bcrypt at
//     its default cost (fosite.DefaultBCryptWorkFactor, 12).
package endpoints

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	goserver "github.com/go-oauth2/oauth2/v4/server"
	gostore "github.com/go-oauth2/oauth2/v4/store"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	fstorage "github.com/ory/fosite/storage"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// Body is the form body of every token request.
const Body = "grant_type=client_credentials&scope=read"

// Endpoint is one token endpoint and a client that may use it.
type Endpoint struct {
	// Name identifies the setup in benchmark names and on the command line.
	Name string
	// Path is where Handler expects the token request.
	Path string
	// Handler serves the token endpoint (and may serve other paths).
	Handler http.Handler
	// ClientID and Secret are the client's credentials.
	ClientID, Secret string
}

// Authorization is the value of the request's Authorization header.
func (e *Endpoint) Authorization() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(e.ClientID+":"+e.Secret))
}

// Request returns a new token request for e. Its body can be read once.
func (e *Endpoint) Request() *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1"+e.Path, strings.NewReader(Body))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", e.Authorization())
	return r
}

// Names lists every setup New knows, in the order they are reported.
var Names = []string{"portcullis-es256", "portcullis-eddsa", "portcullis-hs256", "go-oauth2", "fosite"}

// New builds the named setup. Each call makes a fresh store and client.
func New(name string) (*Endpoint, error) {
	switch name {
	case "portcullis-es256":
		return Portcullis(token.ES256)
	case "portcullis-eddsa":
		return Portcullis(token.EdDSA)
	case "portcullis-hs256":
		return Portcullis(token.HS256)
	case "go-oauth2":
		return GoOAuth2()
	case "fosite":
		return Fosite()
	}
	return nil, fmt.Errorf("endpoints: unknown setup %q (want one of %s)", name, strings.Join(Names, ", "))
}

// Portcullis is the issuer's token endpoint signing JWTs with alg, over the
// memory store.
func Portcullis(alg string) (*Endpoint, error) {
	return PortcullisOn("portcullis-"+strings.ToLower(alg), memory.New(), alg)
}

// PortcullisOn is the issuer's token endpoint over st, signing JWTs with
// alg, under the given name: the store comparison (store_test.go) runs it
// on every backend.
func PortcullisOn(name string, st store.Store, alg string) (*Endpoint, error) {
	iss, err := issuer.New(issuer.Config{
		Issuer:    "http://127.0.0.1",
		Store:     st,
		Algorithm: alg,
		Scopes:    []string{"read", "write"},
		// Only refusals and store failures are logged; the bench makes
		// neither, and a load test should not time a terminal.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	c, secret, err := iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "bench"})
	if err != nil {
		return nil, err
	}
	return &Endpoint{
		Name: name, Path: iss.Paths().Token,
		Handler: iss.Handler(), ClientID: c.ID, Secret: secret,
	}, nil
}

// GoOAuth2 is go-oauth2/oauth2 v4 set up as its README does.
func GoOAuth2() (*Endpoint, error) {
	manager := manage.NewDefaultManager()
	ts, err := gostore.NewMemoryTokenStore()
	if err != nil {
		return nil, err
	}
	manager.MapTokenStorage(ts)
	id, secret := randomHex(16), randomHex(32)
	clients := gostore.NewClientStore()
	if err := clients.Set(id, &models.Client{ID: id, Secret: secret, Domain: "http://127.0.0.1"}); err != nil {
		return nil, err
	}
	manager.MapClientStorage(clients)
	srv := goserver.NewDefaultServer(manager)
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = srv.HandleTokenRequest(w, r)
	})
	return &Endpoint{Name: "go-oauth2", Path: "/token", Handler: mux, ClientID: id, Secret: secret}, nil
}

// Fosite is ory/fosite's client credentials grant with a bcrypt-hashed
// secret at fosite's default cost.
func Fosite() (*Endpoint, error) {
	ctx := context.Background()
	global := make([]byte, 32)
	rand.Read(global)
	config := &fosite.Config{GlobalSecret: global}
	id, secret := randomHex(16), randomHex(32)
	// The config's default hasher: bcrypt at GetBCryptCost, 12 by default.
	hash, err := config.GetSecretsHasher(ctx).Hash(ctx, []byte(secret))
	if err != nil {
		return nil, err
	}
	st := fstorage.NewMemoryStore()
	st.Clients[id] = &fosite.DefaultClient{
		ID:         id,
		Secret:     hash,
		GrantTypes: []string{"client_credentials"},
		Scopes:     []string{"read", "write"},
	}
	provider := compose.Compose(config, st, compose.NewOAuth2HMACStrategy(config), compose.OAuth2ClientCredentialsGrantFactory)
	mux := http.NewServeMux()
	// The token endpoint as fosite's README and integration tests write it.
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		resp, err := provider.NewAccessResponse(ctx, ar)
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		provider.WriteAccessResponse(ctx, w, ar, resp)
	})
	return &Endpoint{Name: "fosite", Path: "/oauth2/token", Handler: mux, ClientID: id, Secret: secret}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
