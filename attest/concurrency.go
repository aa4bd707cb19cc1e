package attest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// Concurrently calls fn(1) … fn(n) in parallel, at most the suite's
// concurrency limit at a time, and waits until all have returned. If a call
// fails (a check in it fails, or it panics), no further calls start, and once
// the running ones have returned the test stops with the first failure.
//
// The requests made while it runs are summed up in the event log: one line
// for the whole cluster and one per node, each
// "CONCURRENTLY: 1000 req, 0.00% err · p50 1.2ms p90 2.3ms p99 4.1ms max 9ms",
// where err counts requests that got no response and the latencies are of
// those that did. Calls nested in another Concurrently count towards the
// outer one's lines.
func (d *Do) Concurrently(n int, fn func(i int)) {
	d.must(d.Ops(callerPos(1)).Concurrently(n, func(i int) error {
		fn(i)
		return nil
	}))
}

// Concurrently is Do.Concurrently for a fn that may return an error; the
// first error or failure is returned.
func (o *Ops) Concurrently(n int, fn func(i int) error) error {
	r := o.d.r
	what := fmt.Sprintf("concurrently(%d)", n)
	switch {
	case n < 0:
		return o.fail(what, env(errors.New("the number of calls cannot be negative")))
	case n == 0:
		return nil
	}
	rec := &recorder{byNode: map[string]*latencies{}}
	outer := r.rec.CompareAndSwap(nil, rec)

	var (
		next   atomic.Int64
		failed atomic.Bool
		mu     sync.Mutex // guards first
		first  error
		wg     sync.WaitGroup
	)
	for range min(n, r.cfg.ConcurrencyLimit) {
		wg.Go(func() {
			for !failed.Load() && r.ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := o.call(fn, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if outer {
		r.rec.Store(nil)
		rec.log(r.events, n)
	}
	switch {
	case first != nil:
		return first
	case r.ctx.Err() != nil:
		return o.fail(what, r.interrupted(r.ctx.Err()))
	}
	return nil
}

// call runs fn(i) in a goroutine of Concurrently, where a panic must not
// escape: it becomes the call's failure, to be raised again in the test's
// goroutine.
func (o *Ops) call(fn func(int) error, i int) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = o.d.r.panicked(o.d.test, v)
		}
	}()
	if err := fn(i); err != nil {
		if f, ok := err.(*engine.Failure); ok {
			return f
		}
		return o.fail(fmt.Sprintf("concurrently call %d", i), err)
	}
	return nil
}

// recorder collects the latencies of the requests made during a
// Concurrently.
type recorder struct {
	mu     sync.Mutex // guards byNode
	byNode map[string]*latencies
}

type latencies struct {
	ok   []time.Duration // of requests that got a response
	errs int             // requests that did not
}

func (rec *recorder) add(node string, d time.Duration, failed bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	l := rec.byNode[node]
	if l == nil {
		l = &latencies{}
		rec.byNode[node] = l
	}
	if failed {
		l.errs++
	} else {
		l.ok = append(l.ok, d)
	}
}

// log writes the summary lines into the event log.
func (rec *recorder) log(events *cluster.EventLog, calls int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.byNode) == 0 {
		events.Add(cluster.Event{Kind: cluster.EventConcurrently, Detail: fmt.Sprintf("%d calls, 0 req", calls)})
		return
	}
	var all latencies
	nodes := make([]string, 0, len(rec.byNode))
	for n, l := range rec.byNode {
		nodes = append(nodes, n)
		all.ok = append(all.ok, l.ok...)
		all.errs += l.errs
	}
	slices.Sort(nodes)
	events.Add(cluster.Event{Kind: cluster.EventConcurrently, Detail: all.summary()})
	for _, n := range nodes {
		events.Add(cluster.Event{Node: n, Kind: cluster.EventConcurrently, Detail: rec.byNode[n].summary()})
	}
}

// summary renders "1000 req, 0.00% err · p50 1.2ms p90 … p99 … max …".
func (l *latencies) summary() string {
	total := len(l.ok) + l.errs
	s := fmt.Sprintf("%d req, %.2f%% err", total, 100*float64(l.errs)/float64(total))
	if len(l.ok) == 0 {
		return s
	}
	slices.Sort(l.ok)
	return fmt.Sprintf("%s · p50 %s p90 %s p99 %s max %s", s,
		latency(percentile(l.ok, 0.50)), latency(percentile(l.ok, 0.90)),
		latency(percentile(l.ok, 0.99)), latency(l.ok[len(l.ok)-1]))
}

// percentile returns the nearest-rank percentile p (0–1) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// latency renders a duration with three significant digits: "850µs",
// "1.23ms", "12.3ms", "123ms", "1.23s".
func latency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
