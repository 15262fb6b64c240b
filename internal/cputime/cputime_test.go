package cputime_test

import (
	"crypto/sha256"
	"runtime"
	"testing"

	"github.com/portcullis/portcullis/internal/cputime"
)

// TestSinceCountsWork checks that hashing for a while shows up as CPU
// time on a platform that can tell, and never as a negative figure.
func TestSinceCountsWork(t *testing.T) {
	m := cputime.Start()
	sum := sha256.Sum256(nil)
	for range 200_000 {
		sum = sha256.Sum256(sum[:])
	}
	runtime.KeepAlive(sum)
	d, ok := m.Since()
	if !ok {
		if runtime.GOOS == "linux" {
			t.Fatal("no CPU time on linux")
		}
		t.Skip("no getrusage on " + runtime.GOOS)
	}
	if d <= 0 {
		t.Fatalf("200 000 SHA-256 blocks used %v of CPU", d)
	}
}

func BenchmarkReport(b *testing.B) {
	m := cputime.Start()
	var sum [32]byte
	for b.Loop() {
		sum = sha256.Sum256(sum[:])
	}
	m.Report(b)
}
