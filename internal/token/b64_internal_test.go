package token

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// TestAppendB64 holds appendB64 to encoding/base64's unpadded base64url,
// for every length up to a few groups and for random contents, after a
// prefix that it must keep.
func TestAppendB64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		for range 20 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			got := string(appendB64([]byte("hdr."), src))
			if want := "hdr." + base64.RawURLEncoding.EncodeToString(src); got != want {
				t.Fatalf("appendB64(%x) = %q, want %q", src, got, want)
			}
		}
	}
	all := make([]byte, 3<<12) // every 12-bit value, in both halves of a group
	for v := range 1 << 12 {
		all[3*v], all[3*v+1], all[3*v+2] = byte(v>>4), byte(v<<4|v>>8), byte(v)
	}
	if got, want := string(appendB64(nil, all)), base64.RawURLEncoding.EncodeToString(all); got != want {
		t.Fatal("appendB64 differs from encoding/base64 over every 12-bit value")
	}
}

func BenchmarkAppendB64(b *testing.B) {
	src := make([]byte, 330)
	buf := make([]byte, 0, 1024)
	b.Run("pairs", func(b *testing.B) {
		for b.Loop() {
			buf = appendB64(buf[:0], src)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			buf = base64.RawURLEncoding.AppendEncode(buf[:0], src)
		}
	})
}
