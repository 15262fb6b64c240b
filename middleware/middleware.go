package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Verifier checks a raw access token and says who presented it. Errors
// should wrap ErrInvalidToken or ErrUnavailable; any other error
// is treated as an invalid token. [LocalVerifier], [JWKSVerifier] and
// [IntrospectionVerifier] satisfy it.
//
// A verifier may also tell the guard which token kinds its issuer defines,
// with a method Kinds() []string, as the three above do; a guard that asks
// for any other kind is a configuration error. A verifier without it is
// taken to know KindClient and KindAccount.
type Verifier interface {
	Verify(ctx context.Context, raw string) (*Principal, error)
}

// kindLister is the optional interface a Verifier tells its kinds with.
type kindLister interface{ Kinds() []string }

// syntaxChecker is implemented by the verifiers of this package that
// accept only tokens of RFC 6750's b64token syntax (a JWT in strict
// base64url, an opaque token checked before the store is asked), so that
// a guard over them scans a header token's characters only when they
// reject it, to tell a malformed request (400) from a bad token (401):
// the scan is a pass over the whole token that a token seen before would
// otherwise pay on every request.
type syntaxChecker interface{ onlyB64Tokens() }

// verifierKinds returns the kinds v's issuer defines.
func verifierKinds(v Verifier) []string {
	if k, ok := v.(kindLister); ok {
		return k.Kinds()
	}
	return []string{KindClient, KindAccount}
}

// unknownKinds returns an error naming the kinds in want that are not in
// known, or nil.
func unknownKinds(want, known []string) error {
	var unknown []string
	for _, k := range want {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if unknown == nil {
		return nil
	}
	return fmt.Errorf("token kinds %q are not defined by the verifier's issuer, which defines %q", unknown, known)
}

// Config configures a Guard. Verifier is required; every other field's zero
// value is a safe default.
type Config struct {
	// Verifier checks tokens. Required.
	Verifier Verifier
	// Scopes the token must all carry. Default none.
	Scopes []string
	// Audiences: when set, the token's aud must name at least one of them
	// (on top of what the verifier accepts). Default: any the verifier
	// accepts.
	Audiences []string
	// Kinds of token accepted, each one the verifier's issuer defines (see
	// [Verifier]): New refuses a kind it does not, such as a misspelt one.
	// Default []string{KindClient}: an account token never passes a guard
	// that did not ask for it.
	Kinds []string
	// Realm is put in the WWW-Authenticate challenge. Default "": no realm
	// parameter. Printable ASCII without '"' or '\'.
	Realm string
	// TokenFromQuery names a query parameter to read the token from when
	// there is no Authorization header. Default "": never read a token from
	// the URL, where it would leak into logs and Referer headers.
	TokenFromQuery string
	// MaxHeaderBytes bounds the Authorization header (and a query token).
	// Longer ones are rejected as invalid_request before any parsing.
	// Default 8 KiB.
	MaxHeaderBytes int
	// ErrorHandler answers a rejected request. Default WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives the 503s and a WithKinds copy's undefined kinds
	// (error level) and, at debug level, why a token was rejected.
	// Default slog.Default().
	Logger *slog.Logger
	// LogRefusals logs every refused request at info level instead of
	// debug, with the method, the path, the error code (the reason) and
	// why, never the token: an audit trail of who was turned away. Default
	// false, since a public API is probed all day and its refusals are
	// noise until someone looks for them.
	LogRefusals bool
	// Observe, when set, is told the [Outcome] of every request that
	// Authenticate judged, once it has: for metrics and traces (package
	// adapters/otelauth turns it into OpenTelemetry). It runs on the
	// request's goroutine before the next handler, so it must be fast and
	// must not panic. Default nil: nothing is observed, and the guard
	// reads no clock for it.
	Observe func(ctx context.Context, o Outcome)
	// DPoP, when set, accepts DPoP-bound tokens (RFC 9449) sent with the
	// Authorization: DPoP scheme and a valid proof. Default nil: bound
	// tokens are refused, and they are never accepted as bearer tokens.
	DPoP *DPoPConfig
}

// Guard authenticates requests with bearer tokens and applies a policy. It
// is immutable and safe for concurrent use; Require and WithKinds return
// modified copies.
type Guard struct {
	cfg Config
	// known are the kinds the verifier's issuer defines.
	known []string
	// kindErr is set on a copy that WithKinds gave a kind the issuer does
	// not define: it rejects every token.
	kindErr error
	// scope is cfg.Scopes joined, rendered with insufficient_scope.
	scope string
	// lateSyntax is set when the verifier accepts only b64tokens: a
	// header token's syntax is then checked only when it is rejected.
	lateSyntax bool
}

// New checks cfg and returns a Guard.
func New(cfg Config) (*Guard, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("middleware: Config.Verifier is required")
	}
	if !validParam(cfg.Realm) {
		return nil, fmt.Errorf("middleware: Config.Realm %q must be printable ASCII without '\"' or '\\'", cfg.Realm)
	}
	for _, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || !validParam(s) {
			return nil, fmt.Errorf("middleware: invalid scope %q", s)
		}
	}
	if cfg.TokenFromQuery != "" && strings.ContainsAny(cfg.TokenFromQuery, "&=#?") {
		return nil, fmt.Errorf("middleware: invalid query parameter name %q", cfg.TokenFromQuery)
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = []string{KindClient}
	}
	known := slices.Clone(verifierKinds(cfg.Verifier))
	if err := unknownKinds(cfg.Kinds, known); err != nil {
		return nil, fmt.Errorf("middleware: Config.Kinds: %w", err)
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = WriteError
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DPoP != nil {
		d := *cfg.DPoP
		if err := d.setDefaults(); err != nil {
			return nil, err
		}
		cfg.DPoP = &d
	}
	cfg.Scopes = dedup(cfg.Scopes)
	cfg.Audiences = slices.Clone(cfg.Audiences)
	cfg.Kinds = dedup(cfg.Kinds)
	_, late := cfg.Verifier.(syntaxChecker)
	return &Guard{cfg: cfg, known: known, scope: strings.Join(cfg.Scopes, " "), lateSyntax: late}, nil
}

