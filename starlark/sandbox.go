package starlark

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
)

// This file holds what the builtins ask of the sandbox before they call
// the engine. limits.go holds the table of limits; guard.go the guard that
// counts a test's steps and threads; watchdog.go what samples its memory
// and clock; charges.go what each use of a limit charges or refuses.

// sandboxed returns the check as a sandboxed test may run it: its timeout
// cut to the time left, and the most requests it can send charged to the
// stage. For a trusted test it returns c.
func (c *check) sandboxed(ts *testState) (*check, error) {
	g := ts.guard
	if g == nil {
		return c, nil
	}
	cfg := ts.do.Config()
	nodes := int64(len(c.sel.names))
	if nodes == 0 || c.sel.kind == selExcept {
		nodes = int64(cfg.Nodes + cfg.Spare)
	}
	if c.timing == engine.TimingOnce {
		return c, g.chargeRequests(nodes)
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = cfg.RetryTimeout
	}
	timeout, err := g.remaining(timeout)
	if err != nil {
		return nil, err
	}
	attempts := int64(timeout/cfg.PollInterval) + 2
	if err := g.chargeRequests(nodes * attempts); err != nil {
		return nil, err
	}
	return c.with(func(c *check) { c.timeout = timeout }), nil
}

// sandboxTimeouts returns the timeouts to hand eventually() or
// consistently() of the engine: in a sandboxed test, the script's (or the
// suite's retry timeout) cut to the time left.
func sandboxTimeouts(ts *testState, timeout durationArg) ([]time.Duration, error) {
	if ts.guard == nil {
		return timeout.timeouts(), nil
	}
	d := ts.do.Config().RetryTimeout
	if timeout.given {
		d = timeout.d
	}
	d, err := ts.guard.remaining(d)
	if err != nil {
		return nil, err
	}
	return []time.Duration{d}, nil
}

// sandboxSleep returns what sleep(d) waits on and for how long: in a
// sandboxed test, d counts against the stage's total sleep, is cut to the
// time left, and a limit reached meanwhile ends it.
func sandboxSleep(ts *testState, d time.Duration) (context.Context, time.Duration, error) {
	g := ts.guard
	if g == nil {
		return ts.do.Context(), d, nil
	}
	// A client's or nemesis's sleeps run beside the test's own and end
	// with the clients' duration, which the test time bounds: they add no
	// time of their own, so the sleep total does not count them.
	if !ts.do.InClients() {
		if err := g.chargeSleep(d); err != nil {
			return nil, 0, err
		}
	}
	d, err := g.remaining(d)
	if err != nil {
		return nil, 0, err
	}
	return g.ctx, d, nil
}

// checkPath checks the path of a request: a node's path, never a URL or
// another host. "//host/x" is a path to a browser's eyes but names a host
// to many HTTP clients, so it is refused too.
func checkPath(fn, path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("%s: path %q must start with /: requests go to a node by path only", fn, path)
	case strings.HasPrefix(path, "//"):
		return fmt.Errorf("%s: path %q starts with //, which names a host: requests go to a node by path only", fn, path)
	}
	return nil
}
