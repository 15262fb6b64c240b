package middleware_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

type vector struct {
	name  string
	build func(e *env) string
	ok    bool
}

// edit returns valid claims changed by f.
func edit(e *env, f func(c jwt.MapClaims)) jwt.MapClaims {
	c := e.claims()
	f(c)
	return c
}

func vectors() []vector {
	var vs []vector
	for _, alg := range tokentest.Algorithms() {
		vs = append(vs, vector{"valid/" + alg, func(e *env) string { return tokentest.Sign(e.tb, e.keys[alg], nil, e.claims()) }, true})
	}
	es := func(e *env) *tokentest.Key { return e.keys[token.ES256] }
	signES := func(header map[string]any, f func(c jwt.MapClaims)) func(e *env) string {
		return func(e *env) string { return tokentest.Sign(e.tb, es(e), header, edit(e, f)) }
	}
	same := func(jwt.MapClaims) {}
	hour := time.Hour
	at := func(e *env, d time.Duration) int64 { return e.clk.Now().Add(d).Unix() }

	vs = append(vs,
		// Header typ (RFC 9068 §2.1).
		vector{"typ application/at+jwt", signES(map[string]any{"typ": "application/at+jwt"}, same), true},
		vector{"typ in capitals", signES(map[string]any{"typ": "AT+JWT"}, same), true},
		vector{"typ JWT", signES(map[string]any{"typ": "JWT"}, same), false},
		vector{"typ missing", signES(map[string]any{"typ": nil}, same), false},
		vector{"typ a number", signES(map[string]any{"typ": 1}, same), false},

		// Time.
		vector{"expired", func(e *env) string {
			return tokentest.Sign(e.tb, es(e), nil, edit(e, func(c jwt.MapClaims) { c["exp"] = at(e, -hour); c["iat"] = at(e, -2*hour); c["nbf"] = at(e, -2*hour) }))
		}, false},
		vector{"expired within leeway", func(e *env) string {
			return tokentest.Sign(e.tb, es(e), nil, edit(e, func(c jwt.MapClaims) { c["exp"] = at(e, -5*time.Second) }))
		}, true},
		vector{"expired beyond leeway", func(e *env) string {
			return tokentest.Sign(e.tb, es(e), nil, edit(e, func(c jwt.MapClaims) { c["exp"] = at(e, -11*time.Second) }))
		}, false},
		vector{"exp missing", signES(nil, func(c jwt.MapClaims) { delete(c, "exp") }), false},
		vector{"exp a string", signES(nil, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), false},
		vector{"not yet valid", func(e *env) string {
			return tokentest.Sign(e.tb, es(e), nil, edit(e, func(c jwt.MapClaims) { c["nbf"] = at(e, hour) }))
		}, false},
		vector{"nbf within leeway", func(e *env) string {
			return tokentest.Sign(e.tb, es(e), nil, edit(e, func(c jwt.MapClaims) { c["nbf"] = at(e, 5*time.Second) }))
		}, true},
		vector{"iat in the future", func(e *env) string {
			return tokentest.Sign(e.tb, es(e), nil, edit(e, func(c jwt.MapClaims) { c["iat"] = at(e, hour) }))
		}, false},

		// Tampering.
		vector{"tampered payload", func(e *env) string {
			h, _, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + seg(edit(e, func(c jwt.MapClaims) { c["scope"] = "read write admin" })) + "." + s
		}, false},
		vector{"payload of another valid token", func(e *env) string {
			h, _, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			_, p, _ := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + p + "." + s
		}, false},
		vector{"tampered signature", func(e *env) string {
			h, p, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			b := []byte(s)
			b[10] ^= 'A' ^ 'B' // flips bits in a middle character, never only in padding bits
			if b[10] == s[10] {
				b[10] = 'C'
			}
			return h + "." + p + "." + string(b)
		}, false},
		vector{"signature with non-zero padding bits", func(e *env) string {
			// 64 bytes of ES256 signature leave 4 unused bits in the last
			// character, so 16 characters decode alike in a lax decoder.
			raw := tokentest.Sign(e.tb, es(e), nil, e.claims())
			last := strings.IndexByte(base64url, raw[len(raw)-1])
			return raw[:len(raw)-1] + string(base64url[last|1])
		}, false},
		vector{"signature removed", func(e *env) string {
			h, p, _ := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + p + "."
		}, false},
		vector{"signature of another token", func(e *env) string {
			h, p, _ := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			_, _, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + p + "." + s
		}, false},

		// Algorithm pinning (DESIGN §5.2).
		vector{"HS256 with the ES256 public key as secret (DER)", func(e *env) string {
			return tokentest.SignWith(e.tb, jwt.SigningMethodHS256, es(e).PublicDER(e.tb), es(e).Key.ID, nil, e.claims())
		}, false},
		vector{"HS256 with the ES256 public key as secret (PEM)", func(e *env) string {
			return tokentest.SignWith(e.tb, jwt.SigningMethodHS256, pemPublic(e.tb, es(e)), es(e).Key.ID, nil, e.claims())
		}, false},
		vector{"HS256 with the RS256 public key as secret (PEM)", func(e *env) string {
			k := e.keys[token.RS256]
			return tokentest.SignWith(e.tb, jwt.SigningMethodHS256, pemPublic(e.tb, k), k.Key.ID, nil, e.claims())
		}, false},
		vector{"HS256 with the RS256 public key as secret (DER)", func(e *env) string {
			k := e.keys[token.RS256]
			return tokentest.SignWith(e.tb, jwt.SigningMethodHS256, k.PublicDER(e.tb), k.Key.ID, nil, e.claims())
		}, false},
		vector{"HS256 with the EdDSA public key as secret", func(e *env) string {
			k := e.keys[token.EdDSA]
			return tokentest.SignWith(e.tb, jwt.SigningMethodHS256, k.PublicDER(e.tb), k.Key.ID, nil, e.claims())
		}, false},
		vector{"kid of the ES256 key, alg RS256 signed by our RSA key", func(e *env) string {
			return tokentest.SignWith(e.tb, jwt.SigningMethodRS256, e.keys[token.RS256].Private, es(e).Key.ID, nil, e.claims())
		}, false},
		vector{"kid of the RS256 key, alg PS256 with the same RSA key", func(e *env) string {
			k := e.keys[token.RS256]
			return tokentest.SignWith(e.tb, jwt.SigningMethodPS256, k.Private, k.Key.ID, nil, e.claims())
		}, false},
		vector{"kid of the HS256 key, alg ES256", func(e *env) string {
			return tokentest.SignWith(e.tb, jwt.SigningMethodES256, es(e).Private, e.keys[token.HS256].Key.ID, nil, e.claims())
		}, false},
		vector{"kid of the EdDSA key, alg ES256", func(e *env) string {
			return tokentest.SignWith(e.tb, jwt.SigningMethodES256, es(e).Private, e.keys[token.EdDSA].Key.ID, nil, e.claims())
		}, false},
		vector{"alg header differs in case", signES(map[string]any{"alg": "es256"}, same), false},

		// Keys the token points at are never fetched or trusted.
		vector{"unknown kid", func(e *env) string { return tokentest.Sign(e.tb, e.evil[token.ES256], nil, e.claims()) }, false},
		vector{"our kid, attacker's key", func(e *env) string {
			return tokentest.SignWith(e.tb, jwt.SigningMethodES256, e.evil[token.ES256].Private, es(e).Key.ID, nil, e.claims())
		}, false},
		vector{"kid missing", signES(map[string]any{"kid": nil}, same), false},
		vector{"kid empty", signES(map[string]any{"kid": ""}, same), false},
		vector{"kid a number", signES(map[string]any{"kid": 1}, same), false},
		vector{"jku and x5u on a valid token are ignored", signES(map[string]any{
			"jku": "https://evil.test/jwks.json", "x5u": "https://evil.test/cert.pem"}, same), true},
		vector{"jku pointing at the attacker's key", func(e *env) string {
			return tokentest.Sign(e.tb, e.evil[token.ES256], map[string]any{"jku": "https://evil.test/jwks.json", "x5u": "https://evil.test/cert.pem"}, e.claims())
		}, false},
		vector{"embedded jwk of the attacker", func(e *env) string {
			k := e.evil[token.ES256]
			jwk, _ := k.Key.JWK()
			return tokentest.Sign(e.tb, k, map[string]any{"jwk": jwk}, e.claims())
		}, false},

		// Issuer.
		vector{"wrong iss", signES(nil, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), false},
		vector{"iss with a trailing slash", signES(nil, func(c jwt.MapClaims) { c["iss"] = testIssuer + "/" }), false},
		vector{"iss missing", signES(nil, func(c jwt.MapClaims) { delete(c, "iss") }), false},

		// Audience.
		vector{"aud as a string", signES(nil, func(c jwt.MapClaims) { c["aud"] = testIssuer }), true},
		vector{"aud array with ours among others", signES(nil, func(c jwt.MapClaims) { c["aud"] = []string{"https://other.test", testIssuer} }), true},
		vector{"aud another string", signES(nil, func(c jwt.MapClaims) { c["aud"] = "https://other.test" }), false},
		vector{"aud array without ours", signES(nil, func(c jwt.MapClaims) { c["aud"] = []string{"https://other.test"} }), false},
		vector{"aud empty string", signES(nil, func(c jwt.MapClaims) { c["aud"] = "" }), false},
		vector{"aud empty array", signES(nil, func(c jwt.MapClaims) { c["aud"] = []string{} }), false},
		vector{"aud missing", signES(nil, func(c jwt.MapClaims) { delete(c, "aud") }), false},
		vector{"aud null", signES(nil, func(c jwt.MapClaims) { c["aud"] = nil }), false},
		vector{"aud a number", signES(nil, func(c jwt.MapClaims) { c["aud"] = 42 }), false},
		vector{"aud an object", signES(nil, func(c jwt.MapClaims) { c["aud"] = map[string]any{"aud": testIssuer} }), false},
		vector{"aud array with a number", signES(nil, func(c jwt.MapClaims) { c["aud"] = []any{testIssuer, 42} }), false},

		// Kind, subject and id.
		vector{"kind missing", signES(nil, func(c jwt.MapClaims) { delete(c, "kind") }), false},
		vector{"kind empty", signES(nil, func(c jwt.MapClaims) { c["kind"] = "" }), false},
		vector{"kind a number", signES(nil, func(c jwt.MapClaims) { c["kind"] = 1 }), false},
		vector{"account kind", func(e *env) string { return tokentest.Sign(e.tb, es(e), nil, e.accountClaims()) }, true},
		vector{"sub missing", signES(nil, func(c jwt.MapClaims) { delete(c, "sub") }), false},
		vector{"jti missing", signES(nil, func(c jwt.MapClaims) { delete(c, "jti") }), false},
		vector{"no client or account", signES(nil, func(c jwt.MapClaims) { delete(c, "client_id") }), false},
		vector{"gen a string", signES(nil, func(c jwt.MapClaims) { c["gen"] = "1" }), false},

		// Live state.
		vector{"rotated client (generation mismatch)", signES(nil, func(c jwt.MapClaims) { c["gen"] = 0 }), false},
		vector{"generation from the future", signES(nil, func(c jwt.MapClaims) { c["gen"] = 2 }), false},
		vector{"unknown client", signES(nil, func(c jwt.MapClaims) { c["client_id"], c["sub"] = "ghost", "ghost" }), false},
		vector{"unknown account", func(e *env) string {
			c := e.accountClaims()
			c["account_id"] = "ghost"
			return tokentest.Sign(e.tb, es(e), nil, c)
		}, false},
		vector{"rotated account", func(e *env) string {
			c := e.accountClaims()
			c["gen"] = 0
			return tokentest.Sign(e.tb, es(e), nil, c)
		}, false},

		// Shapes that are not a token at all.
		vector{"empty", func(*env) string { return "" }, false},
		vector{"many dots", func(*env) string { return "a.b.c.d.e.f.g.h" }, false},
		vector{"only dots", func(*env) string { return "......" }, false},
		vector{"two segments", func(e *env) string {
			h, p, _ := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + p
		}, false},
		vector{"valid token with a fourth segment", func(e *env) string { return tokentest.Sign(e.tb, es(e), nil, e.claims()) + ".x" }, false},
		vector{"garbage base64", func(*env) string { return "!!!.@@@.###" }, false},
		vector{"header not JSON", func(e *env) string {
			_, p, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return base64.RawURLEncoding.EncodeToString([]byte("{not json")) + "." + p + "." + s
		}, false},
		vector{"payload not JSON", func(e *env) string {
			h, _, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + base64.RawURLEncoding.EncodeToString([]byte("[1,2")) + "." + s
		}, false},
		vector{"payload a JSON array", func(e *env) string {
			h, _, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "." + seg([]int{1}) + "." + s
		}, false},
		vector{"padded base64", func(e *env) string {
			h, p, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
			return h + "==." + p + "." + s
		}, false},
		vector{"100 KB token", func(e *env) string {
			c := e.claims()
			c["pad"] = strings.Repeat("x", 100<<10)
			return tokentest.Sign(e.tb, es(e), nil, c)
		}, false},
	)

	// alg none and its case variants, with and without a signature.
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		vs = append(vs,
			vector{"alg " + none + " unsigned", func(e *env) string {
				return unsigned(map[string]any{"alg": none, "typ": token.JWTType, "kid": es(e).Key.ID}, e.claims(), "")
			}, false},
			vector{"alg " + none + " with a signature", func(e *env) string {
				_, _, s := parts(tokentest.Sign(e.tb, es(e), nil, e.claims()))
				return unsigned(map[string]any{"alg": none, "typ": token.JWTType, "kid": es(e).Key.ID}, e.claims(), s)
			}, false},
			vector{"alg " + none + " without kid", func(e *env) string {
				return unsigned(map[string]any{"alg": none, "typ": token.JWTType}, e.claims(), "")
			}, false},
		)
	}
	vs = append(vs, vector{"alg none signed by golang-jwt", func(e *env) string {
		return tokentest.SignWith(e.tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, es(e).Key.ID, nil, e.claims())
	}, false})
	vs = append(vs, vector{"alg missing", func(e *env) string {
		return unsigned(map[string]any{"typ": token.JWTType, "kid": es(e).Key.ID}, e.claims(), "")
	}, false})
	return vs
}

