//go:build !race

package ginauth_test

const raceDetector = false
