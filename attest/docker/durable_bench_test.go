package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// BenchmarkDurableFsync measures, inside a node, the mean latency of
// appending 4 KiB to a file and fsyncing it, on a plain DATA_DIR volume
// (plain-us/op) and on the durable one of a suite that asks for
// durability (durable-us/op), in the same run, and their ratio
// (durable/plain).
func BenchmarkDurableFsync(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	clusters := map[bool]cluster.Cluster{}
	for _, durable := range []bool{false, true} {
		c, err := rt.Create(ctx, cluster.Spec{Nodes: 1, Durable: durable})
		must(b, err)
		defer c.Close(ctx)
		waitAllHealthy(b, c)
		clusters[durable] = c
	}
	const ops = 200
	var spent [2]time.Duration
	b.ResetTimer()
	for b.Loop() {
		for i, durable := range []bool{false, true} {
			spent[i] += fsyncLatency(b, clusters[durable], ops)
		}
	}
	plain, durable := spent[0]/time.Duration(b.N), spent[1]/time.Duration(b.N)
	b.ReportMetric(float64(plain.Nanoseconds())/1e3, "plain-us/op")
	b.ReportMetric(float64(durable.Nanoseconds())/1e3, "durable-us/op")
	b.ReportMetric(float64(durable)/float64(plain), "durable/plain")
}

// fsyncLatency asks n1 of c for the mean latency of ops 4 KiB appends,
// each fsynced.
func fsyncLatency(b *testing.B, c cluster.Cluster, ops int) time.Duration {
	u, err := c.URL("n1")
	must(b, err)
	resp, err := httpClient.Get(fmt.Sprintf("%s/fs/bench?n=%d", u, ops))
	must(b, err)
	defer resp.Body.Close()
	var out struct {
		NsPerOp int64 `json:"ns_per_op"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET /fs/bench: %d %v", resp.StatusCode, err)
	}
	return time.Duration(out.NsPerOp)
}
