package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// DPoP (RFC 9449): a DPoP-bound access token (one whose cnf.jkt names a
// key) is accepted only with the Authorization: DPoP scheme and a DPoP
// header holding a fresh proof, signed by that key, for this request's
// method and URL and this token. A bound token sent as a bearer token is
// refused by every guard, with or without Config.DPoP.

// DPoPConfig configures a guard's checks of DPoP proofs.
type DPoPConfig struct {
	// Nonces remembers every proof's jti until it could no longer be
	// presented, so that a proof is accepted once. Give the issuer's store
	// so that every replica of the API refuses a proof any of them has
	// seen. Default nil: remembered in this process only, at most
	// MaxReplayEntries of them (beyond that, proofs are refused until
	// older ones expire).
	Nonces store.Nonces
	// MaxProofAge bounds how old a proof's iat may be. Default 1 minute.
	MaxProofAge time.Duration
	// Leeway for clock skew in iat. Default 10 s.
	Leeway time.Duration
	// URL returns the request's absolute URL as the client addressed it
	// (the proof's htu). Default: https when r.TLS is set, else http, with
	// r.Host and r.URL.Path; behind a proxy that terminates TLS or
	// rewrites paths, return the public URL.
	URL func(r *http.Request) string
	// MaxReplayEntries bounds the in-process replay memory when Nonces is
	// nil. Default 100,000.
	MaxReplayEntries int
	// Now returns the current time. Default time.Now.
	Now func() time.Time

	// RequireNonce makes the guard require server nonces (RFC 9449 §9): a
	// bound token whose proof lacks a live nonce from this guard is
	// answered 401 with WWW-Authenticate: DPoP error="use_dpop_nonce"
	// and a DPoP-Nonce header holding one, and the client sends the
	// request again with a proof that carries it. [Guard.Wrap] (and the
	// adapters) put the current nonce in DPoP-Nonce of every response to
	// a request with a bound token, so that a client keeps up without a
	// refusal. Nonces are stateless (an HMAC-SHA-256 of a time window
	// under a key derived from NonceSecret): every replica of the API
	// accepts those of every other, and nothing is stored per nonce.
	// Default false.
	RequireNonce bool
	// NonceSecret keys the nonces: at least 32 random bytes, the same on
	// every replica of the API. It may be the issuer's
	// DPoPConfig.NonceSecret: nonces are derived under a label of each
	// role, so that the issuer's are never the guard's. Required with
	// RequireNonce.
	NonceSecret []byte
	// NonceWindow is how long a nonce is handed out for; it is accepted
	// for that window and the next (with Leeway for clocks). Default 5
	// minutes; at least 1 s.
	NonceWindow time.Duration

	// nonces makes and checks them; nil unless RequireNonce.
	nonces *token.DPoPNonces
}

// DPoPNonceHeader is the response header that carries a server nonce
// (RFC 9449 §8.1). Browser clients on another origin can read it only if
// the CORS configuration exposes it (Access-Control-Expose-Headers:
// DPoP-Nonce, WWW-Authenticate).
const DPoPNonceHeader = "DPoP-Nonce"

// ErrInvalidDPoPProof: a DPoP-bound token came without a valid, fresh,
// unused proof for this request and token (RFC 9449 §7.1).
var ErrInvalidDPoPProof = &Error{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof",
	Description: "the DPoP proof is invalid"}

// ErrUseDPoPNonce: the proof of a DPoP-bound token lacks a live server
// nonce (DPoPConfig.RequireNonce); the rejection's DPoPNonce is the one to
// retry with, which WriteError sends in the DPoP-Nonce header (RFC 9449 §9).
var ErrUseDPoPNonce = &Error{Status: http.StatusUnauthorized, Code: "use_dpop_nonce",
	Description: "the DPoP proof must carry the server nonce of the DPoP-Nonce header"}

var (
	errBoundAsBearer = errors.New("a DPoP-bound token was presented as a bearer token")
	errUnboundDPoP   = errors.New("a token that is not DPoP-bound was presented with the DPoP scheme")
	errNoDPoP        = errors.New("this guard does not verify DPoP proofs (Config.DPoP is nil)")
)