func dedup(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Require returns a copy of the guard that also requires scopes, for
// per-route policy. A scope no token can carry (empty, or with a space)
// makes the copy reject every request: the guard fails closed rather than
// panic.
func (g *Guard) Require(scopes ...string) *Guard {
	c := *g
	c.cfg.Scopes = dedup(append(slices.Clone(g.cfg.Scopes), scopes...))
	c.scope = strings.Join(c.cfg.Scopes, " ")
	return &c
}

// WithKinds returns a copy of the guard that accepts tokens of these kinds
// (and only these), for per-route policy: KindClient, KindAccount, both, or
// any other kind the verifier's issuer defines. No kinds means the
// default, client tokens only.
//
// A kind the issuer does not define (a misspelt one) makes the copy reject
// every token, of whatever kind, with 401 invalid_token, and log why at
// error level on every request: like Require, it fails closed rather than
// panic, and says so where it will be seen.
func (g *Guard) WithKinds(kinds ...string) *Guard {
	c := *g
	if len(kinds) == 0 {
		kinds = []string{KindClient}
	}
	c.cfg.Kinds = dedup(kinds)
	c.kindErr = nil
	if err := unknownKinds(c.cfg.Kinds, g.known); err != nil {
		c.kindErr = fmt.Errorf("middleware: Guard.WithKinds: %w; this route refuses every token", err)
	}
	return &c
}

// Authenticate reads the request's bearer token, verifies it and applies the
// guard's policy. It is the neutral core that every adapter calls. A
// rejection is always an *Error (see the sentinels); pass it to Fail.
func (g *Guard) Authenticate(r *http.Request) (p *Principal, err error) {
	var cached bool
	if g.cfg.Observe != nil {
		// A deferred closure sees every return; open-coded, it allocates
		// nothing.
		start := time.Now()
		defer func() { g.cfg.Observe(r.Context(), Outcome{Principal: p, Err: err, Cached: cached, Start: start}) }()
	}
	raw, dpop, err := g.extract(r)
	if err != nil {
		g.debug(r.Context(), r, err)
		return nil, err
	}
	ctx := r.Context()
	p, cached, err = g.verify(ctx, raw)
	if err == nil && p == nil {
		err = errors.New("verifier returned no principal")
	}
	if err != nil {
		if g.lateSyntax && !b64token(raw) {
			// As if scanned before: the request is malformed, whatever the
			// verifier said.
			return nil, ErrInvalidRequest.with(errBadBearer, g.cfg.Realm)
		}
		e := asError(err)
		if e.Status == http.StatusServiceUnavailable {
			g.cfg.Logger.ErrorContext(ctx, "portcullis: cannot verify access tokens; failing closed",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		} else {
			g.debug(ctx, r, err)
		}
		return nil, e.with(e.Err, g.cfg.Realm)
	}
	if g.kindErr != nil {
		g.cfg.Logger.ErrorContext(ctx, "portcullis: guard misconfigured; refusing every token",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", g.kindErr))
		return nil, ErrInvalidToken.with(g.kindErr, g.cfg.Realm)
	}
	if !slices.Contains(g.cfg.Kinds, p.Kind) {
		return nil, g.reject(ctx, r, ErrInvalidToken, fmt.Errorf("token kind %q is not accepted here", p.Kind))
	}
	if len(g.cfg.Audiences) > 0 && !slices.ContainsFunc(p.Audience, func(a string) bool { return slices.Contains(g.cfg.Audiences, a) }) {
		return nil, g.reject(ctx, r, ErrInvalidToken, errors.New("token audience is not accepted here"))
	}
	if p.DPoPKey != "" || dpop {
		if e := g.checkDPoP(r, raw, p, dpop); e != nil {
			return nil, e
		}
	}
	if !p.HasScopes(g.cfg.Scopes...) {
		e := g.reject(ctx, r, ErrInsufficientScope, fmt.Errorf("token scopes %q lack one of %q", p.Scopes, g.cfg.Scopes))
		e.Scope = g.scope
		return nil, e
	}
	return p, nil
}

func (g *Guard) reject(ctx context.Context, r *http.Request, sentinel *Error, cause error) *Error {
	e := sentinel.with(cause, g.cfg.Realm)
	g.debug(ctx, r, e)
	return e
}

// debug logs a refusal: at debug level, or at info with LogRefusals. The
// reason is the error code ("" when the request carried no token).
func (g *Guard) debug(ctx context.Context, r *http.Request, err error) {
	level := slog.LevelDebug
	if g.cfg.LogRefusals {
		level = slog.LevelInfo
	}
	if g.cfg.Logger.Enabled(ctx, level) {
		e := asError(err)
		reason := e.Code
		if reason == "" {
			reason = "no_token"
		}
		g.cfg.Logger.LogAttrs(ctx, level, "portcullis: access token rejected",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("reason", reason), slog.Any("err", err))
	}
}

// Fail answers a request that Authenticate rejected, through
// Config.ErrorHandler. Adapters call it so that a custom handler applies
// whatever the framework.
func (g *Guard) Fail(w http.ResponseWriter, r *http.Request, err error) {
	if e := asError(err); e.Realm == "" && g.cfg.Realm != "" {
		err = e.with(e.Err, g.cfg.Realm)
	}
	g.cfg.ErrorHandler(w, r, err)
}

// Wrap returns next guarded: a request reaches next only with an accepted
// token, and next finds the principal with PrincipalFrom. Its signature
// fits chi's and net/http's middleware chains.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := g.Authenticate(r)
		if err != nil {
			g.Fail(w, r, err)
			return
		}
		if p.DPoPKey != "" {
			if n := g.DPoPNonce(); n != "" {
				w.Header().Set(DPoPNonceHeader, n)
			}
		}
		next.ServeHTTP(w, RequestWithPrincipal(r, p))
	})
}

