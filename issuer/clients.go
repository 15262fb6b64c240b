package issuer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store"
)

// Keys of store.Client.Metadata that the issuer reads. Every key with the
// prefix "portcullis." is reserved: [Issuer.CreateClient] refuses them in
// ClientSpec.Metadata.
const (
	// MetaGrantTypes, when present, lists the grant types the client may use,
	// space-separated; absent means every grant the server enables.
	MetaGrantTypes = "portcullis.grant_types"
	// MetaIntrospect set to "any" lets the client introspect every token,
	// not only its own: give it to resource servers that use RFC 7662.
	MetaIntrospect = "portcullis.introspect"
)

// ErrInvalidClientSpec is returned (wrapped) for a ClientSpec that cannot
// be stored.
var ErrInvalidClientSpec = errors.New("issuer: invalid client spec")

// ClientSpec describes a client to create. Every field is optional.
type ClientSpec struct {
	// ID of the client. Default token.NewClientID(): 128 random bits in
	// hex. A given id must be 1 to 255 printable ASCII characters without
	// spaces.
	ID string
	// Secret of the client. Default token.NewClientSecret(): 256 random
	// bits with a "pcs_" prefix and a checksum. A given secret is stored
	// hashed like a generated one; choose one with at least as much
	// entropy, since it is hashed fast (SHA-256), not stretched.
	Secret       string
	Name         string
	OwnerAccount string
	// Scopes the client may be granted; empty means every scope in
	// Config.Scopes. Each must be in Config.Scopes when that is set.
	Scopes []string
	// Audiences the client's tokens name; empty means Config.Audience.
	// Each must be in Config.Audience.
	Audiences []string
	// GrantTypes the client may use ("client_credentials",
	// "refresh_token"); empty means every grant the server enables.
	GrantTypes []string
	// IntrospectAny lets the client introspect any token (RFC 7662), as a
	// resource server needs; otherwise it may introspect only its own.
	IntrospectAny bool
	// Metadata is stored with the client; keys starting "portcullis." are
	// reserved.
	Metadata map[string]string
	// JWKS registers the client's public keys, a JWK Set (RFC 7517 §5),
	// for private_key_jwt authentication (RFC 7523 §2.2), which
	// Config.PrivateKeyJWT must enable. Such a client has no secret:
	// CreateClient returns "" for it, and Secret must be empty.
	JWKS []byte
	// JWKSURI registers where the client publishes its JWK Set instead of
	// the set itself; at most one of JWKS and JWKSURI.
	JWKSURI string
	// RequireDPoP makes every access token of the client DPoP-bound
	// (RFC 9449 §5.2, dpop_bound_access_tokens): a token request without
	// a valid DPoP proof is refused. Needs Config.DPoP enabled.
	RequireDPoP bool
}

// maxRetries bounds the compare-and-swap retries of an update that meets
// concurrent updates.
const maxRetries = 5

// maxSecretLen bounds a secret the caller chooses.
const maxSecretLen = 1024

// CreateClient stores a new client and returns it with its secret, which
// is never stored and cannot be shown again: only its hash is kept. Its
// first generation is random (see [initialGeneration]), not 0.
// Errors: ErrInvalidClientSpec, store.ErrAlreadyExists when the id is
// taken, or the store's error.
func (i *Issuer) CreateClient(ctx context.Context, spec ClientSpec) (*store.Client, string, error) {
	id, secret := spec.ID, spec.Secret
	if id == "" {
		id = token.NewClientID()
	}
	if secret == "" {
		secret = token.NewClientSecret()
	}
	if err := i.checkSpec(id, spec); err != nil {
		return nil, "", err
	}
	meta := maps.Clone(spec.Metadata)
	hash := i.hasher.Sum(secret)
	if len(spec.JWKS) > 0 || spec.JWKSURI != "" {
		keys, err := assertionMetadata(spec.JWKS, spec.JWKSURI)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrInvalidClientSpec, err)
		}
		if meta == nil {
			meta = map[string]string{}
		}
		maps.Copy(meta, keys)
		secret, hash = "", nil
	}
	if spec.RequireDPoP {
		if meta == nil {
			meta = map[string]string{}
		}
		meta[MetaRequireDPoP] = "true"
	}
	if len(spec.GrantTypes) > 0 || spec.IntrospectAny {
		if meta == nil {
			meta = map[string]string{}
		}
		if len(spec.GrantTypes) > 0 {
			meta[MetaGrantTypes] = strings.Join(spec.GrantTypes, " ")
		}
		if spec.IntrospectAny {
			meta[MetaIntrospect] = "any"
		}
	}
	now := i.cfg.Now()
	c := &store.Client{
		ID:           id,
		SecretHash:   hash,
		Name:         spec.Name,
		OwnerAccount: spec.OwnerAccount,
		Scopes:       slices.Clone(spec.Scopes),
		Audiences:    slices.Clone(spec.Audiences),
		Generation:   initialGeneration(),
		CreatedAt:    now,
		UpdatedAt:    now,
		Metadata:     meta,
	}
	if err := i.store.CreateClient(ctx, c); err != nil {
		return nil, "", fmt.Errorf("issuer: create client: %w", err)
	}
	i.clientChanged(ctx, c.ID, c.OwnerAccount, ActionCreated)
	return c, secret, nil
}

