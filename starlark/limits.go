package starlark

import (
	"context"
	"fmt"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
)

// Limits bound what a sandboxed script may use: Options.Sandbox. The
// script cannot raise them; only whoever runs it can. A script that
// reaches one stops with a *LimitError naming the limit and the flag that
// raises it. docs/sandbox.md describes each. A zero field is no limit;
// start from DefaultLimits.
type Limits struct {
	// Steps bounds the Starlark execution steps of one test (all its
	// threads together), and of the top level.
	Steps uint64
	// TestTime bounds the wall time of one test or setup step, and of the
	// top level. No timeout of the suite may exceed it.
	TestTime time.Duration
	// StageTime bounds the wall time from the first setup step or test to
	// the end of the last.
	StageTime time.Duration
	// Nodes bounds the cluster size suite() may ask for.
	Nodes int
	// Concurrently bounds the calls of one concurrently(n, fn).
	Concurrently int
	// ConcurrencyLimit bounds the suite's concurrency_limit.
	ConcurrencyLimit int
	// RequestBody bounds the bytes of one request body.
	RequestBody int64
	// ResponseBody bounds the bytes of a response body read; a longer body
	// is no answer.
	ResponseBody int64
	// Requests bounds the requests of a stage. A check is charged the most
	// requests it can send: its nodes times the attempts its timing allows.
	Requests int64
	// Sleep bounds the total of sleep() in a stage.
	Sleep time.Duration
	// Depth bounds the Starlark call stack.
	Depth int
	// Memory bounds the heap the run's script values may take, sampled
	// every few milliseconds while Starlark code runs.
	Memory int64
	// Output bounds the bytes print() and log() write in a stage.
	Output int64
	// Disk bounds the bytes of the files a run leaves on disk for people
	// to look at: the visualizations its checks write into the log
	// directory and the report, each file counted once at its latest
	// size. The clstr command enforces it with an artifact.Quota; the
	// script itself writes no file.
	Disk int64

	// Runaway, if set, is called once when script code stopped by a limit
	// is still busy inside one builtin operation after a grace period (a
	// single huge string operation, say) and the process cannot otherwise
	// get it back; the clstr command exits. Nil means wait.
	Runaway func(*LimitError)
}

// DefaultLimits returns the limits of a sandboxed run unless the user sets
// others: generous enough for the built-in stages.
func DefaultLimits() Limits {
	return Limits{
		Steps:            10_000_000,
		TestTime:         2 * time.Minute,
		StageTime:        20 * time.Minute,
		Nodes:            16,
		Concurrently:     10_000,
		ConcurrencyLimit: 128,
		RequestBody:      1 << 20,
		ResponseBody:     4 << 20,
		Requests:         200_000,
		Sleep:            2 * time.Minute,
		Depth:            1000,
		Memory:           1 << 30,
		Output:           16 << 20,
		Disk:             2 << 30,
	}
}

// The flags that raise each limit, as LimitError names them. The clstr
// command defines flags of these names.
const (
	FlagSteps            = "max-steps"
	FlagTestTime         = "max-test-time"
	FlagStageTime        = "max-stage-time"
	FlagNodes            = "max-nodes"
	FlagConcurrently     = "max-concurrently"
	FlagConcurrencyLimit = "max-concurrency-limit"
	FlagRequestBody      = "max-request-body"
	FlagResponseBody     = "max-response-body"
	FlagRequests         = "max-requests"
	FlagSleep            = "max-sleep"
	FlagDepth            = "max-depth"
	FlagMemory           = "max-memory"
	FlagOutput           = "max-output"
	FlagDisk             = "max-disk"
)

// LimitError says that a sandboxed script reached a limit.
type LimitError struct {
	// Limit names it: "execution steps".
	Limit string
	// Value is its value as the user would write it: "100000000", "2m0s".
	Value string
	// Flag is the flag that raises it, without dashes: "max-steps".
	Flag string
	// Test is the test that reached it; "" for the top level.
	Test string
	// Detail says what the script asked for, if that says more: "the
	// script asks for 500 nodes".
	Detail string
}

func (e *LimitError) Error() string {
	where := "at the top level of the script"
	if e.Test != "" {
		where = fmt.Sprintf("in test %q", e.Test)
	}
	detail := ""
	if e.Detail != "" {
		detail = " (" + e.Detail + ")"
	}
	return fmt.Sprintf("limit: %s (%s) exceeded %s%s; raise it with --%s or pass --trust for a challenge you trust",
		e.Limit, e.Value, where, detail, e.Flag)
}

// stepChunk is how many steps a thread runs between two checks of the
// step budget and the call depth.
const stepChunk = 1024

