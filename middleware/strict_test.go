package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/internal/tokentest"
	"github.com/portcullis/portcullis/middleware"
)

// The strict-JWT vectors (issue 9, item 4): claim names are case-exact,
// duplicates are refused, exp/nbf/iat are JSON numbers in range, gen is an
// integer, aud a string or an array of strings, unknown claims are
// skipped, and a header with crit or b64 is refused. Each runs against
// the LocalVerifier (Verify and VerifyJWT) and a JWKSVerifier over the
// same keys, which share the decoder but not the code around it.

type strictVector struct {
	name  string
	build func(e *env) string
	// ok: accepted by every verifier.
	ok bool
	// check, when set, is asked about the principal of an accepted token.
	check func(p *middleware.Principal) error
}

// claimsJSON is the JSON of the env's valid claims, edited by f.
func claimsJSON(e *env, f func(c jwt.MapClaims)) string {
	c := e.claims()
	if f != nil {
		f(c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		e.tb.Fatal(err)
	}
	return string(b)
}

// withMembers puts raw JSON members first in a claims (or header) object.
func withMembers(obj, members string) string {
	return "{" + members + "," + obj[1:]
}

// headerJSON is the JSON of a valid header for k: alg, kid, typ.
func headerJSON(k *tokentest.Key) string {
	return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, k.Key.Algorithm, k.Key.ID, token.JWTType)
}

// signRaw signs the exact header and payload texts with k.
func signRaw(tb testing.TB, k *tokentest.Key, header, payload string) string {
	tb.Helper()
	return tokentest.SignRaw(tb, k, header, payload)
}

func scopesAre(want ...string) func(p *middleware.Principal) error {
	return func(p *middleware.Principal) error {
		if !slices.Equal(p.Scopes, want) {
			return fmt.Errorf("scopes %q, want %q", p.Scopes, want)
		}
		return nil
	}
}

