package attest_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
)

// benchSuite runs body once in a one-test suite on n nodes served by h,
// timing only the body.
func benchSuite(b *testing.B, n int, h handlerFunc, body func(b *testing.B, do *Do)) {
	b.Helper()
	rt := runtime(h)
	res := New(WithCluster(n), WithConcurrencyLimit(64)).Test("bench", func(do *Do) {
		b.ResetTimer()
		body(b, do)
		b.StopTimer()
	}).Run(context.Background(), RunOptions{Runtime: rt})
	if !res.Passed() {
		b.Fatal(res.FirstError())
	}
}

func ok(node string, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

// BenchmarkCheckNodes compares a check on one node with one on five nodes
// that each take 2ms to answer: with parallel requests both take about
// 2ms.
func BenchmarkCheckNodes(b *testing.B) {
	slow := func(node string, w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		io.WriteString(w, "ok")
	}
	for _, n := range []int{1, 5} {
		b.Run(map[int]string{1: "one", 5: "five"}[n], func(b *testing.B) {
			benchSuite(b, n, slow, func(b *testing.B, do *Do) {
				for b.Loop() {
					do.GET(do.AllNodes(), "/").Status(Is(200)).Body(Is("ok")).Run()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/check")
			})
		})
	}
}

const burst = 1000

// BenchmarkConcurrently sends bursts of 1000 checked requests to one node
// through Concurrently; compare req/s with BenchmarkPlainClient.
func BenchmarkConcurrently(b *testing.B) {
	benchSuite(b, 1, ok, func(b *testing.B, do *Do) {
		for b.Loop() {
			do.Concurrently(burst, func(i int) {
				do.GET(Node("n1"), "/").Status(Is(200)).Run()
			})
		}
		b.ReportMetric(float64(b.N*burst)/b.Elapsed().Seconds(), "req/s")
	})
}

// BenchmarkPlainClient sends the same bursts with a bare http.Client and 64
// goroutines, the engine's default concurrency limit.
func BenchmarkPlainClient(b *testing.B) {
	benchSuite(b, 1, ok, func(b *testing.B, do *Do) {
		url := do.Fetch("n1", "/").URL
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 80}}
		defer client.CloseIdleConnections()
		for b.Loop() {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for next.Add(1) <= burst {
						resp, err := client.Get(url)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
		}
		b.ReportMetric(float64(b.N*burst)/b.Elapsed().Seconds(), "req/s")
	})
}
