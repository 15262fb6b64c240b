package middleware

import (
	"context"
	"errors"
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
}

// ErrInvalidDPoPProof: a DPoP-bound token came without a valid, fresh,
// unused proof for this request and token (RFC 9449 §7.1).
var ErrInvalidDPoPProof = &Error{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof",
	Description: "the DPoP proof is invalid"}

var (
	errBoundAsBearer = errors.New("a DPoP-bound token was presented as a bearer token")
	errUnboundDPoP   = errors.New("a token that is not DPoP-bound was presented with the DPoP scheme")
	errNoDPoP        = errors.New("this guard does not verify DPoP proofs (Config.DPoP is nil)")
)

func (c *DPoPConfig) setDefaults() {
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
		Now: now, MaxAge: c.MaxProofAge, Leeway: c.Leeway,
	})
	if err != nil {
		return g.reject(ctx, r, ErrInvalidDPoPProof, err)
	}
	if proof.JKT != p.DPoPKey {
		return g.reject(ctx, r, ErrInvalidDPoPProof, errors.New("the proof's key is not the one the token is bound to"))
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
