// Package serverlimits holds the http.Server limits that the examples and
// the portcullis command serve with, so that they agree. A token request is
// a few hundred bytes, so a client that takes longer than ReadTimeout to
// send one is slow on purpose (a body trickled a byte at a time, or
// promised and never sent); WriteTimeout leaves room for a request's store
// calls, bounded together by issuer.Config.RequestTimeout (10s); an idle keep-alive
// connection is closed after IdleTimeout. Every connection therefore ends
// within a bound, and a flood of slow or idle connections costs memory and
// descriptors in proportion to its rate, not its length.
//
// They are not library API on purpose: an http.Server is the application's
// (its limits depend on its other routes, a proxy in front, streaming), and
// the README's "Embedding" program spells the same fields out.
package serverlimits

import (
	"net/http"
	"time"
)

// The limits.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 20 * time.Second
	IdleTimeout       = time.Minute
	MaxHeaderBytes    = 64 << 10
)

// Set sets the limits on srv.
func Set(srv *http.Server) {
	srv.ReadHeaderTimeout = ReadHeaderTimeout
	srv.ReadTimeout = ReadTimeout
	srv.WriteTimeout = WriteTimeout
	srv.IdleTimeout = IdleTimeout
	srv.MaxHeaderBytes = MaxHeaderBytes
}