// extract finds the one bearer token of the request (RFC 6750 §2.1 and,
// when enabled, §2.3).
func (g *Guard) extract(r *http.Request) (raw string, dpop bool, err error) {
	raw, found, dpop, e := bearerHeader(r, g.cfg.MaxHeaderBytes, g.cfg.Realm, !g.lateSyntax, true)
	if e != nil {
		return "", false, e
	}
	if g.cfg.TokenFromQuery != "" && r.URL.RawQuery != "" {
		vs, ok := r.URL.Query()[g.cfg.TokenFromQuery]
		if ok {
			switch {
			case found || len(vs) != 1:
				return "", false, ErrInvalidRequest.with(errors.New("more than one token in the request"), g.cfg.Realm)
			case len(vs[0]) > g.cfg.MaxHeaderBytes:
				return "", false, ErrInvalidRequest.with(errors.New("query token too long"), g.cfg.Realm)
			case !b64token(vs[0]):
				return "", false, ErrInvalidRequest.with(errors.New("query token empty or badly formed"), g.cfg.Realm)
			}
			raw, found, dpop = vs[0], true, false
		}
	}
	if !found {
		return "", false, ErrNoToken.with(nil, g.cfg.Realm)
	}
	return raw, dpop, nil
}

// BearerToken returns the bearer token of r's Authorization header, read
// exactly as a Guard reads it (RFC 6750 §2.1, a header of at most 8 KiB,
// never a token from the URL), for handlers that authenticate a request
// themselves. It fails with a copy of ErrNoToken when the request carries
// no Authorization header or one of another scheme (Basic, DPoP…), and of
// ErrInvalidRequest when it carries several, or a bearer token that is
// empty, several or badly formed; pass the error to WriteError to answer as
// a Guard would.
func BearerToken(r *http.Request) (string, error) {
	raw, found, _, e := bearerHeader(r, defaultMaxHeaderBytes, "", true, false)
	switch {
	case e != nil:
		return "", e
	case !found:
		return "", ErrNoToken.with(nil, "")
	}
	return raw, nil
}

