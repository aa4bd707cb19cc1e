package starlark

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
)

// stepChunk is how many steps a thread runs between two checks of the
// step budget and the call depth.
const stepChunk = 1024

// sandbox is the limits' state of one run of a script (one Script.Suite,
// or one Load): what the whole stage has used so far.
type sandbox struct {
	lim Limits

	requests atomic.Int64
	slept    atomic.Int64 // nanoseconds
	output   atomic.Int64

	stageOnce sync.Once
	stageEnd  time.Time // set by stageOnce
}

func newSandbox(lim *Limits) *sandbox {
	if lim == nil {
		return nil
	}
	return &sandbox{lim: *lim}
}

// guard enforces the limits on the threads of one test (or of the top
// level): it counts their steps, watches their depth, the heap and the
// clock, and stops them all at the first limit reached.
type guard struct {
	sb       *sandbox
	test     string
	deadline time.Time
	stage    bool // the deadline is the stage's, not the test's

	steps atomic.Uint64
	live  atomic.Int64 // threads attached and not released
	hit   atomic.Pointer[LimitError]

	// ctx ends when a limit is reached or the guard ends; blocking
	// builtins of the binding wait on it. interrupt, if set, ends the
	// engine's run when a limit is reached, so that a wait of the engine
	// (a settle, a node start, a request) ends at once too.
	ctx       context.Context
	cancel    context.CancelFunc
	interrupt func(error)

	mu      sync.Mutex // guards threads
	threads []*starlark.Thread

	done chan struct{}
	wg   sync.WaitGroup
}

const guardKey = "clstr.guard"

// guardOf returns the guard of a sandboxed thread, or nil.
func guardOf(thread *starlark.Thread) *guard {
	g, _ := thread.Local(guardKey).(*guard)
	return g
}

// begin starts guarding a test ("" for the top level) whose engine calls
// use ctx; interrupt, if not nil, ends them when a limit is reached. The
// caller must call end.
func (sb *sandbox) begin(ctx context.Context, test string, stage bool, interrupt func(error)) *guard {
	if sb == nil {
		return nil
	}
	g := &guard{sb: sb, test: test, done: make(chan struct{}), interrupt: interrupt}
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.deadline = time.Now().Add(orNever(sb.lim.TestTime))
	if stage {
		sb.stageOnce.Do(func() { sb.stageEnd = time.Now().Add(orNever(sb.lim.StageTime)) })
		if sb.stageEnd.Before(g.deadline) {
			g.deadline, g.stage = sb.stageEnd, true
		}
	}
	base, stacks := memoryBytes()
	g.wg.Add(1)
	go g.watch(base, stacks)
	return g
}

// orNever turns a zero time limit into one that never comes.
func orNever(d time.Duration) time.Duration {
	if d <= 0 {
		return 100 * 365 * 24 * time.Hour
	}
	return d
}

// end stops the watchdog.
func (g *guard) end() {
	if g == nil {
		return
	}
	close(g.done)
	g.wg.Wait()
	g.cancel()
}

// attach puts thread under the guard. Every thread that runs Starlark
// code of a test must be attached: a builtin that creates threads gets
// them from testState.thread (or newThread), which attaches them, and
// gives each back with testState.release when its calls are done.
//
// The first chunk of steps is charged here, before the thread runs, as
// every later chunk is charged before it runs (onSteps): a thread that
// ends within a chunk has been charged for it, so threads made by the
// thousand cannot run uncharged steps. The threads attached at once are
// bounded by the concurrency limit, however concurrently calls nest.
func (g *guard) attach(thread *starlark.Thread) {
	if g == nil {
		return
	}
	thread.SetLocal(guardKey, g)
	thread.OnMaxSteps = g.onSteps
	thread.SetMaxExecutionSteps(thread.Steps + stepChunk)
	g.mu.Lock()
	g.threads = append(g.threads, thread)
	g.mu.Unlock()
	if n, lim := g.steps.Add(stepChunk), g.sb.lim; lim.Steps > 0 && n > lim.Steps {
		g.trip(lim.Exceeded(FlagSteps, ""))
	}
	// A thread of concurrently runs in a slot its call claimed.
	if claimed, _ := thread.Local(claimedKey).(bool); !claimed {
		g.claim(1)
	}
	if e := g.hit.Load(); e != nil {
		thread.Cancel(e.Error())
	}
}

// claimedKey marks a thread whose slot a concurrently call claimed.
const claimedKey = "clstr.claimed"

// claim counts k more threads that may run at once: the calls of
// concurrently (or the clients), with the test's own thread and a
// nemesis, stay within the concurrency limit. A concurrently call claims
// every slot it may use before it starts any, so that concurrently inside
// concurrently is refused whatever the scheduler does, not only when
// enough threads happen to run at the same moment.
func (g *guard) claim(k int) error {
	if g == nil {
		return nil
	}
	lim := g.sb.lim
	if n := g.live.Add(int64(k)); lim.ConcurrencyLimit > 0 && n > int64(lim.ConcurrencyLimit)+2 {
		return g.trip(lim.Exceeded(FlagConcurrencyLimit, fmt.Sprintf("%d threads at once: concurrently inside concurrently", n)))
	}
	return nil
}

// unclaim gives back k slots of claim.
func (g *guard) unclaim(k int) {
	if g != nil {
		g.live.Add(-int64(k))
	}
}

// release says that thread, attached to the guard, runs no more Starlark
// code of the test.
func (g *guard) release(thread *starlark.Thread) {
	if g == nil {
		return
	}
	if claimed, _ := thread.Local(claimedKey).(bool); !claimed {
		g.unclaim(1)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, th := range g.threads {
		if th == thread {
			g.threads = append(g.threads[:i], g.threads[i+1:]...)
			break
		}
	}
}

// onSteps runs on the thread itself every stepChunk steps, and charges
// the next chunk.
func (g *guard) onSteps(thread *starlark.Thread) {
	lim := g.sb.lim
	if n := g.steps.Add(stepChunk); lim.Steps > 0 && n > lim.Steps {
		g.trip(lim.Exceeded(FlagSteps, ""))
		return
	}
	if lim.Depth > 0 && thread.CallStackDepth() > lim.Depth {
		g.trip(lim.Exceeded(FlagDepth, ""))
		return
	}
	thread.SetMaxExecutionSteps(thread.Steps + stepChunk)
}

// trip records the first limit reached and stops every thread of the
// guard; it returns the limit that stopped them.
func (g *guard) trip(e *LimitError) *LimitError {
	e.Test = g.test
	if !g.hit.CompareAndSwap(nil, e) {
		return g.hit.Load()
	}
	g.mu.Lock()
	for _, th := range g.threads {
		th.Cancel(e.Error())
	}
	g.mu.Unlock()
	g.cancel()
	if g.interrupt != nil {
		g.interrupt(e)
	}
	return e
}

// err returns the limit reached, or nil.
func (g *guard) err() *LimitError {
	if g == nil {
		return nil
	}
	return g.hit.Load()
}
