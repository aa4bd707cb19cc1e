// Package starlark binds clstr's test engine, attest, to Starlark: a stage
// is a .star script whose builtins (get, all_nodes, eventually, partition,
// …) call the engine.
//
// Load compiles a script and every module it loads (parse and resolve, so a
// typo costs milliseconds), then runs its top level, which declares the
// suite and registers its tests; no cluster exists yet. Script.Suite turns
// the result into an attest.Suite, run as any other:
//
//	s, err := starlark.Load("election.star", starlark.Options{Stdlib: stdlib.FS})
//	if err != nil {
//		return err // file:line:col: what is wrong
//	}
//	res := s.Suite().Run(ctx, engine.RunOptions{Runtime: rt})
//
// Each test and setup function runs on a Starlark thread of its own, which
// carries the test's *attest.Do in thread-local state and is cancelled when
// the run is. A failed check or a fail() is a *engine.Failure positioned at
// the script line that made it; any other error of Starlark code is an
// *Error with a Starlark backtrace. Builtins is the reference of every
// predeclared function; docs/scripting.md documents them.
package starlark

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// Options configure Load.
type Options struct {
	// Stdlib holds the modules scripts load as "@stdlib//name.star"; nil
	// means none. The clstr command passes stdlib.FS.
	Stdlib fs.FS
	// Root is the directory relative loads may not leave; "" means the
	// script's own directory.
	Root string
	// Print receives what print() prints, with the script position of the
	// call; nil discards it. Every print also goes into the event log.
	Print func(pos, msg string)
	// Sandbox, if set, runs the script sandboxed under these limits (see
	// Limits and docs/sandbox.md); nil trusts it.
	Sandbox *Limits
	// NameRoot, if set, is the directory files are named relative to in
	// positions and errors; see CompileOptions.
	NameRoot string
}

// Script is a loaded stage: its files compiled and its top level run, which
// declared the suite and registered the tests. It is immutable, and
// Suite may be called any number of times, also concurrently.
type Script struct {
	bundle *Bundle
	opts   Options
	cfg    engine.Config
	setups []registered
	tests  []registered
}

type registered struct {
	name string
	fn   starlark.Callable
	pos  syntax.Position
}

// registry collects what the top level declares. It lives in the top-level
// thread's local state; registration builtins find it there.
type registry struct {
	script   *Script
	suiteSet bool
	names    map[string]syntax.Position
}

const (
	registryKey = "clstr.registry"
	testKey     = "clstr.test"
)

func registryOf(thread *starlark.Thread) *registry {
	r, _ := thread.Local(registryKey).(*registry)
	return r
}

// Load compiles the script at path and every module it loads, then runs its
// top level to learn its suite and tests. Nothing touches a cluster. Errors
// are *Error values (or several joined, for a file with several resolve
// errors) that start with the file:line:col of the problem.
func Load(path string, opts Options) (*Script, error) {
	b, err := Compile(path, CompileOptions{Stdlib: opts.Stdlib, Root: opts.Root, NameRoot: opts.NameRoot, Predeclared: opts.environment().Has, Sandbox: opts.Sandbox != nil})
	if err != nil {
		return nil, compileError(err)
	}
	return b.load(opts)
}

// load runs the bundle's top level.
func (b *Bundle) load(opts Options) (*Script, error) {
	s := &Script{bundle: b, opts: opts, cfg: engine.DefaultConfig()}
	reg := &registry{script: s, names: map[string]syntax.Position{}}
	thread := &starlark.Thread{Name: "load " + b.Name()}
	thread.SetLocal(registryKey, reg)
	g := newSandbox(opts.Sandbox).begin(context.Background(), "", false, nil)
	defer g.end()
	g.attach(thread)
	thread.Print = func(thread *starlark.Thread, msg string) {
		if opts.Print != nil && g.chargeOutput(len(msg)) {
			opts.Print(thread.CallFrame(1).Pos.String(), msg)
		}
	}
	_, err := b.exec(thread, opts.environment())
	if e := g.err(); e != nil {
		return nil, &Error{Pos: b.Name(), Msg: e.Error(), Limit: e}
	}
	if err != nil {
		return nil, scriptError(err, 0)
	}
	if len(s.tests) == 0 {
		return nil, &Error{Pos: b.Name(), Msg: "the script registers no test: add test(\"name\", fn) at its top level"}
	}
	return s, nil
}

