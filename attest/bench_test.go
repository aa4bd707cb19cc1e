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
	"github.com/clstr-dev/clstr/attest/engine"
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
	}).Run(context.Background(), engine.RunOptions{Runtime: rt})
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

// BenchmarkHistoryOverhead measures what recording every request into the
// history costs Concurrently(1000): bursts with and without recording
// alternate on one cluster, so that both see the same machine, and the
// benchmark reports the throughput of each and the overhead in percent
// (goal: under 2).
func BenchmarkHistoryOverhead(b *testing.B) {
	benchSuite(b, 1, ok, func(b *testing.B, do *Do) {
		var on, off time.Duration
		burstOf := func(record bool) time.Duration {
			SetRecording(do, record)
			start := time.Now()
			do.Concurrently(burst, func(i int) {
				do.GET(Node("n1"), "/").Status(Is(200)).Run()
			})
			return time.Since(start)
		}
		for i := 0; b.Loop(); i++ {
			if i%2 == 0 {
				on += burstOf(true)
				off += burstOf(false)
			} else {
				off += burstOf(false)
				on += burstOf(true)
			}
		}
		SetRecording(do, true)
		b.ReportMetric(float64(b.N*burst)/on.Seconds(), "recorded-req/s")
		b.ReportMetric(float64(b.N*burst)/off.Seconds(), "unrecorded-req/s")
		b.ReportMetric((on.Seconds()/off.Seconds()-1)*100, "overhead-%")
	})
}

// BenchmarkRecord measures recording one answer into the history alone,
// to set beside the time of a request (BenchmarkConcurrently's req/s).
func BenchmarkRecord(b *testing.B) {
	var ns float64
	for b.Loop() {
		ns += RecordCost(10000)
	}
	b.ReportMetric(ns/float64(b.N), "ns/record")
}
