package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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

// BenchmarkDurablePowerLoss measures, on a node, a power loss after 10 000
// un-synced 4 KiB writes to a durable DATA_DIR (appends to 100 synced
// files, rewrites of them, and new files never synced), against a SIGKILL
// of a node after the same writes to a plain volume, in the same run: the
// time from the call until the node is down, with only its durable state
// left for the power loss (power-loss-ms, kill-ms, and their ratio). Each
// node is started again between rounds, outside the timing.
func BenchmarkDurablePowerLoss(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	const files, writes = 100, 10000
	block := strings.Repeat("x", 4096)
	synced := make([]op, 0, 2*files+1)
	for f := range files {
		p := fmt.Sprintf("f%03d", f)
		synced = append(synced, op{Op: "write", Path: p, Data: strings.Repeat(block, 10)}, op{Op: "fsync", Path: p})
	}
	synced = append(synced, op{Op: "fsyncdir", Path: "."})
	unsynced := make([]op, 0, writes)
	for w := range writes {
		p := fmt.Sprintf("f%03d", w%files)
		switch w % 10 {
		case 0:
			unsynced = append(unsynced, op{Op: "write", Path: fmt.Sprintf("new%05d", w), Data: block})
		case 1:
			unsynced = append(unsynced, op{Op: "write", Path: p, Data: block})
		default:
			unsynced = append(unsynced, op{Op: "append", Path: p, Data: block})
		}
	}
	var spent [2]time.Duration
	for i, durable := range []bool{false, true} {
		c, err := rt.Create(ctx, cluster.Spec{Nodes: 1, Durable: durable})
		must(b, err)
		defer c.Close(ctx)
		waitAllHealthy(b, c)
		lose := c.Kill
		if durable {
			lose = c.(cluster.PowerLosser).PowerLoss
		}
		for range b.N {
			doFS(b, c, synced...)
			for chunk := range slices.Chunk(unsynced, 500) {
				doFS(b, c, chunk...)
			}
			start := time.Now()
			must(b, lose(ctx, "n1"))
			spent[i] += time.Since(start)
			must(b, c.Start(ctx, "n1"))
			waitAllHealthy(b, c)
		}
	}
	kill, loss := spent[0]/time.Duration(b.N), spent[1]/time.Duration(b.N)
	b.ReportMetric(float64(loss.Microseconds())/1e3, "power-loss-ms")
	b.ReportMetric(float64(kill.Microseconds())/1e3, "kill-ms")
	b.ReportMetric(float64(loss)/float64(kill), "loss/kill")
}
