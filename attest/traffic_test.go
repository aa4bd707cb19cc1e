package attest_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// trafficCounter is a runtime's traffic counters, as a test sets them.
type trafficCounter struct {
	mu    sync.Mutex // guards pairs
	pairs cluster.Traffic
}

func (c *trafficCounter) read() (cluster.Traffic, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := cluster.Traffic{}
	for p, n := range c.pairs {
		out[p] = n
	}
	return out, nil
}

func (c *trafficCounter) send(from, to string, packets, bytes uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := cluster.Pair{From: from, To: to}
	c.pairs[p] = c.pairs[p].Add(cluster.Count{Packets: packets, Bytes: bytes})
}

// Traffic reads the runtime's counters: a reading is everything so far,
// the traffic since a reading is the difference, and only that goes into
// the event log.
func TestTraffic(t *testing.T) {
	rt := runtime(func(string, http.ResponseWriter, *http.Request) {})
	ctr := &trafficCounter{pairs: cluster.Traffic{{From: "n1", To: "n2"}: {Packets: 3, Bytes: 300}}}
	rt.Traffic = ctr.read
	var start, since Traffic
	var between, back cluster.Count
	var errs []error
	s := suite(3).Test("count", func(do *Do) {
		start = do.Traffic()
		ctr.send("n1", "n2", 10, 1000)
		ctr.send("n3", "n2", 1, 28)
		since = do.Traffic(start)
		var err error
		between, err = since.Between([]string{"n1", "n3"}, []string{"n2", "n1"})
		errs = append(errs, err)
		back, err = since.Between([]string{"n2"}, []string{"n1"})
		errs = append(errs, err)
		_, err = since.Between([]string{"n1"}, []string{"n9"})
		errs = append(errs, err)
	})
	res, events := run(t, s, rt)
	passes(t, res)
	if !start.Reading() || since.Reading() {
		t.Errorf("Reading(): start %v, since %v; want a reading, then not", start.Reading(), since.Reading())
	}
	if got := start.Total(); got != (cluster.Count{Packets: 3, Bytes: 300}) {
		t.Errorf("the reading's total %v, want what was counted so far", got)
	}
	if got := since.Total(); got != (cluster.Count{Packets: 11, Bytes: 1028}) {
		t.Errorf("the total since the reading %v, want 11 packets, 1028 bytes", got)
	}
	if between != (cluster.Count{Packets: 11, Bytes: 1028}) || back != (cluster.Count{}) {
		t.Errorf("Between: n1, n3 → n2, n1 %v; n2 → n1 %v", between, back)
	}
	if errs[0] != nil || errs[1] != nil || errs[2] == nil || !strings.Contains(errs[2].Error(), `no node named "n9"`) {
		t.Errorf("Between errors %v, want one for n9 alone", errs)
	}
	if since.Start != start.End || since.Elapsed() < 0 {
		t.Errorf("the traffic since the reading spans %v to %v; the reading ended %v", since.Start, since.End, start.End)
	}
	var logged []string
	for _, e := range events {
		if e.Kind == cluster.EventTraffic {
			logged = append(logged, e.Text())
		}
	}
	if len(logged) != 1 || !strings.HasPrefix(logged[0], "TRAFFIC: 11 packets, 1028 bytes in ") {
		t.Errorf("traffic events %q, want one of the difference", logged)
	}
}

// Counting needs a runtime that can count; the lack is clstr's, not the
// target's, and so is an earlier reading that is not one.
func TestTrafficRefused(t *testing.T) {
	tests := []struct {
		name   string
		set    bool // the runtime counts
		test   func(do *Do)
		want   string
		logged int // the counts taken before the refused one
	}{
		{"a runtime that cannot count", false, func(do *Do) { do.Traffic() }, cluster.ErrNoTraffic.Error(), 0},
		{"since a difference", true, func(do *Do) { do.Traffic(do.Traffic(do.Traffic())) }, "since: want a reading of this run", 1},
		{"since nothing read", true, func(do *Do) { do.Traffic(Traffic{}) }, "since: want a reading of this run", 0},
		{"since two readings", true, func(do *Do) { do.Traffic(do.Traffic(), do.Traffic()) }, "give at most one earlier reading", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := runtime(func(string, http.ResponseWriter, *http.Request) {})
			if tc.set {
				rt.Traffic = (&trafficCounter{pairs: cluster.Traffic{}}).read
			}
			res, events := run(t, suite(2).Test("count", tc.test), rt)
			f := failure(t, res)
			if engine.Blame(f) || !strings.Contains(f.Error(), tc.want) {
				t.Errorf("failure %q (blamed on the target: %v), want clstr's, saying %q", f, engine.Blame(f), tc.want)
			}
			logged := 0
			for _, e := range events {
				if e.Kind == cluster.EventTraffic {
					logged++
				}
			}
			if logged != tc.logged {
				t.Errorf("%d counts logged, want %d: a refused count is not", logged, tc.logged)
			}
		})
	}
}
