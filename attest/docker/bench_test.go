package docker

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// BenchmarkClusterReady measures a 5-node cluster of the test node from a
// cached image to every node answering GET /health (nodes-ready-ms), the
// part of that from the first container start, a sandbox's
// (from-first-start-ms), the part from the first start of a node's own
// container (from-first-node-start-ms), and its teardown (teardown-ms).
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

	var ready, fromStart, fromNodeStart, teardown time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
		must(b, err)
		waitAllHealthy(b, c)
		ready += time.Since(start)
		fromStart += time.Since(time.Unix(0, c.(*dockerCluster).firstStart.Load()))
		fromNodeStart += time.Since(time.Unix(0, c.(*dockerCluster).firstNodeStart.Load()))
		b.StopTimer()
		start = time.Now()
		must(b, c.Close(ctx))
		teardown += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "nodes-ready-ms")
	b.ReportMetric(float64(fromStart.Milliseconds())/float64(b.N), "from-first-start-ms")
	b.ReportMetric(float64(fromNodeStart.Milliseconds())/float64(b.N), "from-first-node-start-ms")
	b.ReportMetric(float64(teardown.Milliseconds())/float64(b.N), "teardown-ms")
}

// BenchmarkPlainContainersReady is the floor BenchmarkClusterReady is
// measured against: a network and five containers of the test node started
// directly on it with a published port each, as a runner without sandboxes
// (and without faults that survive restarts) would, to every node healthy
// (nodes-ready-ms, the same span as BenchmarkClusterReady's), and the part
// of that from the first container start (from-first-start-ms).
func BenchmarkPlainContainersReady(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	img, err := rt.targetImage(ctx)
	must(b, err)
	cli := rt.cli
	var ready, fromStart time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		begin := time.Now()
		run := newRunID()
		labels := rt.labels.forRun(run, "node", "")
		_, subnet, err := rt.createNetwork(ctx, "clstr-"+run, labels)
		must(b, err)
		port := nat.Port("8080/tcp")
		var ids []string
		for n := 1; n <= 5; n++ {
			ct, err := cli.ContainerCreate(ctx,
				&container.Config{Image: img, Labels: labels, ExposedPorts: nat.PortSet{port: {}},
					Env: []string{"ADDR=" + nodeIP(subnet, n).String() + ":8080", "DATA_DIR=/tmp"}},
				&container.HostConfig{NetworkMode: container.NetworkMode("clstr-" + run),
					PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1"}}}},
				&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
					"clstr-" + run: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: nodeIP(subnet, n).String()}}}},
				nil, fmt.Sprintf("clstr-%s-plain%d", run, n))
			must(b, err)
			ids = append(ids, ct.ID)
		}
		start := time.Now()
		var wg sync.WaitGroup
		urls := make([]string, len(ids))
		for k, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				must(b, cli.ContainerStart(ctx, id, container.StartOptions{}))
				info, err := cli.ContainerInspect(ctx, id)
				must(b, err)
				urls[k] = "http://127.0.0.1:" + info.NetworkSettings.Ports[port][0].HostPort
			}()
		}
		wg.Wait()
		for _, u := range urls {
			waitURL(b, u+"/health")
		}
		ready += time.Since(begin)
		fromStart += time.Since(start)
		b.StopTimer()
		_, err = Clean(ctx, cli, CleanOptions{Run: run})
		must(b, err)
		b.StartTimer()
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "nodes-ready-ms")
	b.ReportMetric(float64(fromStart.Milliseconds())/float64(b.N), "from-first-start-ms")
}

func waitURL(b testing.TB, u string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Errorf("%s not healthy within 10s", u)
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

// BenchmarkClusterReadyReused is BenchmarkClusterReady for a runtime that
// reuses sandboxes (Options.ReuseSandboxes), as clstr run --watch does:
// every cluster after the first starts in sandboxes kept from the last,
// whose next containers were made in the pause between two runs (the
// pause is not timed).
func BenchmarkClusterReadyReused(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin, ReuseSandboxes: true})
	must(b, err)
	defer rt.Close()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
	must(b, err)
	must(b, c.Close(ctx))
	pause := func() {
		b.StopTimer()
		defer b.StartTimer()
		rt.pool.mu.Lock()
		k := rt.pool.kept
		rt.pool.mu.Unlock()
		if k != nil {
			k.wait()
		}
	}

	var ready, teardown time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pause()
		start := time.Now()
		c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
		must(b, err)
		waitAllHealthy(b, c)
		ready += time.Since(start)
		start = time.Now()
		must(b, c.Close(ctx))
		teardown += time.Since(start)
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "nodes-ready-ms")
	b.ReportMetric(float64(teardown.Milliseconds())/float64(b.N), "teardown-ms")
}
