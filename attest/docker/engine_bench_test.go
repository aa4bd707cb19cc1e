package docker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/attest/engine"
)

// benchCluster starts a cluster of the test node for a benchmark and runs
// body as its only test, with the suite's Do.
func benchCluster(b *testing.B, nodes int, body func(do *Do)) {
	ctx := context.Background()
	rt, err := docker.New(ctx, docker.Options{Binary: testnode(b)})
	if err != nil {
		if os.Getenv("CI") == "" {
			b.Skipf("no Docker daemon: %v", err)
		}
		b.Fatal(err)
	}
	defer rt.Close()
	res := New(WithCluster(nodes), WithConcurrencyLimit(64)).Test("bench", body).
		Run(ctx, engine.RunOptions{Runtime: rt, Events: cluster.NewEventLog(nil)})
	if !res.Passed() {
		b.Fatal(res.FirstError())
	}
}

// BenchmarkCheckFiveNodesVsOne compares a check over all 5 nodes with the
// same check on one node; requests go out in parallel, so the ratio
// (five-vs-one) should be close to 1.
func BenchmarkCheckFiveNodesVsOne(b *testing.B) {
	benchCluster(b, 5, func(do *Do) {
		const rounds = 200
		timeIt := func(sel NodeSelector) time.Duration {
			start := time.Now()
			for i := 0; i < rounds; i++ {
				do.GET(sel, "/health").Status(Is(200)).Run()
			}
			return time.Since(start) / rounds
		}
		// The floor: five plain GETs in parallel, one per node, which on a
		// 2-core machine with a userland proxy per port is not free either.
		var urls []string
		for _, name := range do.Nodes() {
			urls = append(urls, do.Fetch(name, "/health").URL)
		}
		plain := &http.Client{}
		plainIt := func() time.Duration {
			start := time.Now()
			for i := 0; i < rounds; i++ {
				var wg sync.WaitGroup
				for _, u := range urls {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if resp, err := plain.Get(u); err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
					}()
				}
				wg.Wait()
			}
			return time.Since(start) / rounds
		}
		timeIt(do.AllNodes()) // warm connections
		plainIt()
		var one, five, floor time.Duration
		for i := 0; i < b.N; i++ {
			one += timeIt(Node("n1"))
			five += timeIt(do.AllNodes())
			floor += plainIt()
		}
		b.ReportMetric(float64(one.Microseconds())/float64(b.N), "one-node-us")
		b.ReportMetric(float64(five.Microseconds())/float64(b.N), "five-nodes-us")
		b.ReportMetric(float64(floor.Microseconds())/float64(b.N), "plain-five-parallel-us")
		b.ReportMetric(float64(five)/float64(one), "five-vs-one")
	})
}

// BenchmarkConcurrentlyVsPlainClient compares Concurrently(1000) PUTs
// through the engine with a plain Go HTTP client doing the same 1000 PUTs
// with the same concurrency against the same container (goal: engine
// throughput at least 0.8x the plain client's).
func BenchmarkConcurrentlyVsPlainClient(b *testing.B) {
	const n, limit = 1000, 64
	benchCluster(b, 1, func(do *Do) {
		url := do.Fetch("n1", "/health").URL
		base := strings.TrimSuffix(url, "/health")
		plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: limit, MaxConnsPerHost: limit}}
		plainRun := func() time.Duration {
			start := time.Now()
			sem := make(chan struct{}, limit)
			var wg sync.WaitGroup
			for i := 1; i <= n; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/kv/k%d", base, i), strings.NewReader(fmt.Sprint("v", i)))
					resp, err := plain.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
					}
				}()
			}
			wg.Wait()
			return time.Since(start)
		}
		engineRun := func() time.Duration {
			start := time.Now()
			do.Concurrently(n, func(i int) {
				do.PUT(Node("n1"), fmt.Sprintf("/kv/k%d", i), fmt.Sprint("v", i)).Status(Is(200)).Run()
			})
			return time.Since(start)
		}
		plainRun() // warm both
		engineRun()
		var plainT, engineT time.Duration
		for i := 0; i < b.N; i++ {
			plainT += plainRun()
			engineT += engineRun()
		}
		b.ReportMetric(float64(n*b.N)/plainT.Seconds(), "plain-req/s")
		b.ReportMetric(float64(n*b.N)/engineT.Seconds(), "engine-req/s")
		b.ReportMetric(plainT.Seconds()/engineT.Seconds(), "engine-vs-plain")
	})
}