// Name returns the script's name as positions show it.
func (s *Script) Name() string { return s.bundle.Name() }

// Files returns the files on disk the script was compiled from: the script
// and the modules it loads by relative path.
func (s *Script) Files() []string { return s.bundle.Files() }

// Config returns the suite's configuration, as suite() declared it.
func (s *Script) Config() engine.Config { return s.cfg }

// TestNames returns the names of the tests in registration order.
func (s *Script) TestNames() []string {
	names := make([]string, len(s.tests))
	for i, t := range s.tests {
		names[i] = t.name
	}
	return names
}

// Suite returns an attest suite that runs the script's setup steps and
// tests. Each call returns a new suite with state of its own (unique()
// counts from 1 again).
func (s *Script) Suite() *attest.Suite {
	rs := &runState{script: s, sb: newSandbox(s.opts.Sandbox)}
	c := s.cfg
	if s.opts.Sandbox != nil {
		c.MaxBody = s.opts.Sandbox.ResponseBody
	}
	suite := attest.New(
		attest.WithCluster(c.Nodes),
		attest.WithSpare(c.Spare),
		attest.WithNodeStartTimeout(c.NodeStartTimeout),
		attest.WithNodeShutdownTimeout(c.NodeShutdownTimeout),
		attest.WithRetryTimeout(c.RetryTimeout),
		attest.WithRequestTimeout(c.RequestTimeout),
		attest.WithSettle(c.Settle),
		attest.WithPollInterval(c.PollInterval),
		attest.WithConcurrencyLimit(c.ConcurrencyLimit),
		attest.WithMaxBody(c.MaxBody),
		durability(c.Durable),
	)
	for _, st := range s.setups {
		suite.Setup(rs.body(st))
	}
	for _, t := range s.tests {
		suite.Test(t.name, rs.body(t))
	}
	return suite
}

// runState is the state of one suite built by Script.Suite, shared by the
// threads of its tests.
type runState struct {
	script *Script
	sb     *sandbox // nil for a trusted script
	unique atomic.Int64
}

// testState is what a test's thread carries: the engine's Do and the run.
type testState struct {
	run   *runState
	do    *attest.Do
	guard *guard // nil for a trusted script

	mu    sync.Mutex      // guards unrun and seen
	unrun []string        // positions of checks built and thrown away, in order, at most unrunLimit
	seen  map[string]bool // every such position
}

// noteUnrun notes a check built at pos that can never run.
func (ts *testState) noteUnrun(pos string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.seen[pos] {
		return
	}
	if ts.seen == nil {
		ts.seen = map[string]bool{}
	}
	ts.seen[pos] = true
	if len(ts.unrun) < unrunLimit {
		ts.unrun = append(ts.unrun, pos)
	}
}

// unrunFailure is the test's failure when it built checks it never ran,
// or nil.
func (ts *testState) unrunFailure() *engine.Failure {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.unrun) == 0 {
		return nil
	}
	e := unrunError(ts.unrun, len(ts.seen))
	return &engine.Failure{Test: ts.do.Test(), Pos: e.Pos, Err: positioned{e}}
}

func testOf(thread *starlark.Thread) *testState {
	ts, _ := thread.Local(testKey).(*testState)
	return ts
}

// ops returns the engine's operations, with failures positioned at the
// script line that called the running builtin.
func (ts *testState) ops(thread *starlark.Thread) *attest.Ops {
	return ts.do.Ops(callerPos(thread))
}

// callerPos is the script position of the call to the running builtin.
func callerPos(thread *starlark.Thread) string {
	return thread.CallFrame(1).Pos.String()
}

// thread returns a thread for Starlark code of a test, without a hook
// that cancels it; see newThread.
func (ts *testState) thread(name string) *starlark.Thread {
	return ts.threadIn(name, false)
}

// claimedThread is thread for a slot that a concurrently call claimed.
func (ts *testState) claimedThread(name string) *starlark.Thread {
	return ts.threadIn(name, true)
}