// watchEvery is how often the watchdog samples the heap and the clock.
const watchEvery = 10 * time.Millisecond

// runawayGrace is how long a thread stopped by a limit may stay inside
// one builtin before Limits.Runaway is called, counted in the watchdog's
// samples.
const runawayGrace = 10 * time.Second

// runawayCeiling, times the memory limit, is a heap growth that calls
// Limits.Runaway at once: the step in flight when the limit stopped the
// script may still double a string, but nothing it may do needs that
// much.
const runawayCeiling = 6

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
		g.trip(&LimitError{Limit: "execution steps", Value: strconv.FormatUint(lim.Steps, 10), Flag: FlagSteps})
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
		return g.trip(&LimitError{Limit: "concurrency limit", Value: strconv.Itoa(lim.ConcurrencyLimit), Flag: FlagConcurrencyLimit,
			Detail: fmt.Sprintf("%d threads at once: concurrently inside concurrently", n)})
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
		g.trip(&LimitError{Limit: "execution steps", Value: strconv.FormatUint(lim.Steps, 10), Flag: FlagSteps})
		return
	}
	if lim.Depth > 0 && thread.CallStackDepth() > lim.Depth {
		g.trip(&LimitError{Limit: "call depth", Value: strconv.Itoa(lim.Depth), Flag: FlagDepth})
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

// watch samples the heap, the goroutine stacks and the clock until the
// guard ends.
func (g *guard) watch(base, baseStacks uint64) {
	defer g.wg.Done()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	lim := g.sb.lim
	// stopping counts the watchdog's own samples since the limit was
	// reached, not the wall clock: a thread inside one long copy of
	// memory can hold up the whole process (the garbage collector waits
	// for it to reach a safe point), and a watchdog that wakes after such
	// a pause must not take the pause for time the thread had to stop.
	var stopping time.Duration
	for {
		select {
		case <-g.done:
			return
		case now := <-t.C:
			heap, stacks := memoryBytes()
			// Garbage of earlier tests may be in the first sample: the
			// base follows the heap down as it is collected.
			base = min(base, heap)
			over := lim.Memory > 0 && heap > base && heap-base > uint64(lim.Memory)
			// A builtin recursing through a value nested millions deep
			// (hashing a tuple of a tuple of …) grows a goroutine's stack
			// towards Go's limit, past which the process dies; no step
			// comes between to stop it.
			deep := stacks > baseStacks && stacks-baseStacks > stackCeiling
			switch {
			case deep:
				g.trip(&LimitError{Limit: "call depth", Value: strconv.Itoa(lim.Depth), Flag: FlagDepth, Detail: "a value nested too deep for the runner's stack"})
			case over:
				g.trip(&LimitError{Limit: "memory", Value: byteSize(lim.Memory), Flag: FlagMemory})
			case now.After(g.deadline) && g.stage:
				g.trip(&LimitError{Limit: "stage time", Value: lim.StageTime.String(), Flag: FlagStageTime})
			case now.After(g.deadline):
				g.trip(&LimitError{Limit: "test time", Value: lim.TestTime.String(), Flag: FlagTestTime})
			}
			e := g.hit.Load()
			if e == nil {
				continue
			}
			stopping += watchEvery
			grown := heap - min(heap, base)
			ceiling := lim.Memory > 0 && grown > runawayCeiling*uint64(lim.Memory)
			if (deep || ceiling || stopping > runawayGrace) && lim.Runaway != nil {
				lim.Runaway(e)
				return
			}
		}
	}
}

// stackCeiling is the growth of the goroutine stacks that stops a
// sandboxed script, and calls Limits.Runaway at once: Go lets one
// goroutine's stack grow to 1 GB, and the growth that would pass half of
// that is the last.
const stackCeiling = 256 << 20

var memorySamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/stacks:bytes"},
}
var memoryMu sync.Mutex // guards memorySamples

// memoryBytes returns the bytes of heap objects, live or not yet
// collected, and of goroutine stacks.
func memoryBytes() (heap, stacks uint64) {
	memoryMu.Lock()
	defer memoryMu.Unlock()
	metrics.Read(memorySamples)
	for i, dst := range []*uint64{&heap, &stacks} {
		if v := memorySamples[i].Value; v.Kind() == metrics.KindUint64 {
			*dst = v.Uint64()
		}
	}
	return heap, stacks
}