// initialGeneration is a new client's first generation. Deleting a client
// leaves its tokens in the store (nothing can find them by client), and they
// are refused only because their client is gone; a client created later
// with the same id would take them over if it started at the same
// generation. A random start (53 bits, so that verifiers reading JSON
// numbers as floats keep it exact) makes that chance negligible.
func initialGeneration() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) >> 11)
}

func (i *Issuer) checkSpec(id string, spec ClientSpec) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidClientSpec}, args...)...)
	}
	if len(id) > maxClientIDLen || !printable(id) {
		return bad("client id must be 1 to %d printable ASCII characters without spaces", maxClientIDLen)
	}
	if len(spec.Secret) > maxSecretLen {
		return bad("client secret is longer than %d bytes", maxSecretLen)
	}
	for _, s := range spec.Scopes {
		if !validScopeToken(s) {
			return bad("scope %q is not a valid scope token", s)
		}
		if len(i.cfg.Scopes) > 0 && !slices.Contains(i.cfg.Scopes, s) {
			return bad("scope %q is not in Config.Scopes", s)
		}
	}
	for _, a := range spec.Audiences {
		if !slices.Contains(i.cfg.Audience, a) {
			return bad("audience %q is not in Config.Audience", a)
		}
	}
	for _, g := range spec.GrantTypes {
		if g != GrantClientCredentials && g != GrantRefreshToken {
			return bad("unknown grant type %q", g)
		}
	}
	for k := range spec.Metadata {
		if strings.HasPrefix(k, "portcullis.") {
			return bad("metadata key %q is reserved", k)
		}
	}
	if spec.RequireDPoP && !i.cfg.DPoP.Enabled {
		return bad("RequireDPoP needs Config.DPoP enabled")
	}
	if len(spec.JWKS) > 0 || spec.JWKSURI != "" {
		switch {
		case !i.cfg.PrivateKeyJWT.Enabled:
			return bad("client keys need Config.PrivateKeyJWT enabled")
		case spec.Secret != "":
			return bad("a client with keys has no secret")
		}
	}
	return nil
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// RotateClient gives the client a new secret and bumps its generation, so
// that every token issued before, access and refresh, is refused from now
// on (by this issuer's Verifier at once, by other replicas' verifiers
// within their StateTTL); other replicas' token endpoints may accept the
// old secret for their ClientCacheTTL, or until Watch tells them. The update is a compare-and-swap on the
// generation, retried a few times when another update races it; after that
// the error wraps store.ErrConflict. A missing client is store.ErrNotFound.
func (i *Issuer) RotateClient(ctx context.Context, id string) (string, error) {
	return i.rotate(ctx, id, token.NewClientSecret(), nil, nil)
}

// SetClientSecret is RotateClient with a secret the caller chose: for APIs
// where the client sends its new credentials (OffBlocks' PUT
// /auth/credentials) and for scripted demos. Prefer RotateClient, whose
// secrets carry 256 random bits; a chosen secret is only as strong as its
// chooser. Errors as RotateClient, and ErrInvalidClientSpec for an empty or
// overlong secret.
func (i *Issuer) SetClientSecret(ctx context.Context, id, secret string) error {
	if secret == "" || len(secret) > maxSecretLen {
		return fmt.Errorf("%w: client secret must be 1 to %d bytes", ErrInvalidClientSpec, maxSecretLen)
	}
	_, err := i.rotate(ctx, id, secret, nil, nil)
	return err
}

