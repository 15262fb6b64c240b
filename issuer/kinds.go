package issuer

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/token"
)

// Format is how a kind's access tokens are minted.
type Format string

// Access token formats.
const (
	// FormatJWT: signed JWT access tokens (RFC 9068) that resource servers
	// verify locally or through the JWKS. The default.
	FormatJWT Format = "jwt"
	// FormatOpaque: random "pca_" strings (256 bits and a checksum) stored
	// hashed in [store.AccessTokens]; every verification asks the store, so
	// rotation and revocation take effect at once.
	FormatOpaque Format = "opaque"
	// FormatUUID: opaque tokens in the form of a lowercase UUID v4, stored
	// and verified like FormatOpaque, for APIs whose clients expect that
	// shape. A UUID v4 carries 122 random bits, below the 128 bits RFC 6749
	// §10.10 asks of a token's randomness, which is why it is not the
	// default.
	FormatUUID Format = "uuid"
)

// formatNames lists the formats for configuration errors.
const formatNames = `"jwt" (the default), "opaque" or "uuid"`

// Token kinds the issuer always defines. A guard accepts client tokens
// only unless it is told otherwise, so a token of one kind never passes
// where another is required.
const (
	// KindClient tokens come from the token endpoint, issued to a client
	// that authenticated with its credentials.
	KindClient = token.KindClient
	// KindAccount tokens come from the login endpoint, issued to an
	// account that authenticated with its password.
	KindAccount = token.KindAccount
)

// Kind is a token kind's profile: how the issuer mints tokens of that
// kind, whatever the grant or endpoint. The kind's name is signed into JWTs
// and stored with opaque tokens, and guards choose the kinds they accept.
//
// The zero value of each field is its default.
type Kind struct {
	// Name of the kind, e.g. KindClient. Required.
	Name string
	// TTL is the lifetime of its access tokens. Default 1h for client
	// tokens, 12h for account tokens and 1h for any other kind; at least 1s.
	TTL time.Duration
	// Format of its access tokens. Default FormatJWT.
	Format Format
	// Audience its tokens name. Each must be in Config.Audience. Default:
	// Config.Audience (for client tokens, the client's own audiences when
	// it has some).
	Audience []string
	// Refresh issues a refresh token with each access token that a client
	// obtains with its credentials, and enables the refresh_token grant.
	// RFC 6749 §4.4.3 says a refresh token SHOULD NOT be issued for client
	// credentials; some APIs do it anyway (see [RefreshConfig]). Default
	// false.
	Refresh bool
	// RequireDPoP refuses to issue its tokens at the token endpoint
	// without a DPoP proof (Config.DPoP), so that every one is bound to
	// the client's key (RFC 9449). Only for FormatJWT kinds. Default false.
	RequireDPoP bool
}

// Kind lifetimes when none is configured.
const (
	defaultClientTTL  = time.Hour
	defaultAccountTTL = 12 * time.Hour
)

// resolveKinds merges cfg.Kinds over the built-in kinds and the client
// shorthands (AccessTokenTTL, Format, Refresh.Enabled), validates them and
// returns them by name.
func resolveKinds(cfg *Config) (map[string]*Kind, error) {
	kinds := map[string]*Kind{
		KindClient:  {Name: KindClient},
		KindAccount: {Name: KindAccount, TTL: defaultAccountTTL},
	}
	seen := map[string]bool{}
	for _, k := range cfg.Kinds {
		if k.Name == "" || !printable(k.Name) || len(k.Name) > 64 {
			return nil, fmt.Errorf("issuer: Config.Kinds: kind name %q must be 1 to 64 printable ASCII characters", k.Name)
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("issuer: Config.Kinds: kind %q is configured twice", k.Name)
		}
		seen[k.Name] = true
		base, ok := kinds[k.Name]
		if !ok {
			base = &Kind{Name: k.Name}
			kinds[k.Name] = base
		}
		if k.TTL != 0 {
			base.TTL = k.TTL
		}
		if k.Format != "" {
			base.Format = k.Format
		}
		if len(k.Audience) > 0 {
			base.Audience = slices.Clone(k.Audience)
		}
		base.Refresh = base.Refresh || k.Refresh
		base.RequireDPoP = base.RequireDPoP || k.RequireDPoP
	}
	// The client kind's shorthands, kept from before kinds existed.
	c := kinds[KindClient]
	if err := shorthand(&c.TTL, cfg.AccessTokenTTL, "AccessTokenTTL", "TTL"); err != nil {
		return nil, err
	}
	if err := shorthand(&c.Format, cfg.Format, "Format", "Format"); err != nil {
		return nil, err
	}
	c.Refresh = c.Refresh || cfg.Refresh.Enabled
	for _, k := range kinds {
		if k.TTL == 0 {
			k.TTL = defaultClientTTL
		}
		if k.TTL < time.Second {
			return nil, fmt.Errorf("issuer: kind %q: TTL must be at least 1s", k.Name)
		}
		switch k.Format {
		case "":
			k.Format = FormatJWT
		case FormatJWT, FormatOpaque, FormatUUID:
		default:
			return nil, fmt.Errorf("issuer: kind %q: unknown format %q: want %s", k.Name, k.Format, formatNames)
		}
		for _, a := range k.Audience {
			if !slices.Contains(cfg.Audience, a) {
				return nil, fmt.Errorf("issuer: kind %q: audience %q is not in Config.Audience", k.Name, a)
			}
		}
		if len(k.Audience) == 0 {
			k.Audience = slices.Clone(cfg.Audience)
		}
		if k.RequireDPoP && (k.Format != FormatJWT || !cfg.DPoP.Enabled) {
			return nil, fmt.Errorf("issuer: kind %q: RequireDPoP needs Config.DPoP enabled and the JWT format", k.Name)
		}
	}
	return kinds, nil
}

// shorthand reconciles a client-kind shorthand field of Config with the
// same field of Kinds["client"]: either may be set, or both to one value.
func shorthand[T comparable](kindField *T, configField T, configName, kindName string) error {
	var zero T
	switch {
	case configField == zero:
	case *kindField == zero:
		*kindField = configField
	case *kindField != configField:
		return errors.New("issuer: Config." + configName + " and the client kind's " + kindName + " disagree; set one")
	}
	return nil
}

// maxTTL is the longest access token lifetime of all kinds: signing keys
// stay published at least that long after they stop signing.
func maxTTL(kinds map[string]*Kind) time.Duration {
	var longest time.Duration
	for _, k := range kinds {
		longest = max(longest, k.TTL)
	}
	return longest
}

// anyKind reports whether some kind satisfies pred.
func anyKind(kinds map[string]*Kind, pred func(*Kind) bool) bool {
	for _, k := range kinds {
		if pred(k) {
			return true
		}
	}
	return false
}

// Kinds returns the names of the token kinds this issuer mints, sorted.
// A guard configured with any other kind is a configuration error.
func (i *Issuer) Kinds() []string {
	names := make([]string, 0, len(i.kinds))
	for n := range i.kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
