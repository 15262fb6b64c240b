package issuer

import "net/http"

var jwksEndpoint = endpoint{
	name:        "jwks",
	path:        func(p *Paths) *string { return &p.JWKS },
	defaultPath: "/.well-known/jwks.json",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveJWKS },
	describe:    func(_ *Issuer, m *document, url string) { m.add("jwks_uri", url) },
}

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
		WriteError(w, i.unavailable(r.Context(), "signing keys", err))
		return
	}
	writeDocument(w, r, ks.JWKS(), jwksMaxAge)
}
