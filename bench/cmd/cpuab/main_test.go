package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
)

// TestOrder checks that two setups alternate as AB BA BA AB and that three
// take every order once in six rounds.
func TestOrder(t *testing.T) {
	var two []string
	for r := range 4 {
		two = append(two, fmt.Sprint(order(2, r)))
	}
	if want := []string{"[0 1]", "[1 0]", "[1 0]", "[0 1]"}; !slices.Equal(two, want) {
		t.Errorf("two setups: %v, want %v", two, want)
	}
	seen := map[string]bool{}
	for r := range 6 {
		seen[fmt.Sprint(order(3, r))] = true
	}
	if len(seen) != 6 {
		t.Errorf("three setups: %d distinct orders in six rounds, want 6", len(seen))
	}
}

// TestReadCPU checks that both sources see this process's work.
func TestReadCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	pid := os.Getpid()
	for name, read := range map[string]func(int) (snapshot, error){"schedstat": readSchedstat, "stat": readStat} {
		before, err := read(pid)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.Sum256(nil)
		for range 300_000 {
			sum = sha256.Sum256(sum[:])
		}
		runtime.KeepAlive(sum)
		after, err := read(pid)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d, _ := after.since(before); d <= 0 {
			t.Errorf("%s: 300 000 SHA-256 blocks took %v of CPU", name, d)
		}
	}
}
