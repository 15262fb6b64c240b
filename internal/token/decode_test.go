package token_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/token"
)

// claimVectors are claims sets with what DecodeClaims makes of them: the
// claims, or an error.
var claimVectors = []struct {
	name    string
	payload string
	want    *token.AccessClaims // nil: refused
}{
	{"empty object", `{}`, &token.AccessClaims{}},
	{"every claim", `{"iss":"https://i.test","sub":"c1","aud":["https://i.test","x"],"exp":1900000000,"nbf":1800000000,"iat":1800000001,"jti":"j1","client_id":"c1","scope":"read write","kind":"client","account_id":"a1","gen":7,"fam":"f1"}`,
		&token.AccessClaims{Issuer: "https://i.test", Subject: "c1", Audience: []string{"https://i.test", "x"}, ExpiresAt: 1900000000, NotBefore: 1800000000,
			IssuedAt: 1800000001, ID: "j1", ClientID: "c1", Scope: "read write", Kind: "client", AccountID: "a1", Generation: 7, Family: "f1", Has: 1<<13 - 1}},
	{"whitespace everywhere", " \t\r\n{ \"sub\" :\n\"c1\" , \"aud\" : [ \"a\" , \"b\" ] }\n ",
		&token.AccessClaims{Subject: "c1", Audience: []string{"a", "b"}, Has: token.HasSubject | token.HasAudience}},

	// Names are case-exact: another case is another, unknown, claim.
	{"EXP is not exp", `{"EXP":1}`, &token.AccessClaims{}},
	{"Scope is not scope", `{"Scope":"admin","scope":"read"}`, &token.AccessClaims{Scope: "read", Has: token.HasScope}},
	{"KIND is not kind", `{"KIND":"account","kind":"client"}`, &token.AccessClaims{Kind: "client", Has: token.HasKind}},
	{"Kind alone", `{"Kind":"account"}`, &token.AccessClaims{}},
	{"FAM is not fam", `{"FAM":"stolen","Fam":"x","fam":"f1"}`, &token.AccessClaims{Family: "f1", Has: token.HasFamily}},
	{"Fam alone", `{"Fam":"f1"}`, &token.AccessClaims{}},
	{"duplicate fam", `{"fam":"f1","fam":"f2"}`, nil},
	{"fam a number", `{"fam":1}`, nil},
	{"fam null", `{"fam":null}`, nil},
	{"Aud, Sub, Iss, Gen", `{"Aud":"x","Sub":"y","Iss":"z","Gen":"w"}`, &token.AccessClaims{}},
	{"escaped name is the claim", `{"\u0065xp":5}`, &token.AccessClaims{ExpiresAt: 5, Has: token.HasExpiresAt}},
	{"name with a trailing space", `{"exp ":"x"}`, &token.AccessClaims{}},
	{"name in full width", `{"ｅｘｐ":"x"}`, &token.AccessClaims{}},
	{"kelvin sign k (folds to k in encoding/json)", "{\"\u212aind\":\"account\"}", &token.AccessClaims{}},

	// Duplicates.
	{"duplicate exp", `{"exp":1,"exp":2}`, nil},
	{"duplicate scope", `{"scope":"read","scope":"admin"}`, nil},
	{"duplicate by escape", `{"kind":"client","\u006bind":"account"}`, nil},
	{"duplicate aud", `{"aud":"a","aud":["b"]}`, nil},
	{"duplicate unknown", `{"x":1,"x":2}`, nil},
	{"duplicate unknown past eight", `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"i":2}`, nil},
	{"duplicate of the first unknown past eight", `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"a":2}`, nil},
	{"many distinct unknowns", `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"k":1,"sub":"s"}`, &token.AccessClaims{Subject: "s", Has: token.HasSubject}},
	{"case variants are not duplicates", `{"exp":1,"Exp":2,"EXP":3}`, &token.AccessClaims{ExpiresAt: 1, Has: token.HasExpiresAt}},

	// Times: JSON numbers from 0 to the end of year 9999.
	{"exp a numeric string", `{"exp":"1900000000"}`, nil},
	{"nbf a numeric string", `{"nbf":"0"}`, nil},
	{"iat a numeric string", `{"iat":"1"}`, nil},
	{"exp null", `{"exp":null}`, nil},
	{"exp true", `{"exp":true}`, nil},
	{"exp an array", `{"exp":[1]}`, nil},
	{"exp an object", `{"exp":{}}`, nil},
	{"exp 0", `{"exp":0}`, &token.AccessClaims{Has: token.HasExpiresAt}},
	{"exp -1", `{"exp":-1}`, nil},
	{"exp -0", `{"exp":-0}`, nil},
	{"nbf -1e300", `{"nbf":-1e300}`, nil},
	{"iat -1e300", `{"iat":-1e300}`, nil},
	{"exp 1e300", `{"exp":1e300}`, nil},
	{"nbf 1e300", `{"nbf":1e300}`, nil},
	{"exp 2^63", `{"exp":9223372036854775808}`, nil},
	{"exp 2^53", `{"exp":9007199254740992}`, nil},
	{"exp twenty digits", `{"exp":12345678901234567890}`, nil},
	{"exp the last second of 9999", `{"exp":253402300799}`, &token.AccessClaims{ExpiresAt: token.MaxNumericDate, Has: token.HasExpiresAt}},
	{"exp the first second of 10000", `{"exp":253402300800}`, nil},
	{"exp fractional past 9999", `{"exp":253402300799.5}`, &token.AccessClaims{ExpiresAt: token.MaxNumericDate, Has: token.HasExpiresAt}},
	{"exp 253402300800.0", `{"exp":253402300800.0}`, nil},
	{"exp fractional (RFC 7519 allows it)", `{"exp":1900000000.75}`, &token.AccessClaims{ExpiresAt: 1900000000, Has: token.HasExpiresAt}},
	{"exp with an exponent", `{"exp":1.9e9}`, &token.AccessClaims{ExpiresAt: 1900000000, Has: token.HasExpiresAt}},
	{"exp a tiny negative", `{"exp":-1e-300}`, nil},
	{"exp a leading zero", `{"exp":01}`, nil},
	{"exp a leading plus", `{"exp":+1}`, nil},
	{"exp a bare point", `{"exp":1.}`, nil},
	{"exp a bare exponent", `{"exp":1e}`, nil},
	{"exp NaN", `{"exp":NaN}`, nil},
	{"exp Infinity", `{"exp":Infinity}`, nil},
	{"exp hex", `{"exp":0x10}`, nil},

	// gen: an integer.
	{"gen 0", `{"gen":0}`, &token.AccessClaims{Has: token.HasGeneration}},
	{"gen max int64", `{"gen":9223372036854775807}`, &token.AccessClaims{Generation: math.MaxInt64, Has: token.HasGeneration}},
	{"gen past int64", `{"gen":9223372036854775808}`, nil},
	{"gen min int64", `{"gen":-9223372036854775808}`, &token.AccessClaims{Generation: math.MinInt64, Has: token.HasGeneration}},
	{"gen fractional", `{"gen":1.5}`, nil},
	{"gen 1.0", `{"gen":1.0}`, nil},
	{"gen 1e0", `{"gen":1e0}`, nil},
	{"gen a string", `{"gen":"1"}`, nil},
	{"gen null", `{"gen":null}`, nil},
	{"gen 1e300", `{"gen":1e300}`, nil},

	// aud: a string or an array of strings.
	{"aud a string", `{"aud":"a"}`, &token.AccessClaims{Audience: []string{"a"}, Has: token.HasAudience}},
	{"aud an empty string", `{"aud":""}`, &token.AccessClaims{Audience: []string{""}, Has: token.HasAudience}},
	{"aud an empty array", `{"aud":[]}`, &token.AccessClaims{Has: token.HasAudience}},
	{"aud an array", `{"aud":["a","b","c"]}`, &token.AccessClaims{Audience: []string{"a", "b", "c"}, Has: token.HasAudience}},
	{"aud null", `{"aud":null}`, nil},
	{"aud a number", `{"aud":1}`, nil},
	{"aud an object", `{"aud":{"a":"b"}}`, nil},
	{"aud an array with a number", `{"aud":["a",1]}`, nil},
	{"aud an array with null", `{"aud":["a",null]}`, nil},
	{"aud an array of arrays", `{"aud":[["a"]]}`, nil},
	{"aud an array with a trailing comma", `{"aud":["a",]}`, nil},
	{"aud an unclosed array", `{"aud":["a"`, nil},

	// cnf: an object whose jkt (RFC 9449 §6.1) is kept; without jkt it
	// binds to something no verifier here checks, and is refused.
	{"cnf jkt", `{"cnf":{"jkt":"abc"}}`, &token.AccessClaims{Confirmation: "abc", Has: token.HasConfirmation}},
	{"cnf jkt and another member", `{"cnf":{"x5t#S256":"z","jkt":"abc","k":[1,{}]}}`, &token.AccessClaims{Confirmation: "abc", Has: token.HasConfirmation}},
	{"cnf without jkt", `{"cnf":{"x5t#S256":"z"}}`, nil},
	{"cnf empty", `{"cnf":{}}`, nil},
	{"cnf jkt empty", `{"cnf":{"jkt":""}}`, nil},
	{"cnf jkt twice", `{"cnf":{"jkt":"a","jkt":"b"}}`, nil},
	{"cnf jkt a number", `{"cnf":{"jkt":1}}`, nil},
	{"cnf a string", `{"cnf":"abc"}`, nil},
	{"cnf twice", `{"cnf":{"jkt":"a"},"cnf":{"jkt":"a"}}`, nil},
	{"Cnf is another claim", `{"Cnf":{"jkt":"a"}}`, &token.AccessClaims{}},
	{"cnf unclosed", `{"cnf":{"jkt":"a"`, nil},

	// Other string claims.
	{"sub a number", `{"sub":1}`, nil},
	{"kind null", `{"kind":null}`, nil},
	{"scope an array", `{"scope":["read"]}`, nil},
	{"client_id an object", `{"client_id":{}}`, nil},
	{"escapes", `{"sub":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, &token.AccessClaims{Subject: "a\"b\\c/d\b\f\n\r\té😀", Has: token.HasSubject}},
	{"raw UTF-8", `{"sub":"é😀"}`, &token.AccessClaims{Subject: "é😀", Has: token.HasSubject}},
	{"invalid UTF-8", "{\"sub\":\"\xff\"}", nil},
	{"invalid UTF-8 in an unknown claim", "{\"x\":\"\xc3\"}", nil},
	{"invalid UTF-8 in a name", "{\"\xff\":1}", nil},
	{"lone high surrogate", `{"sub":"\ud83d"}`, nil},
	{"lone low surrogate", `{"sub":"\ude00"}`, nil},
	{"high surrogate then a letter", `{"sub":"\ud83dx"}`, nil},
	{"bad escape", `{"sub":"\x41"}`, nil},
	{"short unicode escape", `{"sub":"\u12"}`, nil},
	{"control character", "{\"sub\":\"a\tb\"}", nil},
	{"unterminated string", `{"sub":"abc`, nil},

	// Unknown claims are skipped, whatever their (valid JSON) shape.
	{"unknown claims of every type", `{"a":"s","b":-1.5e-3,"c":true,"d":false,"e":null,"f":[1,[2,{"g":{}}],[]],"h":{"i":{"j":[]}},"sub":"s"}`,
		&token.AccessClaims{Subject: "s", Has: token.HasSubject}},
	{"unknown claim nested 32 deep", `{"x":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`, &token.AccessClaims{}},
	{"unknown claim nested 33 deep", `{"x":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`, nil},
	{"unknown claim a bad literal", `{"x":tru}`, nil},
	{"unknown claim a bad number", `{"x":1.e5}`, nil},
	{"unknown object without a value", `{"x":{"a"}}`, nil},
	{"unknown object with a number name", `{"x":{1:2}}`, nil},

	// Not a claims set.
	{"empty", ``, nil},
	{"whitespace", ` `, nil},
	{"null", `null`, nil},
	{"an array", `[]`, nil},
	{"a string", `"x"`, nil},
	{"trailing data", `{}x`, nil},
	{"two objects", `{}{}`, nil},
	{"trailing comma", `{"sub":"s",}`, nil},
	{"missing colon", `{"sub" "s"}`, nil},
	{"missing comma", `{"sub":"s" "iss":"i"}`, nil},
	{"unquoted name", `{sub:"s"}`, nil},
	{"single quotes", `{'sub':'s'}`, nil},
	{"unclosed", `{"sub":"s"`, nil},
	{"comment", `{/**/"sub":"s"}`, nil},
	{"NUL after", "{}\x00", nil},
	{"BOM before", "\ufeff{}", nil},
}

func TestDecodeClaims(t *testing.T) {
	for _, v := range claimVectors {
		t.Run(v.name, func(t *testing.T) {
			var c token.AccessClaims
			err := token.DecodeClaims(v.payload, &c)
			if v.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", c)
				}
				if !errors.Is(err, token.ErrMalformedClaims) {
					t.Errorf("err = %v, want ErrMalformedClaims", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&c, v.want) && !(len(c.Audience) == 0 && len(v.want.Audience) == 0 && equalBut(c, *v.want)) {
				t.Errorf("got  %+v\nwant %+v", c, *v.want)
			}
			// Whatever is accepted is JSON that encoding/json reads alike.
			checkAgainstEncodingJSON(t, v.payload, &c)
		})
	}
}

func equalBut(a, b token.AccessClaims) bool {
	a.Audience, b.Audience = nil, nil
	return reflect.DeepEqual(a, b)
}

// checkAgainstEncodingJSON checks claims that DecodeClaims accepted
// against what encoding/json reads from the same payload, by exact name.
func checkAgainstEncodingJSON(t *testing.T, payload string, c *token.AccessClaims) {
	t.Helper()
	if !json.Valid([]byte(payload)) {
		t.Fatalf("accepted invalid JSON %q", payload)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		t.Fatalf("accepted %q, which encoding/json reads as %v", payload, err)
	}
	strs := map[string]struct {
		bit uint16
		v   string
	}{
		"iss": {token.HasIssuer, c.Issuer}, "sub": {token.HasSubject, c.Subject}, "jti": {token.HasID, c.ID},
		"client_id": {token.HasClientID, c.ClientID}, "scope": {token.HasScope, c.Scope}, "kind": {token.HasKind, c.Kind},
		"account_id": {token.HasAccountID, c.AccountID}, "fam": {token.HasFamily, c.Family},
	}
	for name, s := range strs {
		raw, ok := m[name]
		if ok != (c.Has&s.bit != 0) {
			t.Fatalf("%s present %v to encoding/json, %v to DecodeClaims", name, ok, c.Has&s.bit != 0)
		}
		var v string
		if ok && (json.Unmarshal(raw, &v) != nil || v != s.v) {
			t.Fatalf("%s = %q to DecodeClaims, %s to encoding/json", name, s.v, raw)
		}
	}
	times := map[string]struct {
		bit uint16
		v   int64
	}{"exp": {token.HasExpiresAt, c.ExpiresAt}, "nbf": {token.HasNotBefore, c.NotBefore}, "iat": {token.HasIssuedAt, c.IssuedAt}}
	for name, s := range times {
		raw, ok := m[name]
		if ok != (c.Has&s.bit != 0) {
			t.Fatalf("%s present %v to encoding/json, %v to DecodeClaims", name, ok, c.Has&s.bit != 0)
		}
		var f float64
		if ok && (json.Unmarshal(raw, &f) != nil || int64(f) != s.v || f < 0 || f >= token.MaxNumericDate+1) {
			t.Fatalf("%s = %d to DecodeClaims, %s to encoding/json", name, s.v, raw)
		}
	}
	if raw, ok := m["gen"]; ok != (c.Has&token.HasGeneration != 0) {
		t.Fatalf("gen present %v to encoding/json, %v to DecodeClaims", ok, !ok)
	} else if var_, err := genOf(raw); ok && (err != nil || var_ != c.Generation) {
		t.Fatalf("gen = %d to DecodeClaims, %s to encoding/json", c.Generation, raw)
	}
	if raw, ok := m["aud"]; ok != (c.Has&token.HasAudience != 0) {
		t.Fatalf("aud present %v to encoding/json, %v to DecodeClaims", ok, !ok)
	} else if ok {
		var aud jwt.ClaimStrings
		if err := json.Unmarshal(raw, &aud); err != nil || !slices.Equal(aud, c.Audience) {
			t.Fatalf("aud = %q to DecodeClaims, %s to encoding/json", c.Audience, raw)
		}
	}
}

func genOf(raw json.RawMessage) (int64, error) {
	var g int64
	err := json.Unmarshal(raw, &g)
	return g, err
}

// The issuer mints with encoding/json (token.Claims): every claims set it
// can write decodes to the same values, whatever the strings hold.
func TestDecodeClaimsReadsWhatTheIssuerWrites(t *testing.T) {
	now := time.Unix(1900000000, 0)
	for _, s := range []string{"", "plain", "<html>&'\"\\", "é😀\u2028\u2029", "\x01\x1f", "a b\tc"} {
		c := &token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "https://i.test/" + s, Subject: s, Audience: jwt.ClaimStrings{s, "x"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ID: s,
			},
			ClientID: s, Scope: s, Kind: s, AccountID: s, Generation: 3, Family: s,
			Confirmation: &token.Confirmation{JKT: "k" + s},
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var got token.AccessClaims
		if err := token.DecodeClaims(string(b), &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got.Issuer != c.Issuer || got.Subject != s || got.ID != s || got.ClientID != s || got.Scope != s || got.Kind != s ||
			got.AccountID != s || got.Family != s || got.Generation != 3 || got.Confirmation != "k"+s || !slices.Equal(got.Audience, []string{s, "x"}) ||
			got.ExpiresAt != now.Add(time.Hour).Unix() || got.NotBefore != now.Unix() || got.IssuedAt != now.Unix() {
			t.Errorf("%s decoded as %+v", b, got)
		}
	}
}

// Decoding into an Audience with room allocates nothing when no string
// has escapes.
func TestDecodeClaimsAllocations(t *testing.T) {
	payload := `{"iss":"https://i.test","sub":"c1","aud":["https://i.test"],"exp":1900000000,"nbf":1800000000,"iat":1800000001,"jti":"j1","client_id":"c1","scope":"read write","kind":"client","gen":7,"x":{"y":[1,2]}}`
	var room [2]string
	allocs := testing.AllocsPerRun(100, func() {
		c := token.AccessClaims{Audience: room[:0]}
		if err := token.DecodeClaims(payload, &c); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

var headerVectors = []struct {
	name   string
	header string
	want   *token.Header
}{
	{"ours", `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, &token.Header{Alg: "ES256", Kid: "k1", Typ: "at+jwt"}},
	{"others skipped", `{"alg":"ES256","jku":"https://evil.test","x5u":"u","jwk":{"kty":"EC"},"cty":"x","x5c":["a"]}`, &token.Header{Alg: "ES256"}},
	{"crit", `{"alg":"ES256","crit":["exp"],"exp":1}`, nil},
	{"crit empty", `{"alg":"ES256","crit":[]}`, nil},
	{"crit null", `{"alg":"ES256","crit":null}`, nil},
	{"crit escaped", `{"alg":"ES256","\u0063rit":["x"]}`, nil},
	{"b64 false", `{"alg":"ES256","b64":false,"crit":["b64"]}`, nil},
	{"b64 false without crit", `{"alg":"ES256","b64":false}`, nil},
	{"b64 true", `{"alg":"ES256","b64":true}`, nil},
	{"Crit is another parameter", `{"alg":"ES256","Crit":["x"],"B64":false}`, &token.Header{Alg: "ES256"}},
	{"ALG is not alg", `{"ALG":"none","alg":"ES256"}`, &token.Header{Alg: "ES256"}},
	{"duplicate alg", `{"alg":"ES256","alg":"none"}`, nil},
	{"duplicate kid", `{"kid":"a","kid":"b"}`, nil},
	{"duplicate unknown", `{"x":1,"x":1}`, nil},
	{"alg a number", `{"alg":1}`, nil},
	{"kid a number", `{"kid":1}`, nil},
	{"typ null", `{"typ":null}`, nil},
	{"not an object", `"ES256"`, nil},
	{"trailing data", `{"alg":"ES256"}.`, nil},
}

func TestDecodeHeader(t *testing.T) {
	for _, v := range headerVectors {
		t.Run(v.name, func(t *testing.T) {
			var h token.Header
			err := token.DecodeHeader(v.header, &h)
			if v.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", h)
				}
				if !errors.Is(err, token.ErrMalformedHeader) {
					t.Errorf("err = %v, want ErrMalformedHeader", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != *v.want {
				t.Errorf("got %+v, want %+v", h, *v.want)
			}
		})
	}
}

func TestAppendScope(t *testing.T) {
	for _, s := range []string{"", " ", "read", "read write", "  read\twrite\nread  admin ", "a\u00a0b c", "é è é", "read\u2003write read", "\x85x"} {
		want := token.ParseScope(s)
		got := token.AppendScope(nil, s)
		if !slices.Equal(got, want) {
			t.Errorf("AppendScope(%q) = %q, ParseScope = %q", s, got, want)
		}
		pre := token.AppendScope([]string{"keep"}, s)
		if !slices.Equal(pre, append([]string{"keep"}, want...)) {
			t.Errorf("AppendScope after keep = %q", pre)
		}
	}
}

func FuzzDecodeClaims(f *testing.F) {
	for _, v := range claimVectors {
		f.Add(v.payload)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var c token.AccessClaims
		if err := token.DecodeClaims(payload, &c); err != nil {
			if !errors.Is(err, token.ErrMalformedClaims) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		checkAgainstEncodingJSON(t, payload, &c)
		// No duplicate names: encoding/json's map has one per member.
		if n := topLevelMembers(t, payload); n != countMembers(t, payload) {
			t.Fatalf("accepted %q with duplicate names", payload)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, v := range headerVectors {
		f.Add(v.header)
	}
	f.Fuzz(func(t *testing.T, header string) {
		var h token.Header
		if err := token.DecodeHeader(header, &h); err != nil {
			if !errors.Is(err, token.ErrMalformedHeader) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(header), &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json reads as %v", header, err)
		}
		if _, ok := m["crit"]; ok {
			t.Fatalf("accepted crit in %q", header)
		}
		if _, ok := m["b64"]; ok {
			t.Fatalf("accepted b64 in %q", header)
		}
		for name, v := range map[string]string{"alg": h.Alg, "kid": h.Kid, "typ": h.Typ} {
			if got, _ := m[name].(string); got != v {
				t.Fatalf("%s = %q, encoding/json reads %v", name, v, m[name])
			}
		}
		if n := topLevelMembers(t, header); n != countMembers(t, header) {
			t.Fatalf("accepted %q with duplicate names", header)
		}
	})
}

// topLevelMembers counts the distinct names of a JSON object.
func topLevelMembers(t *testing.T, s string) int {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// countMembers counts the members of a JSON object, duplicates included.
func countMembers(t *testing.T, s string) int {
	dec := json.NewDecoder(strings.NewReader(s))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil { // the name
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func ExampleDecodeClaims() {
	var c token.AccessClaims
	err := token.DecodeClaims(`{"sub":"c1","EXP":"soon","exp":1900000000}`, &c)
	fmt.Println(c.Subject, c.ExpiresAt, err)
	err = token.DecodeClaims(`{"sub":"c1","exp":"1900000000"}`, &c)
	fmt.Println(err)
	// Output:
	// c1 1900000000 <nil>
	// token: malformed claims: claim of the wrong type at offset 18
}
