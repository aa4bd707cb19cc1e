//go:build linux

package impair

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// decide runs n packets, one per millisecond of the injected clock.
func decide(p Params, seed uint64, n int) ([]Decision, []time.Time) {
	s := NewScheduler(p, rand.New(rand.NewPCG(seed, 1)))
	ds := make([]Decision, n)
	arrivals := make([]time.Time, n)
	for i := range ds {
		arrivals[i] = epoch.Add(time.Duration(i) * time.Millisecond)
		ds[i] = s.Decide(arrivals[i])
	}
	return ds, arrivals
}

func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}

// lag1 is the lag-one autocorrelation of xs.
func lag1(xs []float64) float64 {
	mean, std := meanStd(xs)
	var c float64
	for i := 1; i < len(xs); i++ {
		c += (xs[i] - mean) * (xs[i-1] - mean)
	}
	return c / float64(len(xs)-1) / (std * std)
}

func TestDelayIsExact(t *testing.T) {
	ds, arr := decide(Params{Delay: 50 * time.Millisecond, Correlation: cluster.Correlation}, 1, 1000)
	for i, d := range ds {
		if got := d.At.Sub(arr[i]); got != 50*time.Millisecond || d.Drop || d.Duplicate || d.Reordered {
			t.Fatalf("packet %d: %+v, delay %v; want exactly 50ms and nothing else", i, d, got)
		}
	}
}

func TestJitterDistribution(t *testing.T) {
	const n = 20000
	tests := []struct {
		name         string
		delay, sigma time.Duration
		corr         float64
	}{
		{"100ms ±20ms, 25%", 100 * time.Millisecond, 20 * time.Millisecond, cluster.Correlation},
		{"50ms ±5ms, 25%", 50 * time.Millisecond, 5 * time.Millisecond, cluster.Correlation},
		{"200ms ±30ms, uncorrelated", 200 * time.Millisecond, 30 * time.Millisecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, arr := decide(Params{Delay: tc.delay, Jitter: tc.sigma, Correlation: tc.corr}, 7, n)
			xs := make([]float64, n)
			within1 := 0
			for i, d := range ds {
				xs[i] = float64(d.At.Sub(arr[i]))
				if math.Abs(xs[i]-float64(tc.delay)) <= float64(tc.sigma) {
					within1++
				}
			}
			mean, std := meanStd(xs)
			if math.Abs(mean-float64(tc.delay)) > 0.03*float64(tc.sigma) {
				t.Errorf("mean delay %v, want %v", time.Duration(mean), tc.delay)
			}
			if math.Abs(std-float64(tc.sigma)) > 0.03*float64(tc.sigma) {
				t.Errorf("standard deviation %v, want %v", time.Duration(std), tc.sigma)
			}
			// A normal distribution has 68.3% within one sigma (a uniform
			// one of the same sigma 57.7%).
			if frac := float64(within1) / n; math.Abs(frac-0.683) > 0.02 {
				t.Errorf("%.1f%% of delays within one sigma, want 68.3%% (normal)", frac*100)
			}
			if r := lag1(xs); math.Abs(r-tc.corr) > 0.03 {
				t.Errorf("lag-one correlation %.3f, want %.2f", r, tc.corr)
			}
		})
	}
}

func TestNegativeDelayIsClamped(t *testing.T) {
	ds, arr := decide(Params{Delay: 1 * time.Millisecond, Jitter: 10 * time.Millisecond, Correlation: cluster.Correlation}, 3, 2000)
	early := 0
	for i, d := range ds {
		if d.At.Before(arr[i]) {
			t.Fatalf("packet %d scheduled %v before it arrived", i, arr[i].Sub(d.At))
		}
		if d.At.Equal(arr[i]) {
			early++
		}
	}
	if early == 0 {
		t.Error("no jittered delay fell below zero; the test does not exercise clamping")
	}
}

func TestRates(t *testing.T) {
	const n = 5000
	tests := []struct {
		name   string
		p      Params
		count  func(Decision) bool
		want   float64 // percent
		wantCr float64 // lag-one correlation of the events
	}{
		{"loss 20%", Params{Loss: 20, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Drop }, 20, cluster.Correlation},
		{"loss 80%", Params{Loss: 80, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Drop }, 80, cluster.Correlation},
		{"loss 1%", Params{Loss: 1, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Drop }, 1, -1},
		{"duplicate 10%", Params{Duplicate: 10, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Duplicate }, 10, 0},
		{"duplicate 50%", Params{Duplicate: 50, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Duplicate }, 50, 0},
		{"reorder 25%", Params{Delay: 10 * time.Millisecond, Reorder: 25, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Reordered }, 25, cluster.Correlation},
		{"reorder 70%", Params{Delay: 10 * time.Millisecond, Reorder: 70, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Reordered }, 70, cluster.Correlation},
		{"nothing", Params{Delay: 10 * time.Millisecond, Correlation: cluster.Correlation}, func(d Decision) bool { return d.Drop || d.Duplicate || d.Reordered }, 0, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, _ := decide(tc.p, 11, n)
			xs := make([]float64, n)
			hits := 0
			for i, d := range ds {
				if tc.count(d) {
					hits++
					xs[i] = 1
				}
			}
			got := 100 * float64(hits) / n
			if math.Abs(got-tc.want) > 5 {
				t.Errorf("rate %.1f%%, want %.0f%% ± 5 points", got, tc.want)
			}
			if tc.wantCr >= 0 {
				if r := lag1(xs); math.Abs(r-tc.wantCr) > 0.05 {
					t.Errorf("lag-one correlation %.3f, want %.2f", r, tc.wantCr)
				}
			}
		})
	}
}