const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func pemPublic(tb testing.TB, k *tokentest.Key) []byte {
	tb.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicDER(tb)})
}

func TestVerifyVectors(t *testing.T) {
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			e := newEnv(t, middleware.LocalConfig{})
			raw := vec.build(e)
			p, err := e.v.Verify(context.Background(), raw)
			if vec.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p == nil || p.Subject == "" || p.TokenID == "" || p.Issuer != testIssuer || p.Opaque {
					t.Fatalf("principal = %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", p)
			}
			t.Log(err)
			if p != nil {
				t.Errorf("a rejection returned a principal: %+v", p)
			}
			if !errors.Is(err, middleware.ErrInvalidToken) || errors.Is(err, middleware.ErrUnavailable) {
				t.Errorf("error %v: want ErrInvalidToken only", err)
			}
		})
	}
}

// VerifyJWT skips the store but must judge the signature and claims alike.
func TestVerifyJWTVectors(t *testing.T) {
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			e := newEnv(t, middleware.LocalConfig{})
			raw := vec.build(e)
			_, err := e.v.VerifyJWT(context.Background(), raw)
			live := strings.Contains(vec.name, "rotated") || strings.Contains(vec.name, "unknown client") ||
				strings.Contains(vec.name, "unknown account") || strings.Contains(vec.name, "generation") ||
				strings.Contains(vec.name, "no client or account")
			switch {
			case vec.ok || live:
				if err != nil {
					t.Fatalf("VerifyJWT: %v", err)
				}
			case err == nil:
				t.Fatal("VerifyJWT accepted it")
			}
			if e.state.calls() != 0 {
				t.Errorf("VerifyJWT asked the store %d times", e.state.calls())
			}
		})
	}
}

