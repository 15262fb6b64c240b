package middleware

import (
	"context"
	"time"
)

// Outcome is what a guard tells [Config.Observe] about one request it
// judged: enough for a metric or a span, never the token.
type Outcome struct {
	// Principal is who presented the token; nil when the request was
	// refused.
	Principal *Principal
	// Err is the rejection (an *Error: compare it with the sentinels
	// using errors.Is); nil when the request was accepted.
	Err error
	// Cached reports that the verifier answered from its token cache (a
	// token seen before) rather than by checking a signature or asking
	// the issuer. Only this package's verifiers tell; with any other,
	// Cached is false.
	Cached bool
	// Start is when Authenticate began; the observer reads the end
	// itself, so that a guard without an observer reads no clock.
	Start time.Time
}

// Results an [Outcome] reports, by [Outcome.Result]: accepted, or why not.
// The rejections are the RFC 6750 error codes, and no_token for a request
// that carried none, as the guard's refusal logs name them.
const (
	ResultAccepted          = "accepted"
	ResultNoToken           = "no_token"
	ResultInvalidRequest    = "invalid_request"
	ResultInvalidToken      = "invalid_token"
	ResultInsufficientScope = "insufficient_scope"
	ResultUnavailable       = "temporarily_unavailable"
)

// Result names the outcome, one of the Result constants: a small, fixed
// set, fit for a metric attribute.
func (o Outcome) Result() string {
	if o.Err == nil {
		return ResultAccepted
	}
	e, ok := o.Err.(*Error) // what Authenticate returns
	if !ok {
		e = asError(o.Err)
	}
	if e.Code == "" {
		return ResultNoToken
	}
	return e.Code
}

// cacheReporter is implemented by this package's verifiers, which cache:
// verifyCached is Verify that also reports whether the token cache
// answered, for Config.Observe. It is a second method rather than a field
// of Principal, which the cache shares between requests, so that the
// cached path stays free of allocations.
type cacheReporter interface {
	verifyCached(ctx context.Context, raw string) (p *Principal, cached bool, err error)
}

// verify asks the verifier, and whether its cache answered when it can
// tell and an observer wants to know.
func (g *Guard) verify(ctx context.Context, raw string) (*Principal, bool, error) {
	if g.cfg.Observe != nil {
		if cr, ok := g.cfg.Verifier.(cacheReporter); ok {
			return cr.verifyCached(ctx, raw)
		}
	}
	p, err := g.cfg.Verifier.Verify(ctx, raw)
	return p, false, err
}