func TestReorderedGoAtOnce(t *testing.T) {
	ds, arr := decide(Params{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Reorder: 30, Correlation: cluster.Correlation}, 5, 2000)
	reordered := 0
	for i, d := range ds {
		wait := d.At.Sub(arr[i])
		switch {
		case d.Reordered && wait != 0:
			t.Fatalf("reordered packet %d waits %v, want 0", i, wait)
		case !d.Reordered && wait < 40*time.Millisecond:
			t.Fatalf("packet %d was not reordered but waits only %v", i, wait)
		}
		if d.Reordered {
			reordered++
		}
	}
	if reordered == 0 {
		t.Fatal("no packet was reordered")
	}
}

func TestLossAndDuplicateCombineAsInNetem(t *testing.T) {
	// Every packet is chosen for duplication; half the draws lose. As in
	// netem, a packet chosen for both goes once, and the copy of one that
	// is not lost draws its loss again.
	const n = 20000
	ds, _ := decide(Params{Loss: 50, Duplicate: 100}, 9, n)
	var twice, copyLost int
	for i, d := range ds {
		switch {
		case d.Drop:
			t.Fatalf("packet %d dropped although chosen for duplication: %+v", i, d)
		case d.Duplicate && d.CopyLost:
			t.Fatalf("packet %d: copy both sent and lost: %+v", i, d)
		case d.Duplicate:
			twice++
		}
		if d.CopyLost {
			copyLost++
		}
	}
	// Half lose the packet (sent once); of the other half, half lose
	// the copy (sent once): a quarter go twice.
	if got := float64(twice) / n; math.Abs(got-.25) > .02 {
		t.Errorf("%.3f sent twice, want 0.25", got)
	}
	if got := float64(copyLost) / n; math.Abs(got-.25) > .02 {
		t.Errorf("%.3f copies lost, want 0.25", got)
	}
}

// TestCorrelatedLoss draws many packets from a fixed seed and checks the
// loss against the two-state chain the scheduler promises: the long-run
// rate is the asked one, and a loss makes the next loss likelier by the
// correlation (P(loss | loss) = p + ρ(1−p)), so losses come in bursts.
func TestCorrelatedLoss(t *testing.T) {
	const n = 200000
	tests := []struct {
		name string
		loss float64 // percent
		corr float64
	}{
		{"20% correlated", 20, cluster.Correlation},
		{"80% correlated", 80, cluster.Correlation},
		{"5% correlated", 5, cluster.Correlation},
		{"20% uncorrelated", 20, 0},
		{"50% strongly correlated", 50, 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, _ := decide(Params{Loss: tc.loss, Correlation: tc.corr}, 7, n)
			p, r := tc.loss/100, tc.corr
			var lost, pairs, after int
			var bursts, burstLen int
			for i, d := range ds {
				if !d.Drop {
					continue
				}
				lost++
				if i > 0 && ds[i-1].Drop {
					pairs++
				} else {
					bursts++
				}
				if i+1 < n {
					after++
				}
				burstLen++
			}
			rate := float64(lost) / n
			// The chain's draws are not independent: the variance of
			// the rate grows by (1+ρ)/(1−ρ). Five standard errors.
			se := math.Sqrt(p * (1 - p) / n * (1 + r) / (1 - r))
			if math.Abs(rate-p) > 5*se {
				t.Errorf("lost %.4f, want %.4f ± %.4f", rate, p, 5*se)
			}
			cond := float64(pairs) / float64(after)
			wantCond := p + r*(1-p)
			if math.Abs(cond-wantCond) > .01 {
				t.Errorf("P(loss | loss) %.4f, want %.4f", cond, wantCond)
			}
			meanBurst := float64(burstLen) / float64(bursts)
			wantBurst := 1 / (1 - wantCond)
			if math.Abs(meanBurst-wantBurst)/wantBurst > .03 {
				t.Errorf("mean burst of %.3f losses, want %.3f", meanBurst, wantBurst)
			}
			if r > 0 && cond < rate+r*(1-rate)/2 {
				t.Errorf("P(loss | loss) %.4f is not clearly above the rate %.4f: no correlation shows", cond, rate)
			}
			t.Logf("lost %.4f, P(loss | loss) %.4f, mean burst %.3f", rate, cond, meanBurst)
		})
	}
}