func TestVerifyPrincipal(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{})
	c := e.claims()
	c["aud"] = []string{testIssuer, "https://other.test"}
	c["scope"] = "read  write read"
	raw := tokentest.Sign(t, e.keys[token.EdDSA], nil, c)
	p, err := e.v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	want := middleware.Principal{
		Kind: token.KindClient, Subject: "c1", ClientID: "c1", Scopes: []string{"read", "write"},
		Audience: []string{testIssuer, "https://other.test"}, TokenID: c["jti"].(string), Generation: 1,
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), Issuer: testIssuer,
	}
	if !equalPrincipal(p, &want) {
		t.Errorf("principal\n got %+v\nwant %+v", p, &want)
	}
	if !p.HasScopes("read", "write") || p.HasScope("admin") || !p.HasScopes() {
		t.Error("HasScope(s) disagree with Scopes")
	}

	a, err := e.v.Verify(context.Background(), tokentest.Sign(t, e.keys[token.ES256], nil, e.accountClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != token.KindAccount || a.AccountID != "a1" || a.ClientID != "" || a.Subject != "a1" {
		t.Errorf("account principal = %+v", a)
	}
}

func equalPrincipal(a, b *middleware.Principal) bool {
	return a.Kind == b.Kind && a.Subject == b.Subject && a.ClientID == b.ClientID && a.AccountID == b.AccountID &&
		strings.Join(a.Scopes, " ") == strings.Join(b.Scopes, " ") && strings.Join(a.Audience, " ") == strings.Join(b.Audience, " ") &&
		a.TokenID == b.TokenID && a.Generation == b.Generation && a.IssuedAt.Equal(b.IssuedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Issuer == b.Issuer && a.Opaque == b.Opaque
}

func TestVerifyRejectsLongTokenBeforeParsing(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{})
	c := e.claims()
	c["pad"] = strings.Repeat("x", 100<<10)
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, c)
	for _, verify := range []func(context.Context, string) (*middleware.Principal, error){e.v.Verify, e.v.VerifyJWT} {
		if _, err := verify(context.Background(), raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("100 KB token: %v", err)
		}
	}
	if n := e.keysC.sets.Load() + e.keysC.refreshes.Load(); n != 0 {
		t.Errorf("the keys were consulted %d times: the token was parsed", n)
	}

	// MaxTokenLength moves the limit.
	short := newEnv(t, middleware.LocalConfig{MaxTokenLength: 100})
	if _, err := short.v.Verify(context.Background(), tokentest.Sign(t, short.keys[token.ES256], nil, short.claims())); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token over MaxTokenLength: %v", err)
	}
}

