package attest

import (
	"testing"
	"time"
)

func TestLatencySummary(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	var ok []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ok = append(ok, ms(float64(i)/10))
	}
	tests := []struct {
		name string
		l    latencies
		want string
	}{
		{"percentiles", latencies{ok: ok}, "100 req, 0.00% err · p50 5.00ms p90 9.00ms p99 9.90ms max 10.0ms"},
		{"errors", latencies{ok: []time.Duration{ms(0.25), ms(250)}, errs: 2}, "4 req, 50.00% err · p50 250µs p90 250ms p99 250ms max 250ms"},
		{"only errors", latencies{errs: 3}, "3 req, 100.00% err"},
		{"seconds", latencies{ok: []time.Duration{1234 * time.Millisecond}}, "1 req, 0.00% err · p50 1.23s p90 1.23s p99 1.23s max 1.23s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.summary(); got != tc.want {
				t.Errorf("summary() = %q\nwant        %q", got, tc.want)
			}
		})
	}
}
