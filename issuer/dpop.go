package issuer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// DPoP (RFC 9449) at the token endpoint: a token request that carries a
// valid DPoP proof gets an access token bound to the proof's key (cnf.jkt,
// token_type DPoP), which a guard then accepts only with a fresh proof made
// by that key. A stolen DPoP-bound token is useless without the private key.

// DPoPConfig configures DPoP-bound access tokens.
type DPoPConfig struct {
	// Enabled binds the JWT access token of every token request with a
	// valid DPoP header to the proof's key, refuses a request whose proof
	// is invalid or replayed (400 invalid_dpop_proof), and lists
	// dpop_signing_alg_values_supported in the metadata. The store must
	// implement [store.Nonces] (proof jti replay). Requests without a DPoP
	// header get bearer tokens, unless their client or kind requires
	// DPoP ([ClientSpec.RequireDPoP], [Kind.RequireDPoP]). Declared dialects
	// (DialectSpec) ignore DPoP. Default false: the DPoP header is ignored.
	Enabled bool
	// MaxProofAge bounds how old a proof's iat may be (with Config.Leeway
	// for clocks). Default 1 minute.
	MaxProofAge time.Duration

	// RequireNonce makes the token endpoint require server nonces (RFC
	// 9449 §8): a proof without a live nonce from this issuer is answered
	// 400 use_dpop_nonce with a DPoP-Nonce header holding one, and the
	// client sends the request again with a proof that carries it. A
	// proof made in advance (by an attacker who could sign with the
	// client's key for a while) is then useless once its nonce expires.
	// A successful response carries a fresh nonce in DPoP-Nonce when the
	// one presented is about to expire.
	//
	// Nonces are stateless: an HMAC-SHA-256 of a time window under a key
	// derived from NonceSecret, so that every replica accepts the nonces
	// of every other without a store write per nonce. Default false.
	RequireNonce bool
	// NonceSecret keys the nonces: at least 32 random bytes, the same on
	// every replica (a different one only costs clients a retry).
	// Default: derived from Config.Pepper (with a label of its own, so
	// neither use weakens the other); with neither set, RequireNonce
	// makes [New] fail. A guard may be given the same secret: its nonces
	// are derived under another label, so a nonce of the issuer is never
	// one of the guard's (RFC 9449 §9 keeps them apart too).
	NonceSecret []byte
	// NonceWindow is how long a nonce is handed out for; it is accepted
	// for that window and the next, so it lives between one and two
	// windows (with Config.Leeway for replicas' clocks). Default 5
	// minutes; at least 1 s.
	NonceWindow time.Duration

	// nonces makes and checks them; nil unless RequireNonce.
	nonces *token.DPoPNonces
}

const (
	defaultMaxProofAge = time.Minute
	defaultNonceWindow = 5 * time.Minute
)

// MetaRequireDPoP set to "true" makes the client's access tokens
// DPoP-bound: a token request without a proof is refused. RFC 9449 §5.2
// names the registration parameter dpop_bound_access_tokens.
const MetaRequireDPoP = "portcullis.dpop_bound_access_tokens"

// ErrInvalidDPoPProof: the DPoP proof is missing where required, invalid,
// or replayed (RFC 9449 §5).
var ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Status: http.StatusBadRequest}

// ErrUseDPoPNonce: the DPoP proof lacks a live server nonce
// (DPoPConfig.RequireNonce); the response's DPoP-Nonce header holds one
// to retry with (RFC 9449 §8).
var ErrUseDPoPNonce = &Error{Code: "use_dpop_nonce", Status: http.StatusBadRequest}

// DPoPNonceHeader is the response header that carries a server nonce
// (RFC 9449 §8.1). Browser clients on another origin can read it only if
// the CORS configuration exposes it (Access-Control-Expose-Headers).
const DPoPNonceHeader = "DPoP-Nonce"

