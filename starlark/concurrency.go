package starlark

import (
	"context"
	"fmt"
	"sync"

	"go.starlark.net/starlark"
)

// builtinConcurrently is concurrently(n, fn): fn(1) … fn(n) in parallel,
// each on a thread of its own, at most the suite's concurrency_limit at a
// time. It returns fn's results in index order. fn, and everything it can
// reach, is frozen first: goroutines must share nothing they could change.
func builtinConcurrently(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n int
	var fn starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n, "fn", &fn); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("concurrently: n is %d: the number of calls cannot be negative", n)
	}
	if err := takes(b.Name(), fn, 1, "lambda i: put(\"n1\", \"/kv/k%d\" % i, \"v\").status(200).run()"); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	if err := ts.guard.checkConcurrently(n); err != nil {
		return nil, err
	}
	fn.Freeze()
	slots := min(n, ts.run.script.cfg.ConcurrencyLimit)
	defer ts.guard.unclaim(slots)
	if err := ts.guard.claim(slots); err != nil {
		return nil, err
	}
	pool := &threadPool{ts: ts}
	defer pool.release()
	stop := context.AfterFunc(ts.do.Context(), pool.cancel)
	defer stop()
	results := make([]starlark.Value, n)
	err := ts.ops(thread).Concurrently(n, func(i int) error {
		th := pool.get()
		defer pool.put(th)
		v, err := starlark.Call(th, fn, starlark.Tuple{starlark.MakeInt(i)}, nil)
		if err != nil {
			return asFailure(ts.do, err, 0)
		}
		results[i-1] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return starlark.NewList(results), nil
}

// threadPool lends the calls of one concurrently threads of their own: a
// thread runs one call at a time and is reused by a later call, so that a
// call costs no new thread and no new cancellation hook.
type threadPool struct {
	ts *testState

	mu        sync.Mutex // guards the fields below
	all, free []*starlark.Thread
	cancelled bool
}

func (p *threadPool) get() *starlark.Thread {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		th := p.free[n-1]
		p.free = p.free[:n-1]
		return th
	}
	th := p.ts.claimedThread(fmt.Sprintf("%s: concurrently", p.ts.do.Test()))
	if p.cancelled {
		th.Cancel("the run was interrupted")
	}
	p.all = append(p.all, th)
	return th
}

func (p *threadPool) put(th *starlark.Thread) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, th)
}

// cancel interrupts the Starlark code of every thread, now and to come.
func (p *threadPool) cancel() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancelled = true
	for _, th := range p.all {
		th.Cancel("the run was interrupted")
	}
}

// release gives the pool's threads back to the test's guard.
func (p *threadPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, th := range p.all {
		p.ts.release(th)
	}
}
