package tokensource

import (
	"errors"
	"io"
	"net/http"
	"strings"
)

// Transport is an [http.RoundTripper] that sends each request with
// "Authorization: Bearer <token>" from Source. When the server answers
// 401, the token is dropped ([Source.Invalidate]) and the request is sent
// once more with a fresh one, provided its body can be sent again (it has
// none, or GetBody, which http.NewRequest sets for in-memory bodies);
// otherwise the 401 is returned as it is. A 401 to the second attempt is
// returned too: the token was not the problem.
//
// A token is never sent to another host than the request's first: when a
// redirect leads elsewhere, the redirected request goes without it (net/http
// drops an Authorization header the caller set, on the same grounds).
type Transport struct {
	// Source gives the tokens. Required.
	Source *Source
	// Base sends the requests. Default http.DefaultTransport.
	Base http.RoundTripper
}

// maxDrain bounds what is read of a refused response before the request
// is sent again, so that its connection can be reused.
const maxDrain = 4 << 10

// RoundTrip implements [http.RoundTripper]. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func(r *http.Request) {
		if r.Body != nil {
			r.Body.Close()
		}
	}
	if t.Source == nil {
		closeBody(req)
		return nil, errors.New("tokensource: Transport.Source is nil")
	}
	if req.Response != nil && !sameOrigin(req, first(req)) {
		return t.base().RoundTrip(req)
	}
	tok, err := t.Source.TokenContext(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base().RoundTrip(withToken(req, req.Body, tok.AccessToken))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}

	var body io.ReadCloser
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		body = req.Body
	case req.GetBody != nil:
		if body, err = req.GetBody(); err != nil {
			return resp, nil // the refusal stands
		}
	default:
		return resp, nil
	}
	t.Source.Invalidate(tok.AccessToken)
	fresh, err := t.Source.TokenContext(req.Context())
	if err != nil || fresh.AccessToken == tok.AccessToken {
		if body != nil {
			body.Close()
		}
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	return t.base().RoundTrip(withToken(req, body, fresh.AccessToken))
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// withToken is req with body and the token, leaving req as it was (a
// RoundTripper must not modify its request).
func withToken(req *http.Request, body io.ReadCloser, tok string) *http.Request {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// first is the request a chain of redirects started with.
func first(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

// sameOrigin reports whether two requests go to the same scheme, host and
// port.
func sameOrigin(a, b *http.Request) bool {
	return strings.EqualFold(a.URL.Scheme, b.URL.Scheme) && strings.EqualFold(a.URL.Host, b.URL.Host)
}