func (ts *testState) threadIn(name string, claimed bool) *starlark.Thread {
	thread := &starlark.Thread{Name: name}
	thread.SetLocal(testKey, ts)
	thread.SetLocal(claimedKey, claimed)
	ts.guard.attach(thread)
	opts := ts.run.script.opts
	thread.Print = func(thread *starlark.Thread, msg string) {
		if !ts.guard.chargeOutput(len(msg)) {
			return
		}
		ts.do.Log("%s", msg)
		if opts.Print != nil {
			opts.Print(callerPos(thread), msg)
		}
	}
	return thread
}

// release gives back a thread made by thread or newThread whose Starlark
// code is done: a builtin that makes threads calls it for each, so that
// the threads the test runs at once stay within the concurrency limit.
func (ts *testState) release(thread *starlark.Thread) { ts.guard.release(thread) }

// newThread returns a thread for a test body, which the run's cancellation
// interrupts between builtins (the builtins see the run's context through
// the engine). The caller must call stop when the thread is done.
func (ts *testState) newThread(name string) (thread *starlark.Thread, stop func() bool) {
	thread = ts.thread(name)
	stop = context.AfterFunc(ts.do.Context(), func() {
		thread.Cancel("the run was interrupted")
	})
	return thread, stop
}

// body turns a registered Starlark function into a test body: it runs on a
// fresh thread, and an error stops the test as its failure.
func (rs *runState) body(reg registered) func(*attest.Do) {
	return func(do *attest.Do) {
		ts := &testState{run: rs, do: do}
		// A limit ends the run, and with it whatever the engine waits
		// on for the test.
		ts.guard = rs.sb.begin(do.Context(), do.Test(), true, do.Interrupt)
		defer ts.guard.end()
		thread, stop := ts.newThread(do.Test())
		defer stop()
		v, err := starlark.Call(thread, reg.fn, nil, nil)
		if c, ok := v.(*check); ok {
			// test("up", lambda: get("n1", "/health").status(200)):
			// nothing runs the check a test returns.
			ts.noteUnrun(c.made.String())
		}
		var failure error
		if err != nil {
			// The failure's text (message, hints) is the script's
			// output too.
			failure = asFailure(do, err, 0)
			ts.guard.chargeOutput(len(failure.Error()))
		}
		if e := ts.guard.err(); e != nil {
			do.Fail(&engine.Failure{Test: do.Test(), Pos: reg.pos.String(), Err: e})
			return
		}
		if failure == nil {
			// A test that failed shows its own failure; one that passed
			// may have passed only because a check never ran.
			if f := ts.unrunFailure(); f != nil {
				ts.guard.chargeOutput(len(f.Error()))
				failure = f
			}
		}
		if failure != nil {
			do.Fail(failure)
		}
	}
}

// builtinSuite is suite(cluster=1, …).
func builtinSuite(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	reg := registryOf(thread)
	if reg.suiteSet {
		return nil, errors.New("suite: called twice: declare the suite once, at the top of the script")
	}
	if len(reg.script.tests) > 0 || len(reg.script.setups) > 0 {
		return nil, errors.New("suite: call it before the first setup() or test(), so that they run on the cluster it declares")
	}
	cfg := engine.DefaultConfig()
	var nodeStart, nodeShutdown, retry, request, settle, poll durationArg
	if len(args) > 0 {
		return nil, errors.New("suite: takes keyword arguments only, for example suite(cluster = 3)")
	}
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"cluster?", &cfg.Nodes,
		"spare?", &cfg.Spare,
		"node_start_timeout?", &nodeStart,
		"node_shutdown_timeout?", &nodeShutdown,
		"retry_timeout?", &retry,
		"request_timeout?", &request,
		"settle?", &settle,
		"poll_interval?", &poll,
		"concurrency_limit?", &cfg.ConcurrencyLimit,
		"durability?", &cfg.Durable,
	); err != nil {
		return nil, err
	}
	nodeStart.set(&cfg.NodeStartTimeout)
	nodeShutdown.set(&cfg.NodeShutdownTimeout)
	retry.set(&cfg.RetryTimeout)
	request.set(&cfg.RequestTimeout)
	settle.set(&cfg.Settle)
	poll.set(&cfg.PollInterval)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	if err := guardOf(thread).checkSuite(cfg.Nodes+cfg.Spare, cfg.ConcurrencyLimit, map[string]time.Duration{
		"node_start_timeout": cfg.NodeStartTimeout, "node_shutdown_timeout": cfg.NodeShutdownTimeout,
		"retry_timeout": cfg.RetryTimeout, "request_timeout": cfg.RequestTimeout,
		"settle": cfg.Settle, "poll_interval": cfg.PollInterval,
	}); err != nil {
		return nil, err
	}
	reg.suiteSet = true
	reg.script.cfg = cfg
	return starlark.None, nil
}

