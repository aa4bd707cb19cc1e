// Package stattest judges rates measured in tests of random processes
// (loss, duplication, reordering), so that such a test fails when the
// process is wrong and almost never by chance.
//
// A fixed tolerance ("20% ± 5 points") is either too loose for many events
// or, for a few hundred correlated ones, a few standard errors wide, and a
// suite of such checks then fails now and then on a correct process. The
// tolerance here is a number of standard errors of the measured rate,
// widened for draws that depend on the one before.
package stattest

import (
	"fmt"
	"math"
)

// Z is how many standard errors a measured rate may stray from the
// expected one. A correct process fails one check by chance about once in
// 150 000 runs.
const Z = 4.5

// Tolerance returns how far a rate measured over n events may stray from
// the expected rate p (both as fractions) when each event depends on the
// one before with lag-one correlation rho: 0 for independent draws,
// cluster.Correlation for the impairments' two-state chains, whose
// variance grows by (1+ρ)/(1−ρ).
func Tolerance(p float64, n int, rho float64) float64 {
	if n <= 0 {
		return math.Inf(1)
	}
	return Z * math.Sqrt(p*(1-p)/float64(n)*(1+rho)/(1-rho))
}

// Rate returns nil if got, a rate measured over n events, is within
// Tolerance of p, and otherwise an error naming what was measured, as in
// "lost 31.0% of 400, want 20% ± 11.6 points".
func Rate(what string, got, p float64, n int, rho float64) error {
	tol := Tolerance(p, n, rho)
	if math.Abs(got-p) <= tol {
		return nil
	}
	return fmt.Errorf("%s %.1f%% of %d, want %g%% ± %.1f points", what, 100*got, n, 100*p, 100*tol)
}
