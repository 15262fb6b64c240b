//go:build race

package middleware_test

// raceDetector reports whether the tests run under -race, where allocation
// counts are not those of a normal build.
const raceDetector = true
