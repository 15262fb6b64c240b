package issuer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

var credentialsEndpoint = endpoint{
	name:        "credentials",
	path:        func(p *Paths) *string { return &p.Credentials },
	defaultPath: pathDisabled,
	serve:       func(i *Issuer) http.HandlerFunc { return i.serveCredentials },
	describe:    func(_ *Issuer, m *document, url string) { m.add("portcullis_credentials_endpoint", url) },
}

// DefaultCredentialsPath is the usual path of the self-rotation endpoint,
// for Paths.Credentials; the endpoint is off until a path is set.
const DefaultCredentialsPath = "/oauth/credentials"

// IdempotencyKeyHeader is the header that makes a self-rotation safe to
// retry (see [Config.RotationRetryWindow]).
const IdempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds an Idempotency-Key, as the APIs that take one
// do (Stripe: 255 characters).
const maxIdempotencyKey = 255

// defaultRotationRetryWindow is Config.RotationRetryWindow's default.
const defaultRotationRetryWindow = 5 * time.Minute

// metaRotation, in a client's Metadata, is the record of its last
// self-rotation made with an Idempotency-Key (see rotationRecord).
const metaRotation = "portcullis.rotation"

// serveCredentials rotates the credentials of the client whose access
// token is presented (Authorization: Bearer, a token of kind "client"):
// the answer is 200 {"client_id":…,"client_secret":…} with the new secret,
// and every token issued before, including the one presented, is refused
// from then on. Of two rotations with the same token, one wins and the
// other gets invalid_token. Errors are the middleware's, byte for byte
// (see [Issuer.authorizeBearer]): no token is 401 with a bare Bearer
// challenge and no body; a malformed request 400 invalid_request; a bad
// token 401 invalid_token; a store failure 503.
//
// With an Idempotency-Key header, the same request (the same token and the
// same key) repeated within Config.RotationRetryWindow is answered with
// the same new secret, and Idempotent-Replayed: true, instead of
// invalid_token: a client whose answer was lost retries and is not locked
// out. See [Config.RotationRetryWindow] for what is stored.
func (i *Issuer) serveCredentials(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be POST"))
		return
	}
	key, e := i.idempotencyKey(r)
	if e != nil {
		WriteError(w, e)
		return
	}
	ctx := r.Context()
	// replay answers a retry of a rotation that went through, whose token
	// is now dead, with the same secret; false when there is none.
	replay := func(raw string) bool {
		if key == "" {
			return false
		}
		id, secret, err := i.replayRotation(ctx, raw, key)
		if err != nil {
			WriteError(w, i.unavailable(ctx, "replay rotation", err))
			return true
		}
		if secret == "" {
			return false
		}
		w.Header().Set("Idempotent-Replayed", "true")
		writeCredentials(w, id, secret)
		return true
	}
	p, ok := i.authorizeBearerOr(w, r, replay, KindClient)
	if !ok {
		return
	}
	raw, _ := middleware.BearerToken(r) // well-formed: it verified
	gen := p.Generation
	secret := token.NewClientSecret()
	var record func(*store.Client)
	if key != "" {
		if record, e = i.rotationRecord(p.ClientID, gen+1, raw, key, secret); e != nil {
			WriteError(w, e)
			return
		}
	}
	_, err := i.rotate(ctx, p.ClientID, secret, &gen, record)
	if errors.Is(err, errGenerationMoved) && replay(raw) {
		// The same request, sent twice at once (or to a replica whose
		// verifier had not heard of the rotation yet): the one that lost
		// answered as the winner did.
		return
	}
	switch {
	case errors.Is(err, errGenerationMoved) || errors.Is(err, store.ErrNotFound):
		middleware.WriteError(w, r, middleware.ErrInvalidToken)
		return
	case err != nil:
		WriteError(w, i.unavailable(ctx, "rotate client", err))
		return
	}
	writeCredentials(w, p.ClientID, secret)
}

func writeCredentials(w http.ResponseWriter, id, secret string) {
	WriteJSON(w, http.StatusOK, struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{id, secret})
}

