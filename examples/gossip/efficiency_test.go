package main

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestEfficientBroadcast runs 25 nodes whose links add 100 ms to every
// request between nodes and 100 ms to its answer, as the efficiency stages
// do, broadcasts about 15 messages a second spread over the nodes, and
// checks what a broadcast costs in requests between nodes: a handful
// through the hub (about 9 on an idle machine; fewer broadcasts per tick
// on a loaded one cost more each), far below the hundreds of flood. How
// soon a broadcast is visible everywhere is a figure, not a check here:
// BenchmarkEfficientBroadcast reports it, and the stages judge it.
func TestEfficientBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("25 nodes for several seconds")
	}
	for _, tc := range []struct {
		bug      string
		duration time.Duration
		cheap    bool
	}{{"", 4 * time.Second, true}, {bugFlood, time.Second, false}} {
		t.Run("bug="+tc.bug, func(t *testing.T) {
			c := newClusterWith(t, 25, clusterOptions{bug: tc.bug, delay: 100 * time.Millisecond})
			f := measure(c, 15, tc.duration)
			t.Logf("%d broadcasts: %.1f requests between nodes per broadcast; visible on every node after %v at the median, %v at the 95th percentile, %v at most",
				f.broadcasts, f.requests, f.median, f.p95, f.max)
			if !tc.cheap {
				if f.requests < 100 {
					t.Errorf("%.1f requests per broadcast: flood should cost far more", f.requests)
				}
				return
			}
			if f.requests > 30 {
				t.Errorf("%.1f requests per broadcast, want 30 at most", f.requests)
			}
		})
	}
}

// BenchmarkEfficientBroadcast reports, for 25 nodes under 100 ms of delay
// each way and 15 broadcasts a second for 4 s, the requests between nodes
// per broadcast and the time until a broadcast is visible on every node
// (median and maximum), as the efficiency stages measure them on
// containers.
func BenchmarkEfficientBroadcast(b *testing.B) {
	var sum figures
	for range b.N {
		c := newClusterWith(b, 25, clusterOptions{delay: 100 * time.Millisecond})
		f := measure(c, 15, 4*time.Second)
		for i := range c.nodes {
			c.stop(i)
		}
		sum.requests += f.requests
		sum.median += f.median
		sum.max = max(sum.max, f.max)
	}
	b.ReportMetric(sum.requests/float64(b.N), "requests/broadcast")
	b.ReportMetric(float64(sum.median.Milliseconds())/float64(b.N), "median-ms")
	b.ReportMetric(float64(sum.max.Milliseconds()), "max-ms")
}

// figures are what measure found.
type figures struct {
	broadcasts       int
	requests         float64 // between nodes, per broadcast
	median, p95, max time.Duration
}

// measure broadcasts rate messages a second for d, each to the next node
// but six, waits until every node has every message and the nodes stop
// talking, and returns the figures.
func measure(c *testCluster, rate int, d time.Duration) figures {
	c.t.Helper()
	var (
		mu      sync.Mutex // guards acked and visible
		acked   = map[int64]time.Time{}
		visible = map[int64]time.Duration{}
	)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			mu.Lock()
			for m, at := range acked {
				if _, ok := visible[m]; !ok && c.everywhere(m) {
					visible[m] = max(0, time.Since(at))
				}
			}
			mu.Unlock()
		}
	}()
	defer func() { close(stop); <-watched }()

	start := c.nw.requests.Load()
	every := time.Second / time.Duration(rate)
	total := int(d / every)
	t0 := time.Now()
	for k := range total {
		time.Sleep(time.Until(t0.Add(time.Duration(k) * every)))
		c.broadcast(k*7%len(c.addrs), k)
		mu.Lock()
		acked[int64(k)] = time.Now()
		mu.Unlock()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(visible)
		mu.Unlock()
		if n == total {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after 10s only %d of %d messages are on every node", n, total)
		}
	}
	// What is still sent once every node has every message counts too.
	last := c.nw.requests.Load()
	for quiet := time.Now().Add(3 * time.Second); time.Now().Before(quiet); {
		time.Sleep(500 * time.Millisecond)
		now := c.nw.requests.Load()
		if now == last {
			break
		}
		last = now
	}

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for _, v := range visible {
		lat = append(lat, v)
	}
	slices.Sort(lat)
	return figures{
		broadcasts: total,
		requests:   float64(last-start) / float64(total),
		median:     lat[len(lat)/2],
		p95:        lat[len(lat)*95/100],
		max:        lat[len(lat)-1],
	}
}

// everywhere reports whether every node has message m.
func (c *testCluster) everywhere(m int64) bool {
	for _, n := range c.nodes {
		n.mu.Lock()
		ok := n.seen[m]
		n.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}
