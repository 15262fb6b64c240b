package issuer

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// jwksMaxAge is how long clients may cache the JWKS: well under the key
// manager's default PublishAhead (10m), so a new key is fetched before it
// signs.
const jwksMaxAge = "public, max-age=300"

// serveJWKS serves the public keys only; HS256 secrets are never in it.
func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	ks, err := i.keys.KeySet(r.Context())
	if err != nil {
		writeError(w, i.unavailable(r.Context(), "signing keys", err))
		return
	}
	writeDocument(w, r, ks.JWKS(), jwksMaxAge)
}

// metadata is the RFC 8414 authorization server metadata.
type metadata struct {
	Issuer                   string   `json:"issuer"`
	TokenEndpoint            string   `json:"token_endpoint"`
	JWKSURI                  string   `json:"jwks_uri"`
	ScopesSupported          []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported   []string `json:"response_types_supported"`
	GrantTypesSupported      []string `json:"grant_types_supported"`
	TokenAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpoint       string   `json:"revocation_endpoint"`
	RevocationAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	CredentialsEndpoint      string   `json:"portcullis_credentials_endpoint"`
}

func (i *Issuer) buildMetadata() []byte {
	base := i.cfg.Issuer
	auth := []string{string(AuthBasic), string(AuthPost)}
	grants := []string{GrantClientCredentials}
	if i.cfg.Refresh.Enabled {
		grants = append(grants, GrantRefreshToken)
	}
	tokenAuth := auth
	if i.cfg.Refresh.Enabled && i.cfg.Refresh.AllowPublic {
		tokenAuth = append(slices.Clone(auth), string(AuthNone))
	}
	m := metadata{
		Issuer:        base,
		TokenEndpoint: base + i.cfg.Paths.Token,
		JWKSURI:       base + i.cfg.Paths.JWKS,
		// Required by RFC 8414; empty because there is no authorization
		// endpoint: the client credentials grant needs none.
		ResponseTypesSupported:   []string{},
		ScopesSupported:          i.cfg.Scopes,
		GrantTypesSupported:      grants,
		TokenAuthMethods:         tokenAuth,
		RevocationEndpoint:       base + i.cfg.Paths.Revocation,
		RevocationAuthMethods:    auth,
		IntrospectionEndpoint:    base + i.cfg.Paths.Introspection,
		IntrospectionAuthMethods: auth,
		CredentialsEndpoint:      base + i.cfg.Paths.Credentials,
	}
	b, _ := json.Marshal(m)
	return b
}

// serveMetadata serves RFC 8414 metadata; "issuer" is Config.Issuer exactly.
func (i *Issuer) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	writeDocument(w, r, i.metadata, "public, max-age=3600")
}

// getOrHead answers 405 to anything but GET and HEAD.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be GET or HEAD"))
	return false
}

func writeDocument(w http.ResponseWriter, r *http.Request, b []byte, cache string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cache)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