// refuse reports that the script asked for more than a limit allows.
func (g *guard) refuse(limit, value, flag, detail string) error {
	return g.trip(&LimitError{Limit: limit, Value: value, Flag: flag, Detail: detail})
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
		return g.trip(&LimitError{Limit: "stage time", Value: g.sb.lim.StageTime.String(), Flag: FlagStageTime})
	}
	return g.trip(&LimitError{Limit: "test time", Value: g.sb.lim.TestTime.String(), Flag: FlagTestTime})
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
		return g.refuse("requests", strconv.FormatInt(lim, 10), FlagRequests, "")
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
		return g.refuse("total sleep", lim.String(), FlagSleep, fmt.Sprintf("sleep(%q) makes %v", d.String(), total))
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
		g.refuse("output", byteSize(lim), FlagOutput, "")
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
		return g.refuse("request body size", byteSize(lim), FlagRequestBody, fmt.Sprintf("a body of %s", byteSize(int64(n))))
	}
	return nil
}

// checkConcurrently checks the n of concurrently(n, fn).
func (g *guard) checkConcurrently(n int) error {
	if g == nil {
		return nil
	}
	if lim := g.sb.lim.Concurrently; lim > 0 && n > lim {
		return g.refuse("concurrently calls", strconv.Itoa(lim), FlagConcurrently, fmt.Sprintf("concurrently(%d, …)", n))
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
		return g.refuse("cluster size", strconv.Itoa(lim.Nodes), FlagNodes, fmt.Sprintf("the script asks for %d nodes", nodes))
	}
	if lim.ConcurrencyLimit > 0 && concurrency > lim.ConcurrencyLimit {
		return g.refuse("concurrency limit", strconv.Itoa(lim.ConcurrencyLimit), FlagConcurrencyLimit, fmt.Sprintf("the script asks for %d", concurrency))
	}
	for _, name := range []string{"node_start_timeout", "node_shutdown_timeout", "retry_timeout", "request_timeout", "settle", "poll_interval"} {
		if d := timeouts[name]; lim.TestTime > 0 && d > lim.TestTime {
			return g.refuse("test time", lim.TestTime.String(), FlagTestTime, fmt.Sprintf("%s = %q is longer", name, d.String()))
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
			return nil, g.refuse("memory", byteSize(g.sb.lim.Memory), FlagMemory, fmt.Sprintf("range() of %d elements; at most %d", n, g.maxRange()))
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

// ByteSize renders n bytes as a LimitError does: "1 GiB", "4 MiB".
func ByteSize(n int64) string { return byteSize(n) }

// byteSize renders n bytes as "1 GiB", "4 MiB", "512 KiB" or "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// LimitFlags lists the flags of the limits, in the order the reference
// shows them.
var LimitFlags = []string{
	FlagSteps, FlagTestTime, FlagStageTime, FlagNodes, FlagConcurrently, FlagConcurrencyLimit,
	FlagRequestBody, FlagResponseBody, FlagRequests, FlagSleep, FlagDepth, FlagMemory, FlagOutput,
	FlagDisk,
}

// Set sets the limit that flag raises from its text: a count ("1000"), a
// duration ("90s") or a size ("512MiB", "4MB", "1048576").
func (l *Limits) Set(flag, value string) error {
	count := func(dst *int) error {
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return fmt.Errorf("--%s %q: want a positive whole number", flag, value)
		}
		*dst = n
		return nil
	}
	count64 := func(dst *int64) error {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("--%s %q: want a positive whole number", flag, value)
		}
		*dst = n
		return nil
	}
	duration := func(dst *time.Duration) error {
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("--%s %q: want a positive duration such as \"90s\" or \"5m\"", flag, value)
		}
		*dst = d
		return nil
	}
	size := func(dst *int64) error {
		n, err := ParseSize(value)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", flag, value, err)
		}
		*dst = n
		return nil
	}
	switch flag {
	case FlagSteps:
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("--%s %q: want a positive whole number", flag, value)
		}
		l.Steps = n
		return nil
	case FlagTestTime:
		return duration(&l.TestTime)
	case FlagStageTime:
		return duration(&l.StageTime)
	case FlagNodes:
		return count(&l.Nodes)
	case FlagConcurrently:
		return count(&l.Concurrently)
	case FlagConcurrencyLimit:
		return count(&l.ConcurrencyLimit)
	case FlagRequestBody:
		return size(&l.RequestBody)
	case FlagResponseBody:
		return size(&l.ResponseBody)
	case FlagRequests:
		return count64(&l.Requests)
	case FlagSleep:
		return duration(&l.Sleep)
	case FlagDepth:
		return count(&l.Depth)
	case FlagMemory:
		return size(&l.Memory)
	case FlagOutput:
		return size(&l.Output)
	case FlagDisk:
		return size(&l.Disk)
	}
	return fmt.Errorf("--%s: no such limit", flag)
}

// ParseSize reads a size in bytes: "1048576", "512KiB", "4MiB", "1GiB", or
// with the decimal units KB, MB, GB.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as \"512MiB\" or \"4MB\"")
	}
	return n * mult, nil
}
