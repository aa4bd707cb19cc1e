package starlark

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/attest/engine"
)

// durationArg unpacks a duration written as a string: "250ms", "3s",
// "1m30s". UnpackArgs names the parameter in its errors.
type durationArg struct {
	d     time.Duration
	given bool
}

func (a *durationArg) Unpack(v starlark.Value) error {
	if v == starlark.None {
		// As if it were not given: a helper can pass its own None on.
		*a = durationArg{}
		return nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return fmt.Errorf("want a duration such as \"250ms\" or \"3s\", got %s %s", v.Type(), v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like \"250ms\", \"3s\" or \"1m30s\"", s)
	}
	if d < 0 {
		return fmt.Errorf("duration %q cannot be negative", s)
	}
	a.d, a.given = d, true
	return nil
}

// set stores the duration in dst if the script gave one.
func (a durationArg) set(dst *time.Duration) {
	if a.given {
		*dst = a.d
	}
}

func (a durationArg) timeouts() []time.Duration {
	if !a.given {
		return nil
	}
	return []time.Duration{a.d}
}

// makeRetry returns eventually(fn, timeout=None) or consistently(fn,
// timeout=None). A failed check or fail() in fn counts as "not yet"; an
// error of the script stops the retries at once, since retrying cannot mend
// it.
func makeRetry(eventually bool) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var fn starlark.Callable
		var timeout durationArg
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn, "timeout??", &timeout); err != nil {
			return nil, err
		}
		if timeout.given && timeout.d <= 0 {
			return nil, fmt.Errorf("%s: timeout %v must be positive", b.Name(), timeout.d)
		}
		if err := takes(b.Name(), fn, 0, "lambda: get(\"n1\", \"/health\").status(200).run()"); err != nil {
			return nil, err
		}
		ts := testOf(thread)
		base := thread.CallStackDepth()
		var result starlark.Value = starlark.None
		attempt := func() error {
			v, err := starlark.Call(thread, fn, nil, nil)
			if err != nil {
				f := asFailure(ts.do, err, base)
				var se *Error
				if errors.As(f, &se) {
					return engine.Permanent(f)
				}
				return f
			}
			result = v
			return nil
		}
		ops := ts.ops(thread)
		timeouts, err := sandboxTimeouts(ts, timeout)
		if err != nil {
			return nil, err
		}
		if eventually {
			err = ops.Eventually(attempt, timeouts...)
		} else {
			err = ops.Consistently(attempt, timeouts...)
		}
		if err != nil {
			return nil, ts.guard.outlived(err)
		}
		return result, nil
	}
}

// builtinSleep is sleep(duration); the run's cancellation cuts it short.
func builtinSleep(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d durationArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "duration", &d); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	ctx, dur, err := sandboxSleep(ts, d.d)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return starlark.None, nil
	case <-ts.do.Stopped():
	case <-ctx.Done():
	}
	if e := ts.guard.err(); e != nil {
		return nil, e
	}
	// The run's context, not ctx: a sandbox's ctx is the run's child,
	// which its cancellation reaches a moment after Stopped is closed.
	run := ts.do.Context()
	if run.Err() == nil && ctx.Err() == nil {
		// A client or nemesis whose clients are done.
		return starlark.None, nil
	}
	if run.Err() == nil {
		return nil, fmt.Errorf("sleep: the run was interrupted: %w", context.Cause(ctx))
	}
	return nil, fmt.Errorf("sleep: the run was interrupted: %w", context.Cause(run))
}