// defaultMaxHeaderBytes is Config.MaxHeaderBytes' default.
const defaultMaxHeaderBytes = 8 << 10

// errBadBearer is why a bearer token that is not a b64token is refused.
var errBadBearer = errors.New("bearer token empty, several or badly formed")

// bearerHeader reads the one Authorization header: found is false when
// there is none or it is of another scheme. The error carries realm.
// syntax asks for the token's characters to be checked; an empty token is
// refused either way.
//
// With dpop, the DPoP scheme (RFC 9449 §7.1) is read like Bearer, and
// isDPoP says which it was.
func bearerHeader(r *http.Request, maxBytes int, realm string, syntax, dpop bool) (raw string, found, isDPoP bool, e *Error) {
	// The key is canonical already: indexing skips Values' canonicalisation.
	switch hs := r.Header["Authorization"]; len(hs) {
	case 0:
		return "", false, false, nil
	case 1:
		h := hs[0]
		if len(h) > maxBytes {
			return "", false, false, ErrInvalidRequest.with(errors.New("Authorization header too long"), realm)
		}
		// credentials = "Bearer" 1*SP b64token; the scheme is
		// case-insensitive, but almost every client spells it so.
		rest, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			var scheme string
			scheme, rest, _ = strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				if !dpop || !strings.EqualFold(scheme, "DPoP") {
					return "", false, false, nil // another scheme (Basic…) is no bearer token
				}
				isDPoP = true
			}
		}
		raw = rest
		if raw != "" && raw[0] == ' ' {
			raw = strings.TrimLeft(raw, " ")
		}
		if raw == "" || syntax && !b64token(raw) {
			return "", false, false, ErrInvalidRequest.with(errBadBearer, realm)
		}
		return raw, true, isDPoP, nil
	default:
		return "", false, false, ErrInvalidRequest.with(errors.New("more than one Authorization header"), realm)
	}
}

