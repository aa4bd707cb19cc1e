package docker

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// BenchmarkClusterReady measures a 5-node cluster of the test node from a
// cached image to every node answering GET /health (nodes-ready-ms), and
// its teardown (teardown-ms).
func BenchmarkClusterReady(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	// Warm the image cache outside the timing.
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 1})
	must(b, err)
	must(b, c.Close(ctx))

	var ready, teardown time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
		must(b, err)
		waitAllHealthy(b, c)
		ready += time.Since(start)
		b.StopTimer()
		start = time.Now()
		must(b, c.Close(ctx))
		teardown += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "nodes-ready-ms")
	b.ReportMetric(float64(teardown.Milliseconds())/float64(b.N), "teardown-ms")
}

// BenchmarkPartitionHeal measures cutting a 5-node cluster 2|3 and healing
// it again.
func BenchmarkPartitionHeal(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
	must(b, err)
	defer c.Close(ctx)
	var part, heal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		must(b, c.Partition(ctx, [][]string{{"n1", "n2"}, {"n3", "n4", "n5"}}))
		part += time.Since(start)
		start = time.Now()
		must(b, c.Heal(ctx))
		heal += time.Since(start)
	}
	b.ReportMetric(float64(part.Milliseconds())/float64(b.N), "partition-ms")
	b.ReportMetric(float64(heal.Milliseconds())/float64(b.N), "heal-ms")
}

// waitAllHealthy polls every node's /health in parallel until all answer 200.
func waitAllHealthy(b testing.TB, c cluster.Cluster) {
	var wg sync.WaitGroup
	for _, name := range c.Nodes() {
		u, err := c.URL(name)
		must(b, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				resp, err := http.Get(u + "/health")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						return
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.Errorf("%s not healthy within 10s", name)
		}()
	}
	wg.Wait()
}