// builtinSetup is setup(fn).
func builtinSetup(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn); err != nil {
		return nil, err
	}
	if err := noParams(b.Name(), fn); err != nil {
		return nil, err
	}
	reg := registryOf(thread)
	reg.script.setups = append(reg.script.setups, registered{name: "setup", fn: fn, pos: thread.CallFrame(1).Pos})
	return starlark.None, nil
}

// testNamePattern is what a test name may look like: printable, one line.
var testNamePattern = regexp.MustCompile(`^[^\x00-\x1f\x7f]+$`)

// builtinTest is test(name, fn).
func builtinTest(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var fn starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "fn", &fn); err != nil {
		return nil, err
	}
	if g := guardOf(thread); !g.chargeOutput(len(name)) {
		return nil, g.err()
	}
	if !testNamePattern.MatchString(name) {
		return nil, fmt.Errorf("test: name %q: give a test a non-empty name on one line", name)
	}
	if err := noParams(b.Name(), fn); err != nil {
		return nil, err
	}
	reg := registryOf(thread)
	pos := thread.CallFrame(1).Pos
	if prev, dup := reg.names[name]; dup {
		return nil, fmt.Errorf("test: a test named %q is already registered at %s: give each test its own name", name, prev)
	}
	reg.names[name] = pos
	reg.script.tests = append(reg.script.tests, registered{name: name, fn: fn, pos: pos})
	return starlark.None, nil
}

// noParams checks that a test, setup or retried function can be called
// without arguments.
func noParams(builtin string, fn starlark.Callable) error {
	return takes(builtin, fn, 0, "def my_test(): …")
}

// takes checks, where it can, that fn can be called with n positional
// arguments, so that a wrong function is reported where it is passed rather
// than when the cluster is up. example shows a function that fits.
func takes(builtin string, fn starlark.Callable, n int, example string) error {
	f, ok := fn.(*starlark.Function)
	if !ok {
		return nil
	}
	params := f.NumParams()
	if f.HasVarargs() {
		params--
	}
	if f.HasKwargs() {
		params--
	}
	required := 0
	for i := 0; i < params; i++ {
		if f.ParamDefault(i) == nil {
			required++
		}
	}
	positional := params - f.NumKwonlyParams()
	if required > n || (n > positional && !f.HasVarargs()) {
		return fmt.Errorf("%s: %s must take %d argument(s), but it takes %d; pass a function such as %s",
			builtin, f.Name(), n, required, example)
	}
	return nil
}

// builtinUnique is unique(prefix="u").
func builtinUnique(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	prefix := "u"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "prefix?", &prefix); err != nil {
		return nil, err
	}
	n := testOf(thread).run.unique.Add(1)
	return starlark.String(fmt.Sprintf("%s-%d", prefix, n)), nil
}

// builtinLog is log(message).
func builtinLog(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "message", &msg); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	if s := str(msg); ts.guard.chargeOutput(len(s)) {
		ts.do.Log("%s", s)
	}
	return starlark.None, nil
}

// builtinFail is fail(message).
func builtinFail(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "message", &msg); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	if ts == nil {
		// At the top level there is no test to fail: the script stops.
		return nil, errors.New(str(msg))
	}
	return nil, &engine.Failure{Test: ts.do.Test(), Pos: callerPos(thread), Problem: str(msg)}
}

// str renders a value as print does: strings without quotes.
func str(v starlark.Value) string {
	if s, ok := starlark.AsString(v); ok {
		return s
	}
	return v.String()
}
