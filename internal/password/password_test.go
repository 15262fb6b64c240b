package password_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/portcullis/portcullis/internal/password"
)

// small are parameters that keep tests fast; no protection in production.
var small = password.Params{Memory: 64, Iterations: 1, Parallelism: 1}

// Hashes written by the reference implementation (libargon2 20171227,
// argon2id_hash_encoded) with the salts shown, so that ours are read the way
// every other library reads them. The second is the argon2id vector of the
// reference's own test.c; the last has a memory size that is not a multiple
// of 4·p, which Argon2 rounds down after hashing the given m into H0.
var reference = []struct {
	password, encoded string
}{
	{"correct horse battery staple", "$argon2id$v=19$m=65536,t=3,p=4$MDEyMzQ1Njc4OWFiY2RlZg$77UfmnZYT23WpPeUKhovauWm5OxRQv9nTf1dJ+tF5EY"},
	{"password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	{"pässwörd ✓", "$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$TiFf5aiNOqaaUiQpqv9dUA"},
	{"password", "$argon2id$v=19$m=100,t=2,p=3$c29tZXNhbHRzb21lc2FsdA$gpmTW1R2jxPCE+LZgXm9O8e/YGg9FJBK"},
}

func TestReferenceHashes(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB hashes")
	}
	for i, v := range reference {
		// Only the first has the default parameters (and a 16-byte salt):
		// the others need a rehash.
		ok, rehash, err := password.Verify(v.password, v.encoded, password.Params{})
		if err != nil || !ok || rehash != (i != 0) {
			t.Errorf("Verify(%q, %s) = %v, %v, %v; want a match, rehash %v", v.password, v.encoded, ok, rehash, err, i != 0)
		}
		if strings.Contains(v.encoded, "m=65536") {
			continue // a wrong password costs the same; spare the time
		}
		ok, _, err = password.Verify(v.password+"x", v.encoded, small)
		if err != nil || ok {
			t.Errorf("Verify(wrong password, %s) = %v, %v; want no match", v.encoded, ok, err)
		}
	}
}

