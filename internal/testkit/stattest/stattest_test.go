package stattest

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTolerance(t *testing.T) {
	// 400 independent draws at 20%: the standard error is 2 points.
	if got := Tolerance(.2, 400, 0); math.Abs(got-Z*.02) > 1e-12 {
		t.Errorf("Tolerance(.2, 400, 0) = %v, want %v", got, Z*.02)
	}
	// A lag-one correlation of 0.25 widens the variance by 1.25/0.75.
	if got, want := Tolerance(.2, 400, .25), Z*.02*math.Sqrt(1.25/.75); math.Abs(got-want) > 1e-12 {
		t.Errorf("Tolerance(.2, 400, .25) = %v, want %v", got, want)
	}
	if !math.IsInf(Tolerance(.2, 0, 0), 1) {
		t.Error("no events must allow any rate")
	}
}

func TestRate(t *testing.T) {
	if err := Rate("lost", .22, .2, 400, 0); err != nil {
		t.Errorf("2 points off over 400: %v", err)
	}
	err := Rate("lost", .31, .2, 400, 0)
	if err == nil || !strings.Contains(err.Error(), "lost 31.0% of 400, want 20% ± 9.0 points") {
		t.Errorf("11 points off over 400: %v", err)
	}
}

// TestToleranceHoldsForTheChain draws the impairments' two-state chain
// many times over: a correct rate must almost never fall outside the
// tolerance, and a rate 15 points off must almost never pass.
func TestToleranceHoldsForTheChain(t *testing.T) {
	const runs, n, rho = 2000, 1000, .25
	rng := rand.New(rand.NewPCG(1, 2))
	chain := func(p float64) float64 {
		lost, last := 0, false
		for range n {
			q := p * (1 - rho)
			if last {
				q = p + rho*(1-p)
			}
			last = rng.Float64() < q
			if last {
				lost++
			}
		}
		return float64(lost) / n
	}
	outside, passedWrong := 0, 0
	for range runs {
		if Rate("lost", chain(.2), .2, n, rho) != nil {
			outside++
		}
		if Rate("lost", chain(.35), .2, n, rho) == nil {
			passedWrong++
		}
	}
	if outside > 1 {
		t.Errorf("%d of %d correct runs fell outside the tolerance", outside, runs)
	}
	if passedWrong > runs/100 {
		t.Errorf("%d of %d runs 15 points off passed", passedWrong, runs)
	}
}
