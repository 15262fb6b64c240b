package issuer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

var metadataEndpoint = endpoint{
	name:        "metadata",
	path:        func(p *Paths) *string { return &p.Metadata },
	defaultPath: "/.well-known/oauth-authorization-server",
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveMetadata },
}

// WellKnownRoutes returns the routes that belong on the host's root rather
// than below the issuer's path: for an issuer identifier with a path,
// such as https://auth.example.com/tenant1, the metadata at the location
// RFC 8414 §3 prescribes, /.well-known/oauth-authorization-server/tenant1
// (the well-known prefix inserted between the host and the path). That
// location is the canonical one; the metadata stays at Paths.Metadata
// below the issuer's path too (/tenant1/.well-known/oauth-authorization-server,
// the form OpenID Connect discovery uses), so clients that append the
// suffix to the issuer still find it. Both serve the same document.
//
// Mount these routes on the root of the host's router, beside the
// issuer's own routes (which go below its path, for example with
// [http.StripPrefix]). There are none for an issuer without a path, whose
// Paths.Metadata is already the canonical location, nor when
// Paths.Metadata is off or not under /.well-known/.
func (i *Issuer) WellKnownRoutes() []Route {
	p := i.cfg.Paths.Metadata
	u, err := url.Parse(i.cfg.Issuer)
	if err != nil || u.EscapedPath() == "" || !strings.HasPrefix(p, "/.well-known/") {
		return nil
	}
	return []Route{{Name: metadataEndpoint.name, Path: p + u.EscapedPath(), Handler: i.withRequestTimeout(i.serveMetadata)}}
}

// buildMetadata makes the RFC 8414 authorization server metadata: the
// issuer, then what each enabled endpoint declares, in registry order.
func (i *Issuer) buildMetadata() []byte {
	var m document
	m.add("issuer", i.cfg.Issuer)
	for _, rt := range i.routes {
		for _, e := range endpoints {
			if e.name == rt.Name && e.describe != nil {
				e.describe(i, &m, i.cfg.Issuer+rt.Path)
			}
		}
	}
	if len(i.cfg.Scopes) > 0 {
		m.add("scopes_supported", i.cfg.Scopes)
	}
	// Required by RFC 8414; empty because there is no authorization
	// endpoint: the client credentials grant needs none.
	m.add("response_types_supported", []string{})
	return m.bytes()
}

// document is a JSON object that keeps its members in the order they were
// added, so that the metadata reads in a stable, logical order.
type document struct{ buf bytes.Buffer }

// add appends a member; v is one of our own values, so encoding cannot
// fail.
func (d *document) add(name string, v any) {
	if d.buf.Len() == 0 {
		d.buf.WriteByte('{')
	} else {
		d.buf.WriteByte(',')
	}
	k, _ := json.Marshal(name)
	b, _ := json.Marshal(v)
	d.buf.Write(k)
	d.buf.WriteByte(':')
	d.buf.Write(b)
}

func (d *document) bytes() []byte {
	if d.buf.Len() == 0 {
		return []byte("{}")
	}
	return append(d.buf.Bytes(), '}')
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
	WriteError(w, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be GET or HEAD"))
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
