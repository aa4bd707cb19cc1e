package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/testkit/stattest"
)

// trafficSince reads the counts and returns what was sent since before.
func trafficSince(t *testing.T, c *dockerCluster, before cluster.Traffic) cluster.Traffic {
	t.Helper()
	now, err := c.Traffic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := now.Since(before)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantTraffic checks every pair of d: the pairs of want have exactly
// their count, every other pair none.
func wantTraffic(t *testing.T, c *dockerCluster, d cluster.Traffic, want cluster.Traffic) {
	t.Helper()
	if n := len(c.nodes); len(d) != n*(n-1) {
		t.Errorf("%d pairs counted, want every ordered pair of %d nodes: %v", len(d), n, d)
	}
	for p, got := range d {
		if got != want[p] {
			t.Errorf("%s sent %s %v, want %v", p.From, p.To, got, want[p])
		}
	}
}

// TestTrafficCounts sends known datagrams between nodes of the test node
// and checks that the counts are theirs exactly: a UDP datagram of s
// bytes is one packet of 20 (IP header) + 8 (UDP header) + s bytes. The
// runner's own requests, which carry the test node's orders and its
// answers, count for nothing.
func TestTrafficCounts(t *testing.T) {
	c, _ := testCluster(t, 3, Options{})
	ctx := context.Background()
	start, err := c.Traffic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTraffic(t, c, start, nil)

	const n, size = 50, 300
	sendDatagrams(t, c, "n1", "n2", n, size)
	if got := received(t, c, "n2")["n1"]; got != n {
		t.Fatalf("n2 received %d datagrams from n1, want %d", got, n)
	}
	for range 20 {
		waitHealthy(t, c, "n2") // the runner's requests
	}
	one := cluster.Count{Packets: n, Bytes: n * (20 + 8 + size)}
	n1n2 := cluster.Pair{From: "n1", To: "n2"}
	wantTraffic(t, c, trafficSince(t, c, start), cluster.Traffic{n1n2: one})

	// The counts go on across a kill and a restart of either node.
	must(t, c.Kill(ctx, "n1"))
	must(t, c.Start(ctx, "n1"))
	must(t, c.Stop(ctx, "n2"))
	must(t, c.Start(ctx, "n2"))
	waitHealthy(t, c, "n1")
	waitHealthy(t, c, "n2")
	wantTraffic(t, c, trafficSince(t, c, start), cluster.Traffic{n1n2: one})

	// What a partition drops was sent, and counts; what it stops from
	// being sent does not exist.
	mark, err := c.Traffic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.Partition(ctx, [][]string{{"n1"}, {"n2", "n3"}}))
	sendDatagrams(t, c, "n1", "n2", 10, 100)
	sendDatagrams(t, c, "n3", "n2", 5, 16)
	if got := received(t, c, "n2"); got["n1"] != 0 || got["n3"] != 5 {
		t.Errorf("n2 received %v since its start, want none from n1 and 5 from n3", got)
	}
	must(t, c.Heal(ctx))
	wantTraffic(t, c, trafficSince(t, c, mark), cluster.Traffic{
		n1n2:                   {Packets: 10, Bytes: 10 * 128},
		{From: "n3", To: "n2"}: {Packets: 5, Bytes: 5 * 44},
	})
}

// BenchmarkTrafficCounting measures what counting costs the nodes: the
// rate of sequential HTTP requests from n1 to n2 over one connection
// (GET /health, each a few packets both ways, all of them counted) with
// counting off (plain-req/s) and on (counted-req/s), alternated in one
// run so that both meet the same machine, and their ratio
// (counted/plain); and what it costs a script: installing the counters
// on a 3-node cluster (install-ms, the first reading) and a reading
// (read-ms).
func BenchmarkTrafficCounting(b *testing.B) {
	c, _ := testCluster(b, 3, Options{})
	ctx := context.Background()
	peer, _ := c.Addr("n2")
	// rate returns n1's requests to n2 per second, from their round trips.
	rate := func() float64 {
		const n = 1000
		var r struct {
			Failed int       `json:"failed"`
			RTT    []float64 `json:"rtt_ms"`
		}
		getJSON(b, c, "n1", fmt.Sprintf("/probe/tcp?peer=%s&n=%d", peer, n), &r)
		if r.Failed > 0 {
			b.Fatalf("%d of %d requests failed", r.Failed, n)
		}
		var ms float64
		for _, t := range r.RTT {
			ms += t
		}
		return float64(len(r.RTT)) / ms * 1000
	}
	rate() // warm the connection path up
	var install, read time.Duration
	b.ResetTimer()
	plain, counted := stattest.Alternate(b.N, rate, func() float64 {
		start := time.Now()
		_, err := c.Traffic(ctx)
		must(b, err)
		install += time.Since(start)
		r := rate()
		start = time.Now()
		_, err = c.Traffic(ctx)
		must(b, err)
		read += time.Since(start)
		must(b, c.stopCounting(ctx))
		return r
	})
	b.ReportMetric(plain, "plain-req/s")
	b.ReportMetric(counted, "counted-req/s")
	b.ReportMetric(counted/plain, "counted/plain")
	b.ReportMetric(float64(install.Milliseconds())/float64(b.N), "install-ms")
	b.ReportMetric(float64(read.Milliseconds())/float64(b.N), "read-ms")
}