// idempotencyKey returns the request's Idempotency-Key, or "" when there is
// none or retries are off (Config.RotationRetryWindow negative). The key
// is taken as sent, 1 to 255 visible ASCII characters.
func (i *Issuer) idempotencyKey(r *http.Request) (string, *Error) {
	vs := r.Header.Values(IdempotencyKeyHeader)
	if len(vs) == 0 || i.cfg.RotationRetryWindow < 0 {
		return "", nil
	}
	if len(vs) > 1 || vs[0] == "" || len(vs[0]) > maxIdempotencyKey || !visibleASCII(vs[0]) {
		return "", ErrInvalidRequest.WithDescription("Idempotency-Key must be one header of 1 to " +
			strconv.Itoa(maxIdempotencyKey) + " visible ASCII characters")
	}
	return vs[0], nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// rotation is what a client's metaRotation holds: the generation the
// rotation made, until when it may be replayed, the lookup value of the
// request (token and key) and the new secret, sealed.
type rotation struct {
	Generation int64  `json:"g"`
	Until      int64  `json:"u"` // Unix seconds
	Lookup     string `json:"l"`
	Sealed     string `json:"s"` // nonce ‖ AES-256-GCM ciphertext
}

// requestKeys derives, from the bearer token and the Idempotency-Key of a
// rotation request, the value that finds its record and the key that
// seals its secret (HKDF-SHA256, salted with Config.Pepper). Only a client
// that presents both again can read the secret: the store holds neither
// the token (a JWT is not stored at all, an opaque one only as a hash) nor
// the key.
func (i *Issuer) requestKeys(id, raw, key string) (lookup []byte, aead cipher.AEAD, err error) {
	ikm := make([]byte, 0, len(raw)+1+len(key))
	ikm = append(append(append(ikm, raw...), 0), key...)
	out, err := hkdf.Key(sha256.New, ikm, i.cfg.Pepper, "portcullis self-rotation "+id, 64)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(out[32:])
	if err != nil {
		return nil, nil, err
	}
	aead, err = cipher.NewGCM(block)
	return out[:32], aead, err
}

// rotationAAD binds a sealed secret to its client and generation.
func rotationAAD(id string, gen int64) []byte {
	return []byte(id + "\x00" + strconv.FormatInt(gen, 10))
}

// rotationRecord returns the change that records, in the client's
// Metadata, the rotation to generation gen with secret, for a replay of the
// same request within Config.RotationRetryWindow.
func (i *Issuer) rotationRecord(id string, gen int64, raw, key, secret string) (func(*store.Client), *Error) {
	lookup, aead, err := i.requestKeys(id, raw, key)
	if err != nil {
		return nil, ErrServerError.WithCause(err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	b, _ := json.Marshal(rotation{
		Generation: gen,
		Until:      i.cfg.Now().Add(i.cfg.RotationRetryWindow).Unix(),
		Lookup:     base64.RawURLEncoding.EncodeToString(lookup),
		Sealed:     base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(secret), rotationAAD(id, gen))),
	})
	v := string(b)
	return func(c *store.Client) {
		c.Metadata = maps.Clone(c.Metadata)
		if c.Metadata == nil {
			c.Metadata = map[string]string{}
		}
		c.Metadata[metaRotation] = v
	}, nil
}

// replayRotation returns the client id and the secret of the rotation that
// the request (raw and key) already made, or "" when it made none that
// can still be replayed: the record must be the client's latest change
// (its generation current, the client enabled), within its window, and
// made by this very token and key. Only a store failure is an error.
func (i *Issuer) replayRotation(ctx context.Context, raw, key string) (id, secret string, err error) {
	id = i.tokenClient(ctx, raw)
	if id == "" {
		return "", "", nil
	}
	c, err := i.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	var rec rotation
	if v, ok := c.Metadata[metaRotation]; !ok || json.Unmarshal([]byte(v), &rec) != nil {
		return "", "", nil
	}
	if c.Disabled || c.Generation != rec.Generation || !i.cfg.Now().Before(time.Unix(rec.Until, 0)) {
		return "", "", nil
	}
	lookup, aead, err := i.requestKeys(id, raw, key)
	if err != nil {
		return "", "", err
	}
	want, err1 := base64.RawURLEncoding.DecodeString(rec.Lookup)
	sealed, err2 := base64.RawURLEncoding.DecodeString(rec.Sealed)
	if err1 != nil || err2 != nil || !hmac.Equal(lookup, want) || len(sealed) < aead.NonceSize() {
		return "", "", nil
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], rotationAAD(id, rec.Generation))
	if err != nil {
		return "", "", nil
	}
	return id, string(plain), nil
}

// tokenClient returns the client id of a client access token whose
// signature (a JWT) or record (an opaque token) is genuine, whether or not
// its generation is still current; "" for anything else. A replay is
// decided by the record's lookup value, which only this exact token
// matches; the id only says where to look.
func (i *Issuer) tokenClient(ctx context.Context, raw string) string {
	var kind, id string
	if strings.HasPrefix(raw, token.PrefixAccessToken) || token.IsUUID(raw) {
		at, err := i.store.GetAccessToken(ctx, i.hasher.Hex(raw), i.cfg.Now())
		if err != nil {
			return ""
		}
		kind, id = at.Kind, at.ClientID
	} else {
		p, err := i.verifier.VerifyJWT(ctx, raw)
		if err != nil {
			return ""
		}
		kind, id = p.Kind, p.ClientID
	}
	if kind != KindClient {
		return ""
	}
	return id
}
