package issuer

import (
	"fmt"
	"net/http"
	"strings"
)

// endpoints is the registry of the issuer's HTTP endpoints: the router,
// [Issuer.Routes], the defaults of [Paths] and the RFC 8414 metadata all
// derive from it. An endpoint is declared in the file that serves it;
// adding one is that file and one line here.
var endpoints = []*endpoint{
	&tokenEndpoint,
	&revocationEndpoint,
	&introspectionEndpoint,
	&credentialsEndpoint,
	&ownCredentialsEndpoint,
	&jwksEndpoint,
	&metadataEndpoint,
	&loginEndpoint,
	&accountKeysEndpoint,
	&openAPIEndpoint,
	&changesEndpoint,
}

// endpoint declares one HTTP endpoint of the issuer.
type endpoint struct {
	// name identifies the endpoint in [Route.Name].
	name string
	// path points at the endpoint's field of Paths; defaultPath is its
	// value when the field is empty.
	path        func(*Paths) *string
	defaultPath string
	// subtree: the endpoint also serves every path below path + "/" (an
	// id in the path, as in DELETE /keys/{id}).
	subtree bool
	// available, when set, reports whether the issuer can serve the
	// endpoint (its store has the capability it needs); when it cannot,
	// the endpoint is off as if its path were "-".
	available func(*Issuer) bool
	// serve is the endpoint's handler for an issuer.
	serve func(*Issuer) http.HandlerFunc
	// describe adds the endpoint's members to the RFC 8414 metadata, with
	// url the endpoint's absolute URL; nil when it has none.
	describe func(i *Issuer, m *document, url string)
}

// Route is one endpoint: its name, the path it answers on and its handler.
type Route struct {
	// Name of the endpoint: "token", "revocation", "introspection",
	// "credentials", "own_credentials", "jwks", "metadata", …
	Name string
	// Path is the exact path the endpoint answers on.
	Path string
	// Subtree reports that the handler also answers below Path + "/"
	// (ids in the path); mount both.
	Subtree bool
	Handler http.Handler
}

// pathDisabled as a field of [Paths] turns that endpoint off.
const pathDisabled = "-"

// setDefaults fills in the default paths and checks them: each starts with
// "/", has no query or fragment, and no two endpoints share one.
func (p *Paths) setDefaults() error {
	seen := map[string]string{}
	for _, e := range endpoints {
		s := e.path(p)
		if *s == "" {
			*s = e.defaultPath
		}
		if *s == pathDisabled {
			continue
		}
		if !strings.HasPrefix(*s, "/") || strings.ContainsAny(*s, "?#") {
			return fmt.Errorf("issuer: path %q must start with / and have no query or fragment", *s)
		}
		if e.subtree && strings.HasSuffix(*s, "/") {
			return fmt.Errorf("issuer: path %q of the %s endpoint must not end with /", *s, e.name)
		}
		if other, ok := seen[*s]; ok {
			return fmt.Errorf("issuer: path %q is used by two endpoints (%s and %s)", *s, other, e.name)
		}
		seen[*s] = e.name
	}
	return nil
}

// buildRoutes makes the routes of the enabled endpoints, in registry order.
func (i *Issuer) buildRoutes() {
	i.exact = map[string]http.Handler{}
	for _, e := range endpoints {
		if e.available != nil && !e.available(i) {
			*e.path(&i.cfg.Paths) = pathDisabled
		}
		path := *e.path(&i.cfg.Paths)
		if path == pathDisabled {
			continue
		}
		rt := Route{Name: e.name, Path: path, Subtree: e.subtree, Handler: i.withRequestTimeout(e.serve(i))}
		i.routes = append(i.routes, rt)
		i.exact[path] = rt.Handler
		if rt.Subtree {
			i.subtrees = append(i.subtrees, rt)
		}
	}
}

// Handler serves every endpoint at its path (see [Issuer.Routes]) and
// answers 404 elsewhere.
func (i *Issuer) Handler() http.Handler { return http.HandlerFunc(i.route) }

func (i *Issuer) route(w http.ResponseWriter, r *http.Request) {
	if h, ok := i.exact[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	for _, rt := range i.subtrees {
		if rest, ok := strings.CutPrefix(r.URL.Path, rt.Path+"/"); ok && rest != "" {
			rt.Handler.ServeHTTP(w, r)
			return
		}
	}
	http.NotFound(w, r)
}

// Routes returns every enabled endpoint with its own handler, for routers
// that mount them one by one (the adapters' Mount functions). The paths
// are distinct and start with "/"; every method should reach the handler,
// which answers 405 itself to the ones an endpoint does not take. A route
// with Subtree set must also receive the paths below Path + "/".
func (i *Issuer) Routes() []Route { return append([]Route(nil), i.routes...) }

// Paths returns the request paths of the endpoints, defaults filled in; a
// disabled endpoint's is "-".
func (i *Issuer) Paths() Paths { return i.cfg.Paths }

// subpath returns what follows the route's path and "/" in r's path: the
// id of a subtree endpoint. It is empty for the route's own path.
func subpath(r *http.Request, path string) string {
	if rest, ok := strings.CutPrefix(r.URL.Path, path+"/"); ok {
		return rest
	}
	return ""
}