func strictVectors() []strictVector {
	es := func(e *env) *tokentest.Key { return e.keys[token.ES256] }
	// payload signs the valid claims, edited by f, then with raw members
	// put first.
	payload := func(f func(c jwt.MapClaims), members string) func(e *env) string {
		return func(e *env) string {
			p := claimsJSON(e, f)
			if members != "" {
				p = withMembers(p, members)
			}
			return signRaw(e.tb, es(e), headerJSON(es(e)), p)
		}
	}
	header := func(members string) func(e *env) string {
		return func(e *env) string {
			return signRaw(e.tb, es(e), withMembers(headerJSON(es(e)), members), claimsJSON(e, nil))
		}
	}
	del := func(names ...string) func(c jwt.MapClaims) {
		return func(c jwt.MapClaims) {
			for _, n := range names {
				delete(c, n)
			}
		}
	}
	set := func(name string, v any) func(c jwt.MapClaims) { return func(c jwt.MapClaims) { c[name] = v } }
	past := func(e *env) int64 { return e.clk.Now().Add(-48 * 3600e9).Unix() }
	future := func(e *env) int64 { return e.clk.Now().Add(48 * 3600e9).Unix() }
	withTime := func(name string, v func(e *env) int64, members func(int64) string) func(e *env) string {
		return func(e *env) string {
			p := withMembers(claimsJSON(e, del(name)), members(v(e)))
			return signRaw(e.tb, es(e), headerJSON(es(e)), p)
		}
	}

	vs := []strictVector{
		{name: "signed by hand, all valid", build: payload(nil, ""), ok: true, check: scopesAre("read", "write")},

		// Claim names are case-exact.
		{name: "EXP instead of exp", build: withTime("exp", future, func(t int64) string { return fmt.Sprintf(`"EXP":%d`, t) })},
		{name: "Exp expired beside a valid exp", build: payload(nil, `"Exp":1`), ok: true},
		{name: "EXP a string beside a valid exp", build: payload(nil, `"EXP":"never"`), ok: true},
		{name: "Scope admin beside scope", build: payload(nil, `"Scope":"admin","SCOPE":"admin"`), ok: true, check: scopesAre("read", "write")},
		{name: "Scope instead of scope", build: payload(del("scope"), `"Scope":"read write admin"`), ok: true, check: scopesAre()},
		{name: "KIND account beside kind client", build: payload(nil, `"KIND":"account","Kind":"account"`), ok: true,
			check: func(p *middleware.Principal) error {
				if p.Kind != token.KindClient {
					return fmt.Errorf("kind %q", p.Kind)
				}
				return nil
			}},
		{name: "KIND instead of kind", build: payload(del("kind"), `"KIND":"client"`)},
		{name: "ISS instead of iss", build: payload(del("iss"), `"ISS":"`+testIssuer+`"`)},
		{name: "Aud instead of aud", build: payload(del("aud"), `"Aud":"`+testIssuer+`"`)},
		{name: "SUB instead of sub", build: payload(del("sub"), `"SUB":"c1"`)},
		{name: "JTI instead of jti", build: payload(del("jti"), `"JTI":"j1"`)},
		{name: "NBF in the future beside nbf", build: withTime("NBF", future, func(t int64) string { return fmt.Sprintf(`"NBF":%d`, t) }), ok: true},
		{name: "Iat in the future beside iat", build: withTime("Iat", future, func(t int64) string { return fmt.Sprintf(`"Iat":%d`, t) }), ok: true},
		{name: "GEN beside gen", build: payload(nil, `"GEN":2,"Gen":"x"`), ok: true},
		{name: "kelvin sign in kind (folds to kind in encoding/json)", build: payload(del("kind"), "\"\u212aind\":\"client\"")},
		{name: "escaped exp is exp", build: withTime("exp", future, func(t int64) string { return fmt.Sprintf(`"\u0065xp":%d`, t) }), ok: true},
		{name: "escaped exp expired is exp", build: withTime("exp", past, func(t int64) string { return fmt.Sprintf(`"\u0065xp":%d`, t) })},

		// Duplicate names are refused, whichever comes first.
		{name: "exp twice, expired first", build: withTime("exp", past, func(t int64) string { return fmt.Sprintf(`"exp":%d,"exp":%d`, t, t+96*3600) })},
		{name: "exp twice, expired last", build: withTime("exp", future, func(t int64) string { return fmt.Sprintf(`"exp":%d,"exp":%d`, t, t-96*3600) })},
		{name: "exp twice, the same", build: withTime("exp", future, func(t int64) string { return fmt.Sprintf(`"exp":%d,"exp":%d`, t, t) })},
		{name: "exp and an escaped exp", build: payload(nil, `"\u0065xp":1`)},
		{name: "scope twice", build: payload(nil, `"scope":"admin"`)},
		{name: "kind twice", build: payload(nil, `"kind":"account"`)},
		{name: "aud twice", build: payload(nil, `"aud":"https://other.test"`)},
		{name: "sub twice", build: payload(nil, `"sub":"c2"`)},
		{name: "jti twice", build: payload(nil, `"jti":"other"`)},
		{name: "gen twice", build: payload(nil, `"gen":2`)},
		{name: "client_id twice", build: payload(nil, `"client_id":"c2"`)},
		{name: "an unknown claim twice", build: payload(nil, `"x":1,"x":2`)},
		{name: "alg twice", build: header(`"alg":"none"`)},
		{name: "kid twice", build: header(`"kid":"other"`)},
		{name: "typ twice", build: header(`"typ":"JWT"`)},
		{name: "an unknown header twice", build: header(`"cty":"a","cty":"b"`)},

		// exp, nbf and iat are JSON numbers within range.
		{name: "exp a numeric string", build: payload(func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(c["exp"]) }, "")},
		{name: "nbf a numeric string", build: payload(func(c jwt.MapClaims) { c["nbf"] = fmt.Sprint(c["nbf"]) }, "")},
		{name: "iat a numeric string", build: payload(func(c jwt.MapClaims) { c["iat"] = fmt.Sprint(c["iat"]) }, "")},
		{name: "exp null", build: payload(set("exp", nil), "")},
		{name: "exp true", build: payload(set("exp", true), "")},
		{name: "exp 1e300", build: payload(del("exp"), `"exp":1e300`)},
		{name: "exp -1e300", build: payload(del("exp"), `"exp":-1e300`)},
		{name: "nbf -1e300", build: payload(del("nbf"), `"nbf":-1e300`)},
		{name: "iat -1e300", build: payload(del("iat"), `"iat":-1e300`)},
		{name: "nbf 1e300", build: payload(del("nbf"), `"nbf":1e300`)},
		{name: "iat 1e300", build: payload(del("iat"), `"iat":1e300`)},
		{name: "nbf -1", build: payload(del("nbf"), `"nbf":-1`)},
		{name: "iat -1", build: payload(del("iat"), `"iat":-1`)},
		{name: "nbf 0", build: payload(del("nbf"), `"nbf":0`), ok: true},
		{name: "exp 2^53", build: payload(del("exp"), `"exp":9007199254740992`)},
		{name: "exp 2^63", build: payload(del("exp"), `"exp":9223372036854775808`)},
		{name: "exp past year 9999", build: payload(del("exp"), `"exp":253402300800`)},
		{name: "exp in year 9999", build: payload(del("exp"), `"exp":253402300799`), ok: true},
		{name: "exp fractional (RFC 7519 allows it)", build: withTime("exp", future, func(t int64) string { return fmt.Sprintf(`"exp":%d.5`, t) }), ok: true},
		{name: "exp with an exponent", build: payload(del("exp"), `"exp":2.5e11`), ok: true},
		{name: "exp hexadecimal", build: payload(del("exp"), `"exp":0x7fffffff`)},
		{name: "exp a leading zero", build: payload(del("exp"), `"exp":01900000000`)},

		// gen is an integer.
		{name: "gen fractional", build: payload(del("gen"), `"gen":1.5`)},
		{name: "gen 1.0", build: payload(del("gen"), `"gen":1.0`)},
		{name: "gen 1e0", build: payload(del("gen"), `"gen":1e0`)},
		{name: "gen past int64", build: payload(del("gen"), `"gen":9223372036854775808`)},
		{name: "gen 1e300", build: payload(del("gen"), `"gen":1e300`)},
		{name: "gen null", build: payload(set("gen", nil), "")},

		// aud is a string or an array of strings.
		{name: "aud a string", build: payload(set("aud", testIssuer), ""), ok: true},
		{name: "aud an array", build: payload(set("aud", []string{"https://other.test", testIssuer}), ""), ok: true},
		{name: "aud an array of arrays", build: payload(set("aud", [][]string{{testIssuer}}), "")},
		{name: "aud an array with null", build: payload(set("aud", []any{testIssuer, nil}), "")},
		{name: "aud an array with an object", build: payload(set("aud", []any{testIssuer, map[string]any{}}), "")},
		{name: "aud true", build: payload(set("aud", true), "")},

		// Unknown claims and header parameters are skipped.
		{name: "unknown claims of every shape", build: payload(nil,
			`"cnf":{"jkt":"abc"},"act":{"sub":"admin","scope":"admin"},"x":[1,-2.5e-3,true,false,null,[],{}],"roles":["admin"],"Scopes":["admin"]`),
			ok: true, check: scopesAre("read", "write")},
		{name: "unknown header parameters", build: header(`"cty":"x","x5c":["a"],"zip":"DEF","Crit":["exp"],"B64":false`), ok: true},
		{name: "unknown claim nested too deep", build: payload(nil, `"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40))},
		{name: "unknown claim not JSON", build: payload(nil, `"x":tru`)},

		// crit and b64 (RFC 7515 §4.1.11, RFC 7797).
		{name: "crit naming exp", build: header(`"crit":["exp"],"exp":1`)},
		{name: "crit empty", build: header(`"crit":[]`)},
		{name: "crit null", build: header(`"crit":null`)},
		{name: "b64 false with crit", build: header(`"b64":false,"crit":["b64"]`)},
		{name: "b64 false alone", build: header(`"b64":false`)},
		{name: "b64 true", build: header(`"b64":true`)},
		{name: "escaped crit", build: header(`"\u0063rit":["x"]`)},

		// Strings.
		{name: "invalid UTF-8 in scope", build: payload(del("scope"), "\"scope\":\"read \xff\"")},
		{name: "lone surrogate in sub", build: payload(del("sub"), `"sub":"\ud800"`)},
		{name: "control character in sub", build: payload(del("sub"), "\"sub\":\"c\x011\"")},
		{name: "escaped sub is sub", build: payload(del("sub"), `"sub":"\u0063\u0031"`), ok: true},
		{name: "trailing data after the claims", build: func(e *env) string {
			return signRaw(e.tb, es(e), headerJSON(es(e)), claimsJSON(e, nil)+"{}")
		}},
		{name: "trailing whitespace after the claims", build: func(e *env) string {
			return signRaw(e.tb, es(e), headerJSON(es(e)), claimsJSON(e, nil)+" \n")
		}, ok: true},

		// One token, one spelling.
		{name: "line feed in a valid token", build: func(e *env) string {
			raw := tokentest.Sign(e.tb, es(e), nil, e.claims())
			return raw[:20] + "\n" + raw[20:]
		}},
		{name: "carriage return in a valid token's signature", build: func(e *env) string {
			raw := tokentest.Sign(e.tb, es(e), nil, e.claims())
			return raw[:len(raw)-4] + "\r" + raw[len(raw)-4:]
		}},
	}
	// Each algorithm through the same decoder.
	for _, alg := range []string{token.EdDSA, token.RS256} {
		vs = append(vs,
			strictVector{name: alg + " exp a numeric string", build: func(e *env) string {
				k := e.keys[alg]
				return signRaw(e.tb, k, headerJSON(k), claimsJSON(e, func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(c["exp"]) }))
			}},
			strictVector{name: alg + " crit", build: func(e *env) string {
				k := e.keys[alg]
				return signRaw(e.tb, k, withMembers(headerJSON(k), `"crit":["exp"]`), claimsJSON(e, nil))
			}},
			strictVector{name: alg + " valid", build: func(e *env) string {
				k := e.keys[alg]
				return signRaw(e.tb, k, headerJSON(k), claimsJSON(e, nil))
			}, ok: true},
		)
	}
	return vs
}

// strictVerifiers are the env's LocalVerifier (full and claims-only) and
// a JWKSVerifier over the env's published keys, issuer and clock.
func strictVerifiers(t *testing.T, e *env) map[string]func(context.Context, string) (*middleware.Principal, error) {
	s := newKeyServer(t, modeUp)
	var pub []*token.Key
	for _, alg := range []string{token.ES256, token.EdDSA, token.RS256} {
		pub = append(pub, e.keys[alg].Key)
	}
	s.publish(t, pub)
	jv := newJWKS(t, s, func(c *middleware.JWKSConfig) {
		c.Issuer, c.JWKSURL, c.Now = testIssuer, s.URL+"/.well-known/jwks.json", e.clk.Now
	})
	return map[string]func(context.Context, string) (*middleware.Principal, error){
		"local": e.v.Verify, "local-jwt": e.v.VerifyJWT, "jwks": jv.Verify,
	}
}

func TestStrictJWTVectors(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{})
	verifiers := strictVerifiers(t, e)
	for _, vec := range strictVectors() {
		t.Run(vec.name, func(t *testing.T) {
			raw := vec.build(e)
			for name, verify := range verifiers {
				p, err := verify(context.Background(), raw)
				switch {
				case vec.ok && err != nil:
					t.Errorf("%s: %v", name, err)
				case vec.ok && vec.check != nil:
					if err := vec.check(p); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				case !vec.ok && err == nil:
					t.Errorf("%s accepted it: %+v", name, p)
				case !vec.ok:
					if p != nil {
						t.Errorf("%s: a rejection returned a principal", name)
					}
					if !errors.Is(err, middleware.ErrInvalidToken) || errors.Is(err, middleware.ErrUnavailable) {
						t.Errorf("%s: error %v: want ErrInvalidToken only", name, err)
					}
				}
			}
		})
	}
}

// The verifier's older vectors (local_test.go) hold for the JWKS verifier
// too, but for what only a store can tell and for HS256, whose keys are
// never published.
func TestJWKSVerifyVectors(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{})
	jwks := strictVerifiers(t, e)["jwks"]
	for _, vec := range vectors() {
		t.Run(vec.name, func(t *testing.T) {
			raw := vec.build(e)
			live := strings.Contains(vec.name, "rotated") || strings.Contains(vec.name, "unknown client") ||
				strings.Contains(vec.name, "unknown account") || strings.Contains(vec.name, "generation") ||
				strings.Contains(vec.name, "no client or account")
			want := (vec.ok || live) && vec.name != "valid/"+token.HS256
			p, err := jwks(context.Background(), raw)
			switch {
			case want && err != nil:
				t.Fatalf("Verify: %v", err)
			case !want && err == nil:
				t.Fatalf("Verify accepted it: %+v", p)
			case !want && (!errors.Is(err, middleware.ErrInvalidToken) || errors.Is(err, middleware.ErrUnavailable)):
				t.Errorf("error %v: want ErrInvalidToken only", err)
			}
		})
	}
}

// A guard answers a header token with a character outside b64token 400,
// whether the verifier refuses it first or never sees it.
func TestGuardLateSyntaxCheck(t *testing.T) {
	e := newEnv(t, middleware.LocalConfig{Opaque: true})
	good := tokentest.Sign(t, e.keys[token.ES256], nil, e.claims())
	g, err := middleware.New(middleware.Config{Verifier: e.v, Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"valid", good, nil},
		{"valid twice (cached)", good, nil},
		{"a valid token with a bad character", good[:30] + "!" + good[31:], middleware.ErrInvalidRequest},
		{"a cached token with a character added", good + "!", middleware.ErrInvalidRequest},
		{"padding then data", good + "=x", middleware.ErrInvalidRequest},
		{"padding after a JWT", good + "==", middleware.ErrInvalidToken},
		{"opaque with a bad character", "pat_abc!def", middleware.ErrInvalidRequest},
		{"opaque unknown", "pat_abcdef", middleware.ErrInvalidToken},
		{"two tokens", good + " " + good, middleware.ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.state.calls()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			_, err := g.Authenticate(r)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, middleware.ErrInvalidRequest) && e.state.calls() != before {
				t.Errorf("a malformed token cost %d store calls", e.state.calls()-before)
			}
		})
	}
}
