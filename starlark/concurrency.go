package starlark

import (
	"fmt"

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
	fn.Freeze()
	ts := testOf(thread)
	results := make([]starlark.Value, n)
	err := ts.ops(thread).Concurrently(n, func(i int) error {
		th, stop := ts.newThread(fmt.Sprintf("%s: concurrently call %d", ts.do.Test(), i))
		defer stop()
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
