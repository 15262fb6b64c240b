package issuer

import (
	"context"
	"errors"
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
}

const defaultMaxProofAge = time.Minute

// MetaRequireDPoP set to "true" makes the client's access tokens
// DPoP-bound: a token request without a proof is refused. RFC 9449 §5.2
// names the registration parameter dpop_bound_access_tokens.
const MetaRequireDPoP = "portcullis.dpop_bound_access_tokens"

// ErrInvalidDPoPProof: the DPoP proof is missing where required, invalid,
// or replayed (RFC 9449 §5).
var ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Status: http.StatusBadRequest}

func (c *DPoPConfig) setDefaults(s store.Store) error {
	if !c.Enabled {
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
func (i *Issuer) bindDPoP(r *http.Request) (*http.Request, *Error) {
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
	proof, err := token.VerifyDPoPProof(hs[0], token.DPoPCheck{
		Method: http.MethodPost, URL: i.cfg.Issuer + i.cfg.Paths.Token,
		Now: now, MaxAge: i.cfg.DPoP.MaxProofAge, Leeway: leeway,
	})
	if err != nil {
		return nil, ErrInvalidDPoPProof.WithDescription("the DPoP proof is invalid").WithCause(err)
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