func TestVerifyDisabledAndDeleted(t *testing.T) {
	ctx := context.Background()
	t.Run("disabled client", func(t *testing.T) {
		e := newEnv(t, middleware.LocalConfig{})
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
		c, _ := e.st.GetClient(ctx, "c1")
		c.Disabled = true
		if err := e.st.UpdateClient(ctx, c, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("disabled client: %v", err)
		}
	})
	t.Run("deleted client", func(t *testing.T) {
		e := newEnv(t, middleware.LocalConfig{})
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
		if err := e.st.DeleteClient(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("deleted client: %v", err)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		e := newEnv(t, middleware.LocalConfig{})
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.accountClaims())
		a, _ := e.st.GetAccount(ctx, "a1")
		a.Disabled = true
		if err := e.st.UpdateAccount(ctx, a, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("disabled account: %v", err)
		}
	})
	t.Run("rotated client", func(t *testing.T) {
		e := newEnv(t, middleware.LocalConfig{})
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
		c, _ := e.st.GetClient(ctx, "c1")
		c.Generation = 2
		if err := e.st.UpdateClient(ctx, c, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("token of generation 1 after rotation: %v", err)
		}
		c2 := e.claims()
		c2["gen"] = 2
		if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, c2)); err != nil {
			t.Fatalf("token of the new generation: %v", err)
		}
	})
	t.Run("revoked jti", func(t *testing.T) {
		e := newEnv(t, middleware.LocalConfig{})
		c := e.claims()
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, c)
		if err := e.st.Revoke(ctx, c["jti"].(string), e.clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("revoked token: %v", err)
		}
		// Another token of the same client is untouched.
		if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())); err != nil {
			t.Fatalf("sibling token: %v", err)
		}
	})
}

func TestVerifyUnavailable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{})
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
	e.state.down.Store(true)
	if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrUnavailable) || errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("store down: %v, want ErrUnavailable only", err)
	}
	e.state.down.Store(false)
	if _, err := e.v.Verify(ctx, raw); err != nil {
		t.Fatalf("store back: %v", err)
	}
	// Cached, but due for a recheck after StateTTL: still fails closed.
	e.clk.Advance(time.Minute)
	e.state.down.Store(true)
	if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrUnavailable) {
		t.Fatalf("cached token, store down after StateTTL: %v", err)
	}
	// A forged token is invalid, store or no store.
	if _, err := e.v.Verify(ctx, "x.y.z"); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("garbage with the store down: %v", err)
	}
}

func TestVerifyKeySourceFailure(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{Keys: failingKeys{}})
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
	if _, err := e.v.Verify(context.Background(), raw); !errors.Is(err, middleware.ErrUnavailable) {
		t.Fatalf("keys unavailable: %v", err)
	}
}

type failingKeys struct{}