// b64token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// It runs on every request over the whole token, so it uses a table, eight
// bytes to a branch.
func b64token(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		if b64tokenChar[w[0]]&b64tokenChar[w[1]]&b64tokenChar[w[2]]&b64tokenChar[w[3]]&
			b64tokenChar[w[4]]&b64tokenChar[w[5]]&b64tokenChar[w[6]]&b64tokenChar[w[7]] == 0 {
			break // the byte-wise loop finds which
		}
	}
	for i < len(s) && b64tokenChar[s[i]] != 0 {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// b64tokenChar is 1 for the bytes of a b64token before its padding.
var b64tokenChar = func() (t [256]uint8) {
	for c := range 256 {
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			t[c] = 1
		}
	}
	return t
}()

type principalKey struct{}

// WithPrincipal returns a copy of ctx that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return &principalCtx{Context: ctx, p: p}
}

// RequestWithPrincipal returns a shallow copy of r whose context carries
// p, as r.WithContext(WithPrincipal(r.Context(), p)) would, in one
// allocation instead of two: the request copy and the context live in one
// block. Wrap and the adapters call it once per accepted request, with the
// principal [Guard.Authenticate] returned for r.
//
// When p is DPoP-bound, the copy also records r's DPoP proof, which
// Authenticate has just accepted and remembered against replay, so that a
// second guard on the same request (a group's, then a route's Require)
// takes it for this request's one use and not for a replay.
func RequestWithPrincipal(r *http.Request, p *Principal) *http.Request {
	pr := &principalRequest{ctx: principalCtx{Context: r.Context(), p: p}}
	if p != nil && p.DPoPKey != "" {
		// The key is canonical already, as in bearerHeader.
		if hs := r.Header["Dpop"]; len(hs) == 1 {
			pr.ctx.proof = hs[0]
		}
	}
	// WithContext is inlined, so the Request it makes stays on the stack
	// and is copied into pr (TestRequestWithPrincipalAllocs keeps it so).
	pr.r = *r.WithContext(&pr.ctx)
	return &pr.r
}

// principalRequest is what RequestWithPrincipal allocates.
type principalRequest struct {
	r   http.Request
	ctx principalCtx
}

// principalCtx is a context carrying a principal: context.WithValue's
// valueCtx with the key fixed, so that it can share an allocation.
type principalCtx struct {
	context.Context
	p *Principal
	// proof is the DPoP proof accepted with p, when p is bound.
	proof string
}

// principalCtxKey finds the innermost principalCtx of a context.
type principalCtxKey struct{}

func (c *principalCtx) Value(key any) any {
	switch key.(type) {
	case principalKey:
		return c.p
	case principalCtxKey:
		return c
	}
	return c.Context.Value(key)
}

// acceptedProof returns the DPoP proof that a guard already accepted on
// this request (the context is the copy RequestWithPrincipal made) with a
// token bound to jkt, or "".
func acceptedProof(ctx context.Context, jkt string) string {
	c, _ := ctx.Value(principalCtxKey{}).(*principalCtx)
	if c == nil || c.p == nil || c.p.DPoPKey != jkt {
		return ""
	}
	return c.proof
}

func (c *principalCtx) String() string {
	return fmt.Sprintf("%v.WithPrincipal", c.Context)
}

// PrincipalFrom returns the principal that Wrap (or an adapter) put in ctx.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	if c, ok := ctx.(*principalCtx); ok {
		return c.p, c.p != nil // the handler right behind the guard: no walk
	}
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
