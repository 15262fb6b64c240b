package issuer_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/issuer"
)

// header returns the alg and kid a JWT was signed with.
func header(t *testing.T, raw string) (alg, kid string) {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	alg, _ = tok.Header["alg"].(string)
	kid, _ = tok.Header["kid"].(string)
	return alg, kid
}

// jwksKids returns the kids the issuer publishes.
func (e *env) jwksKids(t *testing.T) []string {
	t.Helper()
	rec := e.do(req{method: http.MethodGet, path: "/.well-known/jwks.json"})
	var doc struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("JWKS %s: %v", rec.Body, err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestRotateSigningKey: a rotation by hand publishes the new key at once,
// signs with it 10 minutes later, and keeps the old one published (its
// tokens verify) until they have expired.
func TestRotateSigningKey(t *testing.T) {
	e := newEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	old := e.getToken(id, secret).AccessToken
	_, oldKid := header(t, old)

	if err := e.iss.RotateSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	kids := e.jwksKids(t)
	if len(kids) != 2 || kids[0] != oldKid {
		t.Fatalf("JWKS after RotateSigningKey: %v, want the old key and the new one", kids)
	}
	newKid := kids[1]
	if _, kid := header(t, e.getToken(id, secret).AccessToken); kid != oldKid {
		t.Errorf("right after the rotation tokens are signed by %s, want the old key until the new one is known", kid)
	}
	e.clock.Advance(10 * time.Minute)
	if _, kid := header(t, e.getToken(id, secret).AccessToken); kid != newKid {
		t.Errorf("10 minutes after the rotation tokens are signed by %s, want %s", kid, newKid)
	}
	if _, err := e.iss.Verifier().Verify(t.Context(), old); err != nil {
		t.Errorf("a token of the old key after the rotation: %v", err)
	}
	e.clock.Advance(25 * time.Hour)
	if kids := e.jwksKids(t); !slices.Equal(kids, []string{newKid}) {
		t.Errorf("JWKS once the old key's tokens have expired: %v, want %s only", kids, newKid)
	}
}

// TestAlgorithmChange restarts the issuer with another Config.Algorithm on
// the same store: it rotates with the usual publish-ahead instead of
// signing with a new key at once, and the old key expires.
func TestAlgorithmChange(t *testing.T) {
	e := newEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	_, oldKid := header(t, e.getToken(id, secret).AccessToken)

	e.clock.Advance(time.Hour)
	restarted := newEnvOver(t, e, func(c *issuer.Config) { c.Algorithm = issuer.EdDSA })
	if alg, kid := header(t, restarted.getToken(id, secret).AccessToken); alg != issuer.ES256 || kid != oldKid {
		t.Errorf("right after the change: %s %s, want the old ES256 key until the new one is published", alg, kid)
	}
	kids := restarted.jwksKids(t)
	if len(kids) != 2 {
		t.Fatalf("JWKS after the change: %v, want the old key and the new one", kids)
	}
	restarted.clock.Advance(10 * time.Minute)
	if alg, kid := header(t, restarted.getToken(id, secret).AccessToken); alg != issuer.EdDSA || kid != kids[1] {
		t.Errorf("10 minutes after the change: %s %s, want EdDSA %s", alg, kid, kids[1])
	}
	restarted.clock.Advance(25 * time.Hour)
	if got := restarted.jwksKids(t); !slices.Equal(got, kids[1:]) {
		t.Errorf("JWKS once the old key's tokens have expired: %v, want %v", got, kids[1:])
	}
}

// newEnvOver starts another issuer over e's store and clock, as a restart
// with a changed config.
func newEnvOver(t *testing.T, e *env, mod func(*issuer.Config)) *env {
	t.Helper()
	cfg := e.cfg
	mod(&cfg)
	iss, err := issuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, iss: iss, st: e.st, clock: e.clock, cfg: cfg}
}
