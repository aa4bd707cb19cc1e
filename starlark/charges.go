package starlark

import (
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/internal/bytesize"
)

// refuse reports that the script asked for more than the limit that
// flag raises allows; detail says what it asked for.
func (g *guard) refuse(flag, detail string) error {
	return g.trip(g.sb.lim.Exceeded(flag, detail))
}

// remaining returns how much of d fits before the deadline, or the limit
// reached if nothing does.
func (g *guard) remaining(d time.Duration) (time.Duration, error) {
	if g == nil {
		return d, nil
	}
	if e := g.err(); e != nil {
		return 0, e
	}
	left := time.Until(g.deadline)
	if left <= 0 {
		return 0, g.timeUp()
	}
	return min(d, left), nil
}

// timeUp stops the threads for the time limit that ends the guard.
func (g *guard) timeUp() *LimitError {
	if g.stage {
		return g.trip(g.sb.lim.Exceeded(FlagStageTime, ""))
	}
	return g.trip(g.sb.lim.Exceeded(FlagTestTime, ""))
}

// outlived returns the time limit if err, the error of an operation whose
// timeout remaining cut to the time left, came at the deadline; else err.
func (g *guard) outlived(err error) error {
	if g == nil || err == nil {
		return err
	}
	if e := g.err(); e != nil {
		return e
	}
	if time.Until(g.deadline) <= watchEvery {
		return g.timeUp()
	}
	return err
}

// chargeRequests counts n more requests of the stage.
func (g *guard) chargeRequests(n int64) error {
	if g == nil {
		return nil
	}
	lim := g.sb.lim.Requests
	if total := g.sb.requests.Add(n); lim > 0 && total > lim {
		return g.refuse(FlagRequests, "")
	}
	return nil
}

// chargeSleep counts a sleep of d against the stage's total.
func (g *guard) chargeSleep(d time.Duration) error {
	if g == nil {
		return nil
	}
	lim := g.sb.lim.Sleep
	if total := time.Duration(g.sb.slept.Add(int64(d))); lim > 0 && total > lim {
		return g.refuse(FlagSleep, fmt.Sprintf("sleep(%q) makes %v", d.String(), total))
	}
	return nil
}

// chargeOutput counts n more bytes of print() and log(); it reports
// whether they may be written.
func (g *guard) chargeOutput(n int) bool {
	if g == nil {
		return true
	}
	lim := g.sb.lim.Output
	if total := g.sb.output.Add(int64(n)); lim > 0 && total > lim {
		g.refuse(FlagOutput, "")
		return false
	}
	return true
}

// checkBody checks a request body's size.
func (g *guard) checkBody(n int) error {
	if g == nil {
		return nil
	}
	if lim := g.sb.lim.RequestBody; lim > 0 && int64(n) > lim {
		return g.refuse(FlagRequestBody, "a body of "+bytesize.Format(int64(n)))
	}
	return nil
}

// checkConcurrently checks the n of concurrently(n, fn).
func (g *guard) checkConcurrently(n int) error {
	if g == nil {
		return nil
	}
	if lim := g.sb.lim.Concurrently; lim > 0 && n > lim {
		return g.refuse(FlagConcurrently, fmt.Sprintf("concurrently(%d, …)", n))
	}
	return nil
}

// checkSuite checks what suite() declares.
func (g *guard) checkSuite(nodes, concurrency int, timeouts map[string]time.Duration) error {
	if g == nil {
		return nil
	}
	lim := g.sb.lim
	if lim.Nodes > 0 && nodes > lim.Nodes {
		return g.refuse(FlagNodes, fmt.Sprintf("the script asks for %d nodes", nodes))
	}
	if lim.ConcurrencyLimit > 0 && concurrency > lim.ConcurrencyLimit {
		return g.refuse(FlagConcurrencyLimit, fmt.Sprintf("the script asks for %d", concurrency))
	}
	for _, name := range []string{"node_start_timeout", "node_shutdown_timeout", "retry_timeout", "request_timeout", "settle", "poll_interval"} {
		if d := timeouts[name]; lim.TestTime > 0 && d > lim.TestTime {
			return g.refuse(FlagTestTime, fmt.Sprintf("%s = %q is longer", name, d.String()))
		}
	}
	return nil
}

// maxRange is the longest range() a sandboxed script may make: range is
// the one lazy sequence whose length costs nothing to ask for, and list(),
// sorted() and the like would build it whole in one step, where no limit
// can stop them.
func (g *guard) maxRange() int {
	return int(max(1<<20, g.sb.lim.Memory/64))
}

var universeRange = starlark.Universe["range"].(*starlark.Builtin)

// sandboxRange is range() of a sandboxed script: the universe's, refused
// beyond maxRange elements.
func sandboxRange(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := starlark.Call(thread, universeRange, args, kwargs)
	if err != nil {
		return nil, err
	}
	if g := guardOf(thread); g != nil {
		if n := v.(starlark.Sequence).Len(); n > g.maxRange() {
			return nil, g.refuse(FlagMemory, fmt.Sprintf("range() of %d elements; at most %d", n, g.maxRange()))
		}
	}
	return v, nil
}

// sandboxPredeclared is the environment of sandboxed scripts: the
// builtins, and range() bounded.
var sandboxPredeclared = func() starlark.StringDict {
	env := starlark.StringDict{}
	for k, v := range predeclared {
		env[k] = v
	}
	env["range"] = starlark.NewBuiltin("range", sandboxRange)
	env.Freeze()
	return env
}()

// environment returns the predeclared names of a script run with opts.
func (opts Options) environment() starlark.StringDict {
	if opts.Sandbox != nil {
		return sandboxPredeclared
	}
	return predeclared
}