func (failingKeys) KeySet(context.Context) (*token.KeySet, error)  { return nil, errDown }
func (failingKeys) Refresh(context.Context) (*token.KeySet, error) { return nil, errDown }

func TestNewVerifierConfig(t *testing.T) {
	ks := token.StaticKeys{}
	st := &countingState{}
	for i, cfg := range []middleware.LocalConfig{
		{Keys: ks, Store: st},
		{Issuer: testIssuer, Store: st},
		{Issuer: testIssuer, Keys: ks},
		{Issuer: testIssuer, Keys: ks, Store: st, Kinds: []string{token.KindClient, ""}},
	} {
		if v, err := middleware.NewLocalVerifier(cfg); err == nil || v != nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

func TestVerifyAudiencesConfig(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{Audiences: []string{"https://api.test"}})
	c := e.claims()
	if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, c)); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("the issuer audience is no longer the default once Audiences is set: %v", err)
	}
	c = e.claims()
	c["aud"] = "https://api.test"
	if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, c)); err != nil {
		t.Errorf("configured audience: %v", err)
	}
}

func TestVerifyLeewayConfig(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{Leeway: -1})
	c := e.claims()
	c["exp"] = e.clk.Now().Add(-time.Second).Unix()
	if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, c)); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("negative Leeway must mean none: %v", err)
	}
	e = newEnv(t, middleware.LocalConfig{Leeway: time.Minute})
	c = e.claims()
	c["exp"] = e.clk.Now().Add(-30 * time.Second).Unix()
	if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, c)); err != nil {
		t.Errorf("within a 1m leeway: %v", err)
	}
}

// Cache.

func TestCacheServesSecondVerify(t *testing.T) {
	ctx := context.Background()
	for _, alg := range tokentest.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, middleware.LocalConfig{})
			raw := tokentest.Sign(t, e.keys[alg], nil, e.claims())
			p1, err := e.v.Verify(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			sets, calls := e.keysC.sets.Load(), e.state.calls()
			p2, err := e.v.Verify(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			if p2 != p1 {
				t.Error("the second Verify built a new principal: not served from the cache")
			}
			if e.keysC.sets.Load() != sets || e.state.calls() != calls {
				t.Errorf("the second Verify asked the keys %d and the store %d more times",
					e.keysC.sets.Load()-sets, e.state.calls()-calls)
			}
		})
	}
}

func TestCacheDisabled(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{CacheSize: -1})
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
	p1, err := e.v.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.v.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 || e.keysC.sets.Load() != 2 || e.state.revoked.Load() != 2 {
		t.Errorf("with CacheSize -1 every Verify must parse and ask for revocation (keys %d, revoked %d)",
			e.keysC.sets.Load(), e.state.revoked.Load())
	}
}

func TestCacheRevocation(t *testing.T) {
	ctx := context.Background()
	const ttl = 5 * time.Second
	setup := func(t *testing.T) (*env, string, string) {
		e := newEnv(t, middleware.LocalConfig{StateTTL: ttl})
		c := e.claims()
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, c)
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		if err := e.st.Revoke(ctx, c["jti"].(string), e.clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		return e, raw, c["jti"].(string)
	}
	t.Run("after StateTTL", func(t *testing.T) {
		e, raw, _ := setup(t)
		// Within StateTTL the cached answer stands: that is the documented,
		// bounded delay.
		e.clk.Advance(ttl - time.Second)
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatalf("within StateTTL: %v", err)
		}
		e.clk.Advance(time.Second)
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("StateTTL after the revocation the cached token still passes: %v", err)
		}
		e.clk.Advance(time.Second)
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("and later: %v", err)
		}
	})
	t.Run("at once after Forget", func(t *testing.T) {
		e, raw, jti := setup(t)
		e.v.Forget(store.Event{Kind: store.EventRevoked, ID: jti})
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("after Forget: %v", err)
		}
	})
	t.Run("Forget of another token changes nothing", func(t *testing.T) {
		e, raw, _ := setup(t)
		e.v.Forget(store.Event{Kind: store.EventRevoked, ID: "other"})
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatalf("unrelated Forget: %v", err)
		}
	})
}

