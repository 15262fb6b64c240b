// Package cputime reports a benchmark's CPU time per operation, so that
// the ratios between benchmarks can be read on a machine shared with other
// work, where wall time (ns/op) moves with the load and CPU time does not.
//
//	m := cputime.Start()
//	for b.Loop() { … }
//	m.Report(b) // adds "cpu-ns/op"
//
// The figure is the process's user plus system time (getrusage
// RUSAGE_SELF: every thread, so the garbage collector and the other
// goroutines of a RunParallel benchmark are counted) between Start and
// Report, divided by b.N. On a platform without getrusage no metric is
// reported.
package cputime

import (
	"testing"
	"time"
)

// Unit is the name of the metric that Report adds.
const Unit = "cpu-ns/op"

// Meter is the process's CPU time at a point of a benchmark.
type Meter struct {
	start time.Duration
	ok    bool
}

// Start reads the process's CPU time.
func Start() Meter {
	t, ok := used()
	return Meter{start: t, ok: ok}
}

// Since returns the CPU time the process used since m was started; ok is
// false when the platform cannot tell.
func (m Meter) Since() (d time.Duration, ok bool) {
	t, ok := used()
	if !ok || !m.ok {
		return 0, false
	}
	return t - m.start, true
}

// Report adds the CPU time per operation since m was started to b's
// results as "cpu-ns/op". Call it right after the timed loop, in the
// function that ran it (b.N is then the loop's count).
func (m Meter) Report(b *testing.B) {
	d, ok := m.Since()
	if !ok || b.N <= 0 {
		return
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), Unit)
}