func TestDuplicateDrawsItsOwnDelay(t *testing.T) {
	const n = 20000
	p := Params{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Duplicate: 50, Correlation: cluster.Correlation}
	ds, arr := decide(p, 3, n)
	var gaps []float64
	var copyDelays []float64
	for i, d := range ds {
		if !d.Duplicate {
			continue
		}
		if d.DuplicateAt.Before(arr[i]) {
			t.Fatalf("copy of packet %d scheduled before the packet arrived", i)
		}
		gaps = append(gaps, d.DuplicateAt.Sub(d.At).Seconds()*1000)
		copyDelays = append(copyDelays, d.DuplicateAt.Sub(arr[i]).Seconds()*1000)
	}
	if got := float64(len(gaps)) / n; math.Abs(got-.5) > .02 {
		t.Fatalf("%.3f duplicated, want 0.5", got)
	}
	// The copy's delay has the same distribution as any packet's.
	mean, std := meanStd(copyDelays)
	if math.Abs(mean-100) > 1 || math.Abs(std-20) > 1.5 {
		t.Errorf("copies wait %.1fms ± %.1fms, want 100ms ± 20ms", mean, std)
	}
	// Packet and copy do not leave together: the gap between them is
	// the difference of two jittered delays, correlated by ρ through the
	// jitter's chain, so its spread is σ√(2(1−ρ)).
	same := 0
	for _, g := range gaps {
		if g == 0 {
			same++
		}
	}
	if same > len(gaps)/100 {
		t.Errorf("%d of %d copies leave with their packet", same, len(gaps))
	}
	_, gapStd := meanStd(gaps)
	want := 20 * math.Sqrt(2*(1-cluster.Correlation))
	if math.Abs(gapStd-want) > 2 {
		t.Errorf("packet-to-copy gap spread %.1fms, want about %.1fms", gapStd, want)
	}
	// Without jitter both wait exactly the delay.
	ds, _ = decide(Params{Delay: 50 * time.Millisecond, Duplicate: 100}, 3, 100)
	for i, d := range ds {
		if !d.Duplicate || !d.DuplicateAt.Equal(d.At) {
			t.Fatalf("packet %d without jitter: %+v, want a copy at the packet's time", i, d)
		}
	}
}

func TestCopiesAreReorderedOnTheirOwn(t *testing.T) {
	const n = 20000
	ds, arr := decide(Params{Delay: 50 * time.Millisecond, Duplicate: 100, Reorder: 30, Correlation: cluster.Correlation}, 4, n)
	var copyReordered int
	for i, d := range ds {
		if d.CopyReordered != d.DuplicateAt.Equal(arr[i]) {
			t.Fatalf("packet %d: copy reordered %v but waits %v", i, d.CopyReordered, d.DuplicateAt.Sub(arr[i]))
		}
		if d.CopyReordered {
			copyReordered++
		}
	}
	if got := float64(copyReordered) / n; math.Abs(got-.3) > .02 {
		t.Errorf("%.3f copies reordered, want 0.3", got)
	}
}

func TestSeedReproduces(t *testing.T) {
	p := Params{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 10, Duplicate: 10, Reorder: 10, Correlation: cluster.Correlation}
	a, _ := decide(p, 42, 500)
	b, _ := decide(p, 42, 500)
	c, _ := decide(p, 43, 500)
	same := func(x, y []Decision) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed gave different decisions")
	}
	if same(a, c) {
		t.Error("different seeds gave the same decisions")
	}
}

func TestParamsOf(t *testing.T) {
	tests := []struct {
		name    string
		imps    cluster.Impairments
		want    Params
		shapes  bool
		wantErr bool
	}{
		{
			name:   "all",
			imps:   cluster.Impairments{{Kind: cluster.KindDelay, Delay: time.Second, Jitter: time.Millisecond}, {Kind: cluster.KindLoss, Percent: 5}, {Kind: cluster.KindDuplicate, Percent: 6}, {Kind: cluster.KindReorder, Percent: 7}},
			want:   Params{Delay: time.Second, Jitter: time.Millisecond, Loss: 5, Duplicate: 6, Reorder: 7, Correlation: cluster.Correlation},
			shapes: true,
		},
		{
			name: "loss only",
			imps: cluster.Impairments{{Kind: cluster.KindLoss, Percent: 5}},
			want: Params{Loss: 5, Correlation: cluster.Correlation},
		},
		{
			name: "none",
			want: Params{Correlation: cluster.Correlation},
		},
		{name: "reorder without delay", imps: cluster.Impairments{{Kind: cluster.KindReorder, Percent: 7}}, wantErr: true},
		{name: "bad percent", imps: cluster.Impairments{{Kind: cluster.KindLoss, Percent: 101}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParamsOf(tc.imps)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got != tc.want || got.Shapes() != tc.shapes {
				t.Errorf("got %+v (shapes %v), want %+v (shapes %v)", got, got.Shapes(), tc.want, tc.shapes)
			}
		})
	}
}