func TestCacheRotation(t *testing.T) {
	ctx := context.Background()
	const ttl = 5 * time.Second
	type change struct {
		name  string
		apply func(t *testing.T, e *env)
		event store.Event
	}
	changes := []change{
		{"client rotated", func(t *testing.T, e *env) {
			c, _ := e.st.GetClient(ctx, "c1")
			c.Generation = 2
			if err := e.st.UpdateClient(ctx, c, 1); err != nil {
				t.Fatal(err)
			}
		}, store.Event{Kind: store.EventClientChanged, ID: "c1", Generation: 2}},
		{"client disabled", func(t *testing.T, e *env) {
			c, _ := e.st.GetClient(ctx, "c1")
			c.Disabled = true
			if err := e.st.UpdateClient(ctx, c, 1); err != nil {
				t.Fatal(err)
			}
		}, store.Event{Kind: store.EventClientChanged, ID: "c1", Generation: 1}},
		{"client deleted", func(t *testing.T, e *env) {
			if err := e.st.DeleteClient(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
		}, store.Event{Kind: store.EventClientChanged, ID: "c1", Generation: -1}},
	}
	for _, ch := range changes {
		t.Run(ch.name+"/after StateTTL", func(t *testing.T) {
			e := newEnv(t, middleware.LocalConfig{StateTTL: ttl})
			raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
			if _, err := e.v.Verify(ctx, raw); err != nil {
				t.Fatal(err)
			}
			ch.apply(t, e)
			e.clk.Advance(ttl - time.Second)
			if _, err := e.v.Verify(ctx, raw); err != nil {
				t.Fatalf("within StateTTL: %v", err)
			}
			e.clk.Advance(time.Second)
			if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
				t.Fatalf("after StateTTL: %v", err)
			}
		})
		t.Run(ch.name+"/at once after Forget", func(t *testing.T) {
			e := newEnv(t, middleware.LocalConfig{StateTTL: ttl})
			raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
			if _, err := e.v.Verify(ctx, raw); err != nil {
				t.Fatal(err)
			}
			ch.apply(t, e)
			e.v.Forget(ch.event)
			if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
				t.Fatalf("after Forget: %v", err)
			}
		})
	}
	t.Run("account rotated, Forget", func(t *testing.T) {
		e := newEnv(t, middleware.LocalConfig{StateTTL: ttl})
		raw := tokentest.Sign(t, e.keys[token.ES256], nil, e.accountClaims())
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		a, _ := e.st.GetAccount(ctx, "a1")
		a.Generation = 2
		if err := e.st.UpdateAccount(ctx, a, 1); err != nil {
			t.Fatal(err)
		}
		e.v.Forget(store.Event{Kind: store.EventAccountChanged, ID: "a1", Generation: 2})
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Fatalf("after Forget: %v", err)
		}
	})
}

func TestCacheHonoursExpiry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{StateTTL: time.Hour})
	c := e.claims()
	c["exp"] = e.clk.Now().Add(time.Minute).Unix()
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, c)
	if _, err := e.v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute + 9*time.Second)
	if _, err := e.v.Verify(ctx, raw); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	e.clk.Advance(time.Second)
	if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("the cache served an expired token: %v", err)
	}
}

func TestCacheSmall(t *testing.T) {
	// A tiny cache still verifies every token correctly as entries come and go.
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{CacheSize: 1})
	var toks []string
	for range 100 {
		toks = append(toks, tokentest.Sign(t, e.keys[token.HS256], nil, e.claims()))
	}
	for round := range 3 {
		for i, raw := range toks {
			if _, err := e.v.Verify(ctx, raw); err != nil {
				t.Fatalf("round %d token %d: %v", round, i, err)
			}
		}
	}
	if _, err := e.v.Verify(ctx, toks[0]+"x"); err == nil {
		t.Fatal("a cached token's prefix match was accepted")
	}
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, middleware.LocalConfig{StateTTL: time.Hour})
	// The countingState wrapper hides the store's Watcher: use the store itself.
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: token.StaticKeys{Set: e.set}, Store: e.st, Now: e.clk.Now, StateTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.v.Watch(ctx); ok || err != nil {
		t.Fatalf("Watch on a store without Watcher = %v, %v", ok, err)
	}
	if ok, err := v.Watch(ctx); !ok || err != nil {
		t.Fatalf("Watch on the memory store = %v, %v", ok, err)
	}
	c := e.claims()
	raw := tokentest.Sign(t, e.keys[token.ES256], nil, c)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Revoke(ctx, c["jti"].(string), e.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The event arrives on another goroutine; the clock does not move, so
	// only the event can make the cached token fail.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := v.Verify(ctx, raw); errors.Is(err, middleware.ErrInvalidToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation event never reached the cache")
		}
		time.Sleep(time.Millisecond)
	}
}

// Opaque tokens.

func TestOpaque(t *testing.T) {
	ctx := context.Background()
	for _, pepper := range [][]byte{nil, []byte("server pepper")} {
		name := "sha256"
		if pepper != nil {
			name = "hmac"
		}
		t.Run(name, func(t *testing.T) { testOpaque(t, ctx, pepper) })
	}
}