// TestKnownAnswer is the one test of Hash and Verify at the default
// parameters, the cost every login pays: Hash writes argon2.IDKey's tag in
// the format the reference writes (its first vector above has the same
// parameters), and Verify reads it back.
func TestKnownAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB hashes")
	}
	enc, err := password.Hash("correct horse battery staple", password.Params{})
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(enc, "$")
	if len(f) != 6 || f[1] != "argon2id" || f[2] != "v=19" || f[3] != "m=65536,t=3,p=4" {
		t.Fatalf("Hash at the defaults = %s, want $argon2id$v=19$m=65536,t=3,p=4$…", enc)
	}
	salt, err := base64.RawStdEncoding.DecodeString(f[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %d bytes, %v; want 16", f[4], len(salt), err)
	}
	want := argon2.IDKey([]byte("correct horse battery staple"), salt, 3, 64*1024, 4, 32)
	if got := base64.RawStdEncoding.EncodeToString(want); f[5] != got {
		t.Errorf("tag %s, want %s", f[5], got)
	}
	ok, rehash, err := password.Verify("correct horse battery staple", enc, password.DefaultParams())
	if !ok || rehash || err != nil {
		t.Errorf("Verify at the defaults = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery staple", "", "ünïcødé ✓ 密码", strings.Repeat("x", password.MaxLength)} {
		enc, err := password.Hash(pw, small)
		if err != nil {
			t.Fatalf("Hash(%d bytes): %v", len(pw), err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("Hash = %s", enc)
		}
		if ok, rehash, err := password.Verify(pw, enc, small); !ok || rehash || err != nil {
			t.Errorf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		if ok, _, err := password.Verify(pw+"!", enc, small); ok || err != nil {
			t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
		}
		if len(pw) > 0 {
			if ok, _, err := password.Verify(pw[:len(pw)-1], enc, small); ok || err != nil {
				t.Errorf("Verify(prefix) = %v, %v; want false, nil", ok, err)
			}
		}
	}
	// A fresh salt each time.
	a, _ := password.Hash("same", small)
	b, _ := password.Hash("same", small)
	if a == b {
		t.Errorf("two hashes of one password are equal: %s", a)
	}
}

func TestTooLong(t *testing.T) {
	long := strings.Repeat("x", password.MaxLength+1)
	if _, err := password.Hash(long, small); !errors.Is(err, password.ErrTooLong) {
		t.Errorf("Hash(%d bytes) = %v, want ErrTooLong", len(long), err)
	}
	// No stored hash can be of it: a plain mismatch, not an error.
	enc, _ := password.Hash("x", small)
	if ok, _, err := password.Verify(long, enc, small); ok || err != nil {
		t.Errorf("Verify(%d bytes) = %v, %v; want false, nil", len(long), ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	enc, err := password.Hash("correct horse battery staple", small)
	if err != nil {
		t.Fatal(err)
	}
	for name, cur := range map[string]password.Params{
		"memory":      {Memory: 128, Iterations: 1, Parallelism: 1},
		"iterations":  {Memory: 64, Iterations: 2, Parallelism: 1},
		"parallelism": {Memory: 64, Iterations: 1, Parallelism: 2},
		"salt":        {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 32},
		"key":         {Memory: 64, Iterations: 1, Parallelism: 1, KeyLength: 16},
		"defaults":    {},
	} {
		ok, rehash, err := password.Verify("correct horse battery staple", enc, cur)
		if !ok || !rehash || err != nil {
			t.Errorf("%s changed: Verify = %v, %v, %v; want true, true, nil", name, ok, rehash, err)
		}
		// A wrong password never asks for a rehash.
		if ok, rehash, err := password.Verify("wrong", enc, cur); ok || rehash || err != nil {
			t.Errorf("%s changed, wrong password: Verify = %v, %v, %v", name, ok, rehash, err)
		}
	}
	// Zero fields are the defaults, explicit or not.
	same := small
	same.SaltLength, same.KeyLength = password.DefaultSaltLength, password.DefaultKeyLength
	if ok, rehash, err := password.Verify("correct horse battery staple", enc, same); !ok || rehash || err != nil {
		t.Errorf("same parameters spelt out: Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestMalformed(t *testing.T) {
	good, err := password.Hash("pw", small)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	salt, tag := f[4], f[5]
	with := func(params, s, k string) string { return "$argon2id$v=19$" + params + "$" + s + "$" + k }
	b64 := func(n int) string { return base64.RawStdEncoding.EncodeToString(make([]byte, n)) }
	cases := map[string]string{
		"empty":               "",
		"bcrypt":              "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":             strings.Replace(good, "argon2id", "argon2i", 1),
		"argon2d":             strings.Replace(good, "argon2id", "argon2d", 1),
		"upper case variant":  strings.Replace(good, "argon2id", "Argon2id", 1),
		"no version":          "$argon2id$m=64,t=1,p=1$" + salt + "$" + tag,
		"version 16":          strings.Replace(good, "v=19", "v=16", 1),
		"version 019":         strings.Replace(good, "v=19", "v=019", 1),
		"no leading dollar":   good[1:],
		"trailing dollar":     good + "$",
		"extra field":         good + "$AAAA",
		"missing tag":         "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"keyid parameter":     with("m=64,t=1,p=1,keyid=abc", salt, tag),
		"data parameter":      with("m=64,t=1,p=1,data=abc", salt, tag),
		"params out of order": with("t=1,m=64,p=1", salt, tag),
		"missing p":           with("m=64,t=1", salt, tag),
		"spaces":              with("m=64, t=1, p=1", salt, tag),
		"leading zero":        with("m=064,t=1,p=1", salt, tag),
		"plus sign":           with("m=+64,t=1,p=1", salt, tag),
		"negative":            with("m=64,t=-1,p=1", salt, tag),
		"hex":                 with("m=0x40,t=1,p=1", salt, tag),
		"empty number":        with("m=,t=1,p=1", salt, tag),
		"huge number":         with("m=99999999999999999999,t=1,p=1", salt, tag),
		"t zero":              with("m=64,t=0,p=1", salt, tag),
		"p zero":              with("m=64,t=1,p=0", salt, tag),
		"m below 8p":          with("m=31,t=1,p=4", salt, tag),
		"m above 2 GiB":       with("m=2097153,t=1,p=1", salt, tag),
		"m 4 GiB":             with("m=4194304,t=1,p=1", salt, tag),
		"t above 32":          with("m=64,t=33,p=1", salt, tag),
		"work above cap":      with("m=2097152,t=3,p=1", salt, tag),
		"p above 64":          with("m=1024,t=1,p=65", salt, tag),
		"p above uint8":       with("m=4096,t=1,p=256", salt, tag),
		"salt 7 bytes":        with("m=64,t=1,p=1", b64(7), tag),
		"salt 65 bytes":       with("m=64,t=1,p=1", b64(65), tag),
		"tag 15 bytes":        with("m=64,t=1,p=1", salt, b64(15)),
		"tag 4 bytes":         with("m=64,t=1,p=1", salt, b64(4)),
		"tag 65 bytes":        with("m=64,t=1,p=1", salt, b64(65)),
		"empty salt":          with("m=64,t=1,p=1", "", tag),
		"padded salt":         with("m=64,t=1,p=1", salt+"==", tag),
		"url-safe base64":     with("m=64,t=1,p=1", salt, strings.Repeat("_", 43)),
		"non-canonical tag":   with("m=64,t=1,p=1", salt, tag[:len(tag)-1]+"B"),
		"newline":             good + "\n",
		"inner newline":       good[:len(good)-4] + "\n" + good[len(good)-4:],
		"carriage return":     good[:len(good)-4] + "\r" + good[len(good)-4:],
		"longer than 256":     with("m=64,t=1,p=1", salt, strings.Repeat("A", 250)),
	}
	for name, enc := range cases {
		ok, rehash, err := password.Verify("pw", enc, small)
		if ok || rehash || !errors.Is(err, password.ErrMalformedHash) {
			t.Errorf("%s: Verify(%q) = %v, %v, %v; want ErrMalformedHash", name, enc, ok, rehash, err)
		}
	}
	// Every proper prefix of a good hash is malformed or, where it cuts
	// the tag to a shorter, canonical tag still within bounds, a mismatch
	// (the tag length is an input of Argon2): never a match.
	for n := range len(good) {
		ok, _, err := password.Verify("pw", good[:n], small)
		short := n < len(good)-len(tag)+22 // tag under 16 bytes
		if ok || (err != nil && !errors.Is(err, password.ErrMalformedHash)) || (short && err == nil) {
			t.Errorf("prefix %q: %v, %v; want malformed, or a mismatch from a 16-byte tag on", good[:n], ok, err)
		}
	}
	// Tampering with any character of the tag or salt makes it a mismatch
	// (or malformed), never a match.
	for i := len(good) - len(tag) - len(salt) - 1; i < len(good); i++ {
		if good[i] == '$' {
			continue
		}
		c := byte('A')
		if good[i] == 'A' {
			c = 'B'
		}
		bad := good[:i] + string(c) + good[i+1:]
		if ok, _, err := password.Verify("pw", bad, small); ok {
			t.Errorf("tampered %s matches (err %v)", bad, err)
		}
	}
}

// TestBoundsAccepted: the edges of the bounds are accepted where cheap to
// compute (the large ones are checked without hashing, through Validate).
func TestBoundsAccepted(t *testing.T) {
	for name, p := range map[string]password.Params{
		"m = 8p":       {Memory: 8, Iterations: 1, Parallelism: 1},
		"p = 64":       {Memory: 512, Iterations: 1, Parallelism: 64},
		"odd memory":   {Memory: 100, Iterations: 2, Parallelism: 3},
		"long salt":    {Memory: 8, Iterations: 1, Parallelism: 1, SaltLength: 64},
		"long tag":     {Memory: 8, Iterations: 1, Parallelism: 1, KeyLength: 64},
		"short tag":    {Memory: 8, Iterations: 1, Parallelism: 1, KeyLength: 16},
		"many passes":  {Memory: 8, Iterations: 32, Parallelism: 1},
		"max salt+tag": {Memory: 2 * 1024 * 1024, Iterations: 2, Parallelism: 64, SaltLength: 64, KeyLength: 64},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate = %v", name, err)
			continue
		}
		if p.Memory > 1024 {
			continue
		}
		enc, err := password.Hash("pw", p)
		if err != nil {
			t.Errorf("%s: Hash = %v", name, err)
			continue
		}
		if ok, rehash, err := password.Verify("pw", enc, p); !ok || rehash || err != nil {
			t.Errorf("%s: Verify(%s) = %v, %v, %v", name, enc, ok, rehash, err)
		}
	}
	// The RFC's first recommended option is within bounds.
	if err := (password.Params{Memory: 2 * 1024 * 1024, Iterations: 1, Parallelism: 4}).Validate(); err != nil {
		t.Errorf("RFC 9106 first option: %v", err)
	}
}

func TestInvalidParams(t *testing.T) {
	for name, p := range map[string]password.Params{
		"m below 8p":    {Memory: 31, Parallelism: 4},
		"m above 2 GiB": {Memory: 2*1024*1024 + 1, Iterations: 1},
		"t above 32":    {Memory: 64, Iterations: 33},
		"work":          {Memory: 1024 * 1024, Iterations: 5},
		"p above 64":    {Memory: 1024, Parallelism: 65},
		"salt 8":        {SaltLength: 8},
		"salt 65":       {SaltLength: 65},
		"tag 8":         {KeyLength: 8},
		"tag 65":        {KeyLength: 65},
	} {
		if err := p.Validate(); !errors.Is(err, password.ErrInvalidParams) {
			t.Errorf("%s: Validate = %v, want ErrInvalidParams", name, err)
		}
		if _, err := password.Hash("pw", p); !errors.Is(err, password.ErrInvalidParams) {
			t.Errorf("%s: Hash = %v, want ErrInvalidParams", name, err)
		}
		if _, err := password.NewHasher(p); !errors.Is(err, password.ErrInvalidParams) {
			t.Errorf("%s: NewHasher = %v, want ErrInvalidParams", name, err)
		}
		if _, _, err := password.Verify("pw", reference[2].encoded, p); !errors.Is(err, password.ErrInvalidParams) {
			t.Errorf("%s: Verify = %v, want ErrInvalidParams", name, err)
		}
	}
	if got, want := password.DefaultParams(), (password.Params{Memory: 65536, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 32}); got != want {
		t.Errorf("DefaultParams() = %+v, want %+v", got, want)
	}
}

func TestHasher(t *testing.T) {
	h, err := password.NewHasher(small)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Params(); got != small.WithDefaults() {
		t.Errorf("Params() = %+v", got)
	}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := h.Verify("correct horse battery staple", enc); !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
	h.Dummy("correct horse battery staple") // must not panic, returns nothing
	other, _ := password.NewHasher(password.Params{Memory: 128, Iterations: 1, Parallelism: 1})
	if ok, rehash, err := other.Verify("correct horse battery staple", enc); !ok || !rehash || err != nil {
		t.Errorf("Verify with other params = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestCheckPolicy(t *testing.T) {
	for _, c := range []struct {
		pw   string
		min  int
		want error
	}{
		{"", 0, password.ErrTooShort},
		{"", 1, password.ErrTooShort},
		{"elevenchars", 0, password.ErrTooShort},
		{"twelve chars", 0, nil},
		{"twelve chars", -3, nil},
		{"twelve chars", 13, password.ErrTooShort},
		{"ab", 2, nil},
		// Twelve characters, 24 bytes: counted as characters.
		{"éééééééééééé", 0, nil},
		{"ééééééééééé", 0, password.ErrTooShort},
		{"密码密码密码密码密码密码", 12, nil},
		{strings.Repeat("x", password.MaxLength), 0, nil},
		{strings.Repeat("x", password.MaxLength+1), 0, password.ErrTooLong},
		// 342 three-byte characters: 1026 bytes, too long however few characters.
		{strings.Repeat("密", 342), 0, password.ErrTooLong},
		{strings.Repeat("x", 2000), 5000, password.ErrTooLong},
	} {
		err := password.CheckPolicy(c.pw, c.min)
		if (c.want == nil && err != nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("CheckPolicy(%.20q (%d bytes), %d) = %v, want %v", c.pw, len(c.pw), c.min, err, c.want)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := password.Hash("correct horse battery staple", password.Params{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	enc, err := password.Hash("correct horse battery staple", password.Params{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := password.Verify("correct horse battery staple", enc, password.Params{}); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// Example hashes a new password after checking the policy, then verifies a
// login and rehashes when the parameters have changed since.
func Example() {
	// Small parameters keep the example fast; use the defaults
	// (password.Params{}) or stronger in production.
	params := password.Params{Memory: 64, Iterations: 1, Parallelism: 1}

	pw := "correct horse battery staple"
	if err := password.CheckPolicy(pw, 0); err != nil {
		fmt.Println(err)
		return
	}
	stored, err := password.Hash(pw, params)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(stored[:len("$argon2id$v=19$m=64,t=1,p=1$")])

	// Later, with stronger parameters configured.
	params.Iterations = 2
	ok, needsRehash, err := password.Verify(pw, stored, params)
	fmt.Println(ok, needsRehash, err)
	if ok && needsRehash {
		// Store the new hash; the password itself is unchanged, so
		// nothing else about the account should change.
		stored, _ = password.Hash(pw, params)
	}

	fmt.Println(password.CheckPolicy("short", 0))
	// Output:
	// $argon2id$v=19$m=64,t=1,p=1$
	// true true <nil>
	// password: too short: fewer than 12 characters
}
