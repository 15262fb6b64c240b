package main

import (
	"fmt"
	"slices"
	"strings"
)

// summarize prints, for one framework, each setup's median cpu-ns/req and
// the within-round ratios plain ÷ guarded (and plain ÷ spin).
func summarize(cfg config, fw string, setups []string, cpu map[string][]float64) {
	fmt.Printf("== %s: server CPU per request, %d rounds × %d requests (median, min–max over rounds)\n", fw, cfg.r, cfg.n)
	plain := median(cpu["plain"])
	for _, setup := range setups {
		xs := cpu[setup]
		m := median(xs)
		extra := ""
		if setup != "plain" {
			extra = fmt.Sprintf("  %+6.0f ns", m-plain)
		}
		fmt.Printf("   %-8s cpu-ns/req %7.0f  (%.0f–%.0f)%s\n", setup, m, slices.Min(xs), slices.Max(xs), extra)
	}
	for _, setup := range setups[1:] {
		var rs []string
		var ratios []float64
		for i, p := range cpu["plain"] {
			r := p / cpu[setup][i]
			ratios = append(ratios, r)
			rs = append(rs, fmt.Sprintf("%.3f", r))
		}
		fmt.Printf("   plain ÷ %-8s %.3f  (%.3f–%.3f)  rounds: %s\n", setup, median(ratios), slices.Min(ratios), slices.Max(ratios), strings.Join(rs, " "))
		if setup == "spin" {
			spin := float64(cfg.spin.Nanoseconds())
			fmt.Printf("   expected of the spin control, plain ÷ (plain + %v): %.3f; measured spin cost %.0f ns (median of per-round differences)\n",
				cfg.spin, plain/(plain+spin), median(diffs(cpu["spin"], cpu["plain"])))
		}
	}
}

func diffs(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
