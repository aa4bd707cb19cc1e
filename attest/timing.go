package attest

import (
	"errors"
	"fmt"
	"time"

	"github.com/clstr-dev/clstr/attest/engine"
)

// isPermanent reports whether an attempt's error ends the retries, and
// returns the error to report.
func isPermanent(err error) (error, bool) {
	var p *engine.PermanentError
	if errors.As(err, &p) {
		return p.Err, true
	}
	var e *engine.EnvError
	if errors.As(err, &e) {
		return err, true
	}
	return err, false
}

type outcome int

const (
	passed   outcome = iota
	timedOut         // the last attempt's error says why
	stopped          // a permanent error or cancellation
)

// eventually calls attempt until it returns nil or the timeout expires,
// pausing the poll interval between attempts; the first attempt is
// immediate and the last is made at the deadline. It calls waiting before
// each pause. The error is the last attempt's.
func (r *run) eventually(timeout time.Duration, attempt func() error,
	waiting func(elapsed time.Duration, last error)) (outcome, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := attempt()
		if err == nil {
			return passed, nil
		}
		if err, ok := isPermanent(err); ok {
			return stopped, err
		}
		if r.ctx.Err() != nil {
			return stopped, r.interrupted(err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return timedOut, err
		}
		waiting(time.Since(start), err)
		if sleep(r.ctx, min(r.cfg.PollInterval, left)) != nil {
			return stopped, r.interrupted(err)
		}
	}
}

// consistently calls attempt, pausing the poll interval between attempts,
// until the timeout expires or an attempt fails; the first attempt is
// immediate and the last is made at the deadline. held is how long the
// check had held when the failing attempt began.
func (r *run) consistently(timeout time.Duration, attempt func() error,
	waiting func(elapsed time.Duration, last error)) (out outcome, held time.Duration, err error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		began := time.Since(start)
		if err := attempt(); err != nil {
			if err, ok := isPermanent(err); ok {
				return stopped, began, err
			}
			if r.ctx.Err() != nil {
				return stopped, began, r.interrupted(err)
			}
			return timedOut, began, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return passed, timeout, nil
		}
		waiting(time.Since(start), nil)
		if sleep(r.ctx, min(r.cfg.PollInterval, left)) != nil {
			return stopped, time.Since(start), r.interrupted(r.ctx.Err())
		}
	}
}

// Eventually calls fn until it returns nil or the timeout (default: the
// suite's retry timeout) expires; the first call is immediate and the next
// ones follow every poll interval. A failed check inside fn — a panic with
// an *engine.Failure, as Check.Run makes — and any error fn returns count
// as "not yet", except one wrapped with engine.Permanent. On timeout the
// test fails with the last error. Use it to wait for something that takes
// more than one request:
//
//	var leader string
//	do.Eventually(func() error {
//		leader = findLeader(do)
//		return nil
//	}, 3*time.Second)
func (d *Do) Eventually(fn func() error, timeout ...time.Duration) {
	d.must(d.Ops(callerPos(1)).Eventually(fn, timeout...))
}

// Consistently calls fn every poll interval for the timeout (default: the
// suite's retry timeout) and fails the test at the first call that fails,
// with an *engine.Failure panic or an error.
func (d *Do) Consistently(fn func() error, timeout ...time.Duration) {
	d.must(d.Ops(callerPos(1)).Consistently(fn, timeout...))
}

// Eventually is Do.Eventually returning the failure.
func (o *Ops) Eventually(fn func() error, timeout ...time.Duration) error {
	return o.retry(engine.TimingEventually, fn, timeout)
}

// Consistently is Do.Consistently returning the failure.
func (o *Ops) Consistently(fn func() error, timeout ...time.Duration) error {
	return o.retry(engine.TimingConsistently, fn, timeout)
}

func (o *Ops) retry(t engine.Timing, fn func() error, timeouts []time.Duration) error {
	r := o.d.r
	what := t.String()
	timeout := r.cfg.RetryTimeout
	switch {
	case len(timeouts) > 1:
		return o.fail(what, env(errors.New("give at most one timeout")))
	case len(timeouts) == 1 && timeouts[0] <= 0:
		return o.fail(what, env(fmt.Errorf("timeout %v must be positive", timeouts[0])))
	case len(timeouts) == 1:
		timeout = timeouts[0]
	}
	attempt := func() error { return callFailing(fn) }
	wait := func(elapsed time.Duration, last error) {
		r.rep.Waiting(engine.Wait{
			Test: o.d.test, Pos: o.pos, What: what, Timing: t,
			Elapsed: elapsed, Timeout: timeout, Last: last,
		})
	}
	var out outcome
	var held time.Duration
	var err error
	if t == engine.TimingEventually {
		out, err = r.eventually(timeout, attempt, wait)
	} else {
		out, held, err = r.consistently(timeout, attempt, wait)
	}
	switch out {
	case passed:
		return nil
	case timedOut:
		f := o.fail(what, err)
		f.Timing, f.Timeout, f.Held = t, timeout, held
		return f
	}
	if f, ok := err.(*engine.Failure); ok {
		return f
	}
	return o.fail(what, err)
}

// callFailing calls fn and returns the failure it panics with, as an
// error. Other panics go on up to the test's boundary.
func callFailing(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(*engine.Failure)
			if !ok {
				panic(v)
			}
			err = f
		}
	}()
	return fn()
}