func (c *DPoPConfig) setDefaults(s store.Store, pepper []byte) error {
	c.NonceSecret = append([]byte(nil), c.NonceSecret...)
	if !c.Enabled {
		if c.RequireNonce {
			return errors.New("issuer: Config.DPoP.RequireNonce needs Config.DPoP.Enabled")
		}
		return nil
	}
	if _, ok := s.(store.Nonces); !ok {
		return errors.New("issuer: Config.DPoP needs a store that implements store.Nonces, to refuse replayed proofs")
	}
	if c.MaxProofAge < 0 {
		return errors.New("issuer: Config.DPoP.MaxProofAge must not be negative")
	}
	if c.MaxProofAge == 0 {
		c.MaxProofAge = defaultMaxProofAge
	}
	if c.NonceWindow < 0 || (c.NonceWindow > 0 && c.NonceWindow < time.Second) {
		return errors.New("issuer: Config.DPoP.NonceWindow must be 0 (5 minutes) or at least 1s")
	}
	if c.NonceWindow == 0 {
		c.NonceWindow = defaultNonceWindow
	}
	if !c.RequireNonce {
		return nil
	}
	secret := c.NonceSecret
	if len(secret) == 0 {
		if len(pepper) == 0 {
			return errors.New("issuer: Config.DPoP.RequireNonce needs Config.DPoP.NonceSecret (or Config.Pepper), the same on every replica")
		}
		// A pepper of any length, under a label of its own: HKDF in
		// NewDPoPNonces does the rest.
		sum := sha256.Sum256(append([]byte("portcullis DPoP nonce secret from Config.Pepper:"), pepper...))
		secret = sum[:]
	}
	n, err := token.NewDPoPNonces(secret, token.NonceAuthorizationServer, c.NonceWindow)
	if err != nil {
		return fmt.Errorf("issuer: Config.DPoP.NonceSecret: %w", err)
	}
	c.nonces = n
	return nil
}

// dpopKey carries the thumbprint of a verified proof's key from the token
// endpoint to mintAccess.
type dpopKey struct{}

func dpopKeyFrom(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopKey{}).(string)
	return jkt
}

// takesDPoP reports whether the token endpoint reads DPoP proofs.
func (i *Issuer) takesDPoP() bool {
	_, declared := asSpec(i.cfg.Dialect)
	return i.cfg.DPoP.Enabled && !declared
}

// bindDPoP verifies the token request's DPoP proof, if any, remembers its
// jti, and returns r with the key's thumbprint in its context.
// With a required nonce, w gets the DPoP-Nonce header to retry with, or
// a fresh one when the proof's is about to expire.
func (i *Issuer) bindDPoP(w http.ResponseWriter, r *http.Request) (*http.Request, *Error) {
	if !i.takesDPoP() {
		return r, nil
	}
	hs := r.Header.Values("DPoP")
	switch len(hs) {
	case 0:
		return r, nil
	case 1:
	default:
		return nil, ErrInvalidDPoPProof.WithDescription("more than one DPoP header")
	}
	now := i.cfg.Now()
	leeway := max(i.cfg.Leeway, 0)
	nonces := i.cfg.DPoP.nonces
	proof, err := token.VerifyDPoPProof(hs[0], token.DPoPCheck{
		Method: http.MethodPost, URL: i.cfg.Issuer + i.cfg.Paths.Token,
		Now: now, MaxAge: i.cfg.DPoP.MaxProofAge, Leeway: leeway, Nonces: nonces,
	})
	if errors.Is(err, token.ErrDPoPNonce) {
		// Nothing is written to the store for a proof refused here: a
		// flood of nonce-less proofs costs a signature check each.
		w.Header().Set(DPoPNonceHeader, nonces.Current(now))
		return nil, ErrUseDPoPNonce.WithDescription("the DPoP proof must carry the server nonce in the DPoP-Nonce header").WithCause(err)
	}
	if err != nil {
		return nil, ErrInvalidDPoPProof.WithDescription("the DPoP proof is invalid").WithCause(err)
	}
	if proof.RenewNonce {
		// Set before the response is written, success or error: the
		// client keeps the latest nonce it saw.
		w.Header().Set(DPoPNonceHeader, nonces.Current(now))
	}
	ctx := r.Context()
	err = i.nonces.UseNonce(ctx, proof.ReplayID, proof.RememberUntil, now)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, ErrInvalidDPoPProof.WithDescription("the DPoP proof was used before")
	}
	if err != nil {
		return nil, i.unavailable(ctx, "use DPoP proof jti", err)
	}
	return r.WithContext(context.WithValue(ctx, dpopKey{}, proof.JKT)), nil
}

// checkDPoPRequired refuses a token request without a proof from a client
// that must bind its tokens.
func checkDPoPRequired(ctx context.Context, c *store.Client, req *TokenRequest) *Error {
	if req.GrantType != "" && c.Metadata[MetaRequireDPoP] == "true" && dpopKeyFrom(ctx) == "" {
		return ErrInvalidDPoPProof.WithDescription("this client's tokens must be DPoP-bound: send a DPoP proof")
	}
	return nil
}