func (c *DPoPConfig) setDefaults() error {
	if c.MaxProofAge <= 0 {
		c.MaxProofAge = time.Minute
	}
	if c.Leeway == 0 {
		c.Leeway = 10 * time.Second
	}
	c.Leeway = max(c.Leeway, 0)
	if c.URL == nil {
		c.URL = requestURL
	}
	if c.MaxReplayEntries <= 0 {
		c.MaxReplayEntries = 100_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Nonces == nil {
		c.Nonces = &replayMemory{max: c.MaxReplayEntries, seen: map[string]time.Time{}}
	}
	c.NonceSecret = append([]byte(nil), c.NonceSecret...)
	if c.NonceWindow < 0 || (c.NonceWindow > 0 && c.NonceWindow < time.Second) {
		return errors.New("middleware: Config.DPoP.NonceWindow must be 0 (5 minutes) or at least 1s")
	}
	if c.NonceWindow == 0 {
		c.NonceWindow = 5 * time.Minute
	}
	if !c.RequireNonce {
		return nil
	}
	n, err := token.NewDPoPNonces(c.NonceSecret, token.NonceResourceServer, c.NonceWindow)
	if err != nil {
		return fmt.Errorf("middleware: Config.DPoP.RequireNonce: %w", err)
	}
	c.nonces = n
	return nil
}

// DPoPNonce returns the server nonce a response should carry in the
// DPoP-Nonce header, or "" when the guard does not require nonces. Wrap
// and the adapters send it with every response to a request that a bound
// token passed; a handler that answers such requests by other means may
// send it too.
func (g *Guard) DPoPNonce() string {
	if d := g.cfg.DPoP; d != nil && d.nonces != nil {
		return d.nonces.Current(d.Now())
	}
	return ""
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

// checkDPoP applies RFC 9449 §7 to a verified principal: a bound token
// needs the DPoP scheme and a valid proof by its key; the DPoP scheme
// needs a bound token.
func (g *Guard) checkDPoP(r *http.Request, raw string, p *Principal, scheme bool) *Error {
	ctx := r.Context()
	switch {
	case p.DPoPKey == "" && !scheme:
		return nil
	case p.DPoPKey == "":
		return g.reject(ctx, r, ErrInvalidToken, errUnboundDPoP)
	case !scheme:
		return g.reject(ctx, r, ErrInvalidToken, errBoundAsBearer)
	case g.cfg.DPoP == nil:
		return g.reject(ctx, r, ErrInvalidToken, errNoDPoP)
	}
	c := g.cfg.DPoP
	hs := r.Header.Values("DPoP")
	if len(hs) != 1 {
		return g.reject(ctx, r, ErrInvalidDPoPProof, errors.New("the request must carry exactly one DPoP header"))
	}
	now := c.Now()
	proof, err := token.VerifyDPoPProof(hs[0], token.DPoPCheck{
		Method: r.Method, URL: c.URL(r), AccessToken: raw,
		Now: now, MaxAge: c.MaxProofAge, Leeway: c.Leeway, Nonces: c.nonces,
	})
	if errors.Is(err, token.ErrDPoPNonce) {
		// Before the key is compared with the token's: the proof is
		// otherwise good, and its retry will be checked in full. Nothing
		// is remembered of it.
		e := g.reject(ctx, r, ErrUseDPoPNonce, err)
		e.DPoPNonce = c.nonces.Current(now)
		return e
	}
	if err != nil {
		return g.reject(ctx, r, ErrInvalidDPoPProof, err)
	}
	if proof.JKT != p.DPoPKey {
		return g.reject(ctx, r, ErrInvalidDPoPProof, errors.New("the proof's key is not the one the token is bound to"))
	}
	if a := acceptedProof(ctx, p.DPoPKey); a != "" && a == hs[0] {
		// A guard before this one (a group's, then a route's Require)
		// accepted this very proof for this very request and remembered
		// it: that was its one use, and this is the same use, not a
		// replay. Its ath names the same token.
		return nil
	}
	err = c.Nonces.UseNonce(ctx, proof.ReplayID, proof.RememberUntil, now)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return g.reject(ctx, r, ErrInvalidDPoPProof, errors.New("the proof was used before"))
	case err != nil:
		return ErrUnavailable.with(err, g.cfg.Realm)
	}
	return nil
}

// replayMemory is the in-process store.Nonces of a guard without one.
type replayMemory struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
}

func (m *replayMemory) UseNonce(_ context.Context, id string, expiresAt, now time.Time) error {
	if err := store.CheckNonce(id, expiresAt, now); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.seen[id]; ok && now.Before(until) {
		return store.ErrAlreadyExists
	}
	if len(m.seen) >= m.max {
		for k, until := range m.seen {
			if !now.Before(until) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= m.max {
			// Forgetting a live one would allow its replay: refuse.
			return store.ErrAlreadyExists
		}
	}
	m.seen[id] = expiresAt
	return nil
}