func testOpaque(t *testing.T, ctx context.Context, pepper []byte) {
	h := token.NewHasher(pepper) // the issuer's, to mint with
	e := newEnv(t, middleware.LocalConfig{Pepper: pepper})
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: token.StaticKeys{Set: e.set}, Store: e.state,
		Opaque: true, Pepper: pepper, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	mint := func(edit func(g *store.Grant)) string {
		raw := token.NewSecret(token.PrefixAccessToken)
		g := store.Grant{Kind: token.KindClient, Subject: "c1", ClientID: "c1", Scopes: []string{"read"},
			Audience: []string{testIssuer}, Generation: 1, IssuedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
		if edit != nil {
			edit(&g)
		}
		if err := e.st.CreateAccessToken(ctx, &store.AccessToken{Hash: h.Hex(raw), ID: tokentest.RandomID(), Grant: g}); err != nil {
			t.Fatal(err)
		}
		return raw
	}

	raw := mint(nil)
	p, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Opaque || p.Kind != token.KindClient || p.ClientID != "c1" || !p.HasScope("read") || p.Issuer != testIssuer || !p.ExpiresAt.Equal(now.Add(30*time.Minute)) {
		t.Errorf("principal = %+v", p)
	}
	if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("a verifier without Opaque accepted an opaque token: %v", err)
	}

	reject := func(name, raw string) {
		t.Helper()
		if _, err := v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	reject("unknown", token.NewSecret(token.PrefixAccessToken))
	last := "x"
	if raw[len(raw)-1] == 'x' {
		last = "y" // the change must be a change: 1 in 62 tokens end in x
	}
	reject("one character changed", raw[:len(raw)-1]+last)
	reject("other audience", mint(func(g *store.Grant) { g.Audience = []string{"https://other.test"} }))
	reject("wrong generation", mint(func(g *store.Grant) { g.Generation = 0 }))
	reject("unknown client", mint(func(g *store.Grant) { g.ClientID, g.Subject = "ghost", "ghost" }))
	reject("no client or account", mint(func(g *store.Grant) { g.ClientID = "" }))
	reject("no kind", mint(func(g *store.Grant) { g.Kind = "" }))

	short := mint(func(g *store.Grant) { g.ExpiresAt = now.Add(time.Minute) })
	if _, err := v.Verify(ctx, short); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	reject("expired", short)

	// Opaque tokens are looked up on every use: deletion and rotation reach
	// them at once, without waiting for StateTTL.
	raw = mint(nil)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteAccessToken(ctx, h.Hex(raw)); err != nil {
		t.Fatal(err)
	}
	reject("deleted", raw)
	raw = mint(nil)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	c, _ := e.st.GetClient(ctx, "c1")
	c.Generation = 2
	if err := e.st.UpdateClient(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	reject("rotated", raw)

	e.state.down.Store(true)
	if _, err := v.Verify(ctx, mint(func(g *store.Grant) { g.Generation = 2 })); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("store down: %v", err)
	}
}

func TestCacheKeyWithdrawn(t *testing.T) {
	// A signing key deleted from the store (say it leaked) must stop
	// vouching for the tokens it signed, cached ones included, within
	// StateTTL: otherwise a token forged with the leaked key, with any exp
	// it likes, passes from the cache for as long as it stays there.
	ctx := context.Background()
	const ttl = 5 * time.Second
	st := memory.New()
	km := tokentest.NewManager(t, st, tokentest.NewClock(), token.KeyManagerConfig{})
	e := newEnv(t, middleware.LocalConfig{Keys: km, StateTTL: ttl})
	ks := tokentest.KeySet(t, km)
	c := e.claims()
	c["exp"] = e.clk.Now().Add(100 * 365 * 24 * time.Hour).Unix()
	raw, err := ks.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	leaked := tokentest.KidOf(t, ks)
	if err := st.DeleteKey(ctx, leaked); err != nil {
		t.Fatal(err)
	}
	if err := km.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := tokentest.KeySet(t, km).Key(leaked); ok {
		t.Fatal("the deleted key is still in the set")
	}
	e.clk.Advance(ttl)
	if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("StateTTL after its key was withdrawn, the cached token still passes: %v", err)
	}
}

func TestCacheNewGenerationAtOnce(t *testing.T) {
	// Another replica rotates the client, which gets a token of the new
	// generation and presents it here at once. The cached generation is
	// older than the token's, so it is stale (generations only grow): the
	// new token must pass now, not StateTTL later, while the old one dies.
	ctx := context.Background()
	e := newEnv(t, middleware.LocalConfig{StateTTL: time.Hour})
	old := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
	if _, err := e.v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	c, _ := e.st.GetClient(ctx, "c1")
	c.Generation = 2
	if err := e.st.UpdateClient(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, edit(e, func(c jwt.MapClaims) { c["gen"] = 2 }))); err != nil {
		t.Fatalf("a token of the new generation is refused: %v", err)
	}
	if _, err := e.v.Verify(ctx, old); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("once the new generation is known, the old token still passes: %v", err)
	}
	// A token from a generation the store has not reached is still refused.
	if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, edit(e, func(c jwt.MapClaims) { c["gen"] = 3 }))); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Fatalf("generation from the future: %v", err)
	}
}

