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

func TestLostPacketsAreNotDuplicated(t *testing.T) {
	ds, _ := decide(Params{Loss: 50, Duplicate: 100, Correlation: cluster.Correlation}, 9, 1000)
	for i, d := range ds {
		if d.Drop == d.Duplicate {
			t.Fatalf("packet %d: drop %v duplicate %v; every packet is either lost or duplicated", i, d.Drop, d.Duplicate)
		}
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
