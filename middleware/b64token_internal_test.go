package middleware

import (
	"regexp"
	"strings"
	"testing"
)

// b64token's unrolled scan agrees with RFC 6750's grammar, wherever the
// odd byte falls relative to its eight-byte steps.
func TestB64TokenGrammar(t *testing.T) {
	grammar := regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)
	check := func(s string) {
		if got, want := b64token(s), grammar.MatchString(s); got != want {
			t.Fatalf("b64token(%q) = %v, want %v", s, got, want)
		}
	}
	for n := 0; n <= 20; n++ {
		base := strings.Repeat("a", n)
		check(base)
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				check(base[:i] + string([]byte{byte(c)}) + base[i+1:])
			}
			check(base[:i] + "=" + base[i+1:] + "=")
			check(base[:i] + strings.Repeat("=", n-i))
		}
	}
}

func FuzzB64Token(f *testing.F) {
	grammar := regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.sig==")
	f.Add("abc def")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := b64token(s), grammar.MatchString(s); got != want {
			t.Fatalf("b64token(%q) = %v, want %v", s, got, want)
		}
	})
}