// A client key owned by an account: its tokens name the client and the
// account, carry the client's generation, and need the account to exist and
// be enabled, whatever the account's generation (a password change must not
// kill the account's client keys).
func TestClientOfAccount(t *testing.T) {
	ctx := context.Background()
	const ttl = 5 * time.Second
	setup := func(t *testing.T) (*env, string) {
		e := newEnv(t, middleware.LocalConfig{StateTTL: ttl})
		// The account a1 is at generation 1; its key at generation 7.
		if err := e.st.CreateClient(ctx, &store.Client{ID: "k1", OwnerAccount: "a1", Generation: 7}); err != nil {
			t.Fatal(err)
		}
		c := e.claims()
		c["sub"], c["client_id"], c["account_id"], c["gen"] = "k1", "k1", "a1", 7
		return e, tokentest.Sign(t, e.keys[token.ES256], nil, c)
	}
	updateAccount := func(t *testing.T, e *env, f func(a *store.Account)) {
		a, _ := e.st.GetAccount(ctx, "a1")
		prev := a.Generation
		f(a)
		if err := e.st.UpdateAccount(ctx, a, prev); err != nil {
			t.Fatal(err)
		}
		e.v.Forget(store.Event{Kind: store.EventAccountChanged, ID: "a1", Generation: a.Generation})
	}

	t.Run("the client's generation, not the account's", func(t *testing.T) {
		e, raw := setup(t)
		p, err := e.v.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("a client token of an account's key: %v", err)
		}
		if p.ClientID != "k1" || p.AccountID != "a1" || p.Kind != token.KindClient {
			t.Errorf("principal = %+v", p)
		}
		c := e.claims()
		c["sub"], c["client_id"], c["account_id"], c["gen"] = "k1", "k1", "a1", 1
		if _, err := e.v.Verify(ctx, tokentest.Sign(t, e.keys[token.ES256], nil, c)); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("a token with the account's generation instead of the client's: %v", err)
		}
	})
	t.Run("account password changed", func(t *testing.T) {
		e, raw := setup(t)
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		updateAccount(t, e, func(a *store.Account) { a.Generation++ })
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Errorf("the owner's new generation killed its key's token: %v", err)
		}
		fresh := newEnv(t, middleware.LocalConfig{Store: e.st})
		if _, err := fresh.v.Verify(ctx, raw); err != nil {
			t.Errorf("a fresh verifier: %v", err)
		}
	})
	t.Run("account disabled", func(t *testing.T) {
		e, raw := setup(t)
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		updateAccount(t, e, func(a *store.Account) { a.Disabled = true })
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("after Forget, the disabled owner's key token passes: %v", err)
		}
	})
	t.Run("account disabled, after StateTTL", func(t *testing.T) {
		e, raw := setup(t)
		if _, err := e.v.Verify(ctx, raw); err != nil {
			t.Fatal(err)
		}
		a, _ := e.st.GetAccount(ctx, "a1")
		a.Disabled = true
		if err := e.st.UpdateAccount(ctx, a, 1); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(ttl)
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("StateTTL after the owner was disabled, the cached token passes: %v", err)
		}
	})
	t.Run("account deleted", func(t *testing.T) {
		e, raw := setup(t)
		if err := e.st.DeleteAccount(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("the deleted owner's key token passes: %v", err)
		}
	})
	t.Run("client rotated", func(t *testing.T) {
		e, raw := setup(t)
		c, _ := e.st.GetClient(ctx, "k1")
		c.Generation = 8
		if err := e.st.UpdateClient(ctx, c, 7); err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("the rotated key's token passes: %v", err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		e, raw := setup(t)
		e.state.down.Store(true)
		if _, err := e.v.Verify(ctx, raw); !errors.Is(err, middleware.ErrUnavailable) {
			t.Errorf("store down: %v", err)
		}
	})
	t.Run("opaque", func(t *testing.T) {
		e, _ := setup(t)
		v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Keys: token.StaticKeys{Set: e.set},
			Store: e.st, Opaque: true, Now: e.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		now := e.clk.Now()
		raw := token.NewSecret(token.PrefixAccessToken)
		if err := e.st.CreateAccessToken(ctx, &store.AccessToken{Hash: token.NewHasher(nil).Hex(raw), ID: "o1", Grant: store.Grant{
			Kind: token.KindClient, Subject: "k1", ClientID: "k1", AccountID: "a1", Audience: []string{testIssuer},
			Generation: 7, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Fatalf("opaque token of an account's key: %v", err)
		}
		a, _ := e.st.GetAccount(ctx, "a1")
		a.Disabled = true
		if err := e.st.UpdateAccount(ctx, a, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, raw); !errors.Is(err, middleware.ErrInvalidToken) {
			t.Errorf("opaque token of a disabled owner: %v", err)
		}
	})
}

func TestLocalKinds(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{})
	if got := e.v.Kinds(); !slices.Equal(got, []string{middleware.KindClient, middleware.KindAccount}) {
		t.Errorf("default Kinds() = %q", got)
	}
	e.v.Kinds()[0] = "changed"
	if got := e.v.Kinds(); got[0] != middleware.KindClient {
		t.Error("Kinds() gave away the verifier's own slice")
	}
	kinds := []string{"robot", middleware.KindClient, "robot"}
	e = newEnv(t, middleware.LocalConfig{Kinds: kinds})
	kinds[0] = "changed"
	if got := e.v.Kinds(); !slices.Equal(got, []string{"robot", middleware.KindClient}) {
		t.Errorf("Kinds() = %q", got)
	}
}

// A resource server that shares the issuer's store builds its verifier from
// the store alone: it reads the issuer's keys and never writes one.
func TestLocalVerifierOverTheStoreAlone(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	now := time.Now()
	clock := func() time.Time { return now }
	v, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Store: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, "a.b.c"); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("before any issuer: %v, want ErrUnavailable", err)
	}
	if keys, _ := st.ListKeys(ctx); len(keys) != 0 {
		t.Fatalf("the verifier wrote %d keys", len(keys))
	}
	iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: st, Algorithm: issuer.EdDSA, Logger: slog.New(slog.DiscardHandler), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.ID, secret)
	w := httptest.NewRecorder()
	iss.Handler().ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	// The reader looks again once its retry interval has passed.
	if _, err := v.Verify(ctx, tok.AccessToken); !errors.Is(err, middleware.ErrUnavailable) {
		t.Errorf("within the retry interval: %v, want ErrUnavailable", err)
	}
	now = now.Add(10 * time.Second)
	p, err := v.Verify(ctx, tok.AccessToken)
	if err != nil || p.ClientID != c.ID {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	keys, _ := st.ListKeys(ctx)
	if len(keys) != 1 || keys[0].Algorithm != issuer.EdDSA {
		t.Errorf("stored keys %+v, want the issuer's one EdDSA key", keys)
	}
	if _, err := middleware.NewLocalVerifier(middleware.LocalConfig{Issuer: testIssuer, Store: noKeysStore{st}}); err == nil {
		t.Error("a store without keys and no Keys was accepted")
	}
}

// noKeysStore is a LocalStore that is no store.Keys.
type noKeysStore struct{ middleware.LocalStore }