// rotate sets secret and bumps the generation, only from generation wantGen
// when that is set. It drops the record of an earlier self-rotation, and
// record, when set, writes the new one in the same compare-and-swap.
func (i *Issuer) rotate(ctx context.Context, id, secret string, wantGen *int64, record func(*store.Client)) (string, error) {
	hash := i.hasher.Sum(secret)
	var owner string
	keyed := false
	err := i.updateClient(ctx, id, wantGen, func(c *store.Client) {
		if keyed = usesAssertions(c); keyed {
			return // a secret would not work; leave the client as it is
		}
		c.SecretHash = hash
		c.Generation++
		owner = c.OwnerAccount
		if _, ok := c.Metadata[metaRotation]; ok {
			c.Metadata = maps.Clone(c.Metadata)
			delete(c.Metadata, metaRotation)
		}
		if record != nil {
			record(c)
		}
	})
	if err != nil {
		return "", fmt.Errorf("issuer: rotate client: %w", err)
	}
	if keyed {
		return "", fmt.Errorf("issuer: rotate client: %w: it authenticates with private_key_jwt; change its keys with SetClientKeys", ErrInvalidClientSpec)
	}
	i.clientChanged(ctx, id, owner, ActionRotated)
	return secret, nil
}

// DisableClient refuses the client's authentication and every token issued
// to it. It also bumps the generation, so that [Issuer.EnableClient] does
// not bring those tokens back.
func (i *Issuer) DisableClient(ctx context.Context, id string) error {
	var owner string
	if err := i.updateClient(ctx, id, nil, func(c *store.Client) {
		c.Disabled = true
		c.Generation++
		owner = c.OwnerAccount
	}); err != nil {
		return fmt.Errorf("issuer: disable client: %w", err)
	}
	i.clientChanged(ctx, id, owner, ActionDisabled)
	return nil
}

// EnableClient lets a disabled client authenticate again. Tokens issued
// before it was disabled stay dead.
func (i *Issuer) EnableClient(ctx context.Context, id string) error {
	var owner string
	if err := i.updateClient(ctx, id, nil, func(c *store.Client) {
		c.Disabled = false
		owner = c.OwnerAccount
	}); err != nil {
		return fmt.Errorf("issuer: enable client: %w", err)
	}
	i.clientChanged(ctx, id, owner, ActionEnabled)
	return nil
}

// DeleteClient removes the client; its tokens are refused from then on.
func (i *Issuer) DeleteClient(ctx context.Context, id string) error {
	if err := i.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("issuer: delete client: %w", err)
	}
	i.forget(store.Event{Kind: store.EventClientChanged, ID: id, Generation: -1})
	i.clientChanged(ctx, id, "", ActionDeleted)
	return nil
}

// clientChanged tells the Credentials hook.
func (i *Issuer) clientChanged(ctx context.Context, id, owner, action string) {
	call(ctx, i.cfg.Hooks.Credentials, CredentialsChanged{Subject: SubjectClient, ID: id, Action: action, OwnerAccount: owner})
}

// errGenerationMoved is returned by updateClient when the caller required a
// generation that is no longer current.
var errGenerationMoved = errors.New("issuer: client generation moved on")

// updateClient applies change to the stored client with a compare-and-swap
// on its generation, re-reading and retrying on store.ErrConflict. With
// wantGen set, it fails with errGenerationMoved unless the client is still
// at that generation.
func (i *Issuer) updateClient(ctx context.Context, id string, wantGen *int64, change func(*store.Client)) error {
	var err error
	for range maxRetries {
		var c *store.Client
		if c, err = i.store.GetClient(ctx, id); err != nil {
			return err
		}
		if wantGen != nil && c.Generation != *wantGen {
			return errGenerationMoved
		}
		prev := c.Generation
		change(c)
		c.UpdatedAt = i.cfg.Now()
		if err = i.store.UpdateClient(ctx, c, prev); err == nil {
			i.forget(store.Event{Kind: store.EventClientChanged, ID: id, Generation: c.Generation})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}
