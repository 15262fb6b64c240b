//go:build race

package ginauth_test

// raceDetector reports whether the tests run under -race, where sync.Pool
// drops a random share of what is put back: gin's pooled contexts then
// allocate now and then, and allocation counts stop being comparable.
const raceDetector = true
