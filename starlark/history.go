package starlark

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// builtinClients is clients(n, fn, duration=None, ops=None, nemesis=None).
func builtinClients(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		n        int
		fn       starlark.Callable
		duration durationArg
		ops      int
		nemesis  starlark.Callable
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n, "fn", &fn, "duration?", &duration, "ops?", &ops, "nemesis?", &nemesis); err != nil {
		return nil, err
	}
	switch {
	case n < 1:
		return nil, fmt.Errorf("clients: n is %d: run at least one client", n)
	case !duration.given && ops == 0:
		return nil, errors.New("clients: give duration, ops or both, for example clients(5, fn, duration = \"10s\"): without either the clients would run for ever")
	case ops < 0:
		return nil, fmt.Errorf("clients: ops is %d: it cannot be negative", ops)
	}
	if err := takes(b.Name(), fn, 1, "lambda i: fetch(\"n1\", \"/kv/k%d\" % i)"); err != nil {
		return nil, err
	}
	if nemesis != nil {
		if err := takes(b.Name()+" nemesis", nemesis, 0, "a function without parameters that partitions, sleeps and heals"); err != nil {
			return nil, err
		}
		nemesis.Freeze()
	}
	ts := testOf(thread)
	if err := ts.guard.checkConcurrently(n); err != nil {
		return nil, err
	}
	fn.Freeze()

	// Each client and the nemesis run on a thread of their own, made by the
	// goroutine that uses it, and interrupted when the run is cancelled.
	var (
		mu      sync.Mutex // guards threads and stopped
		threads []*starlark.Thread
		stopped bool
	)
	newThread := func(do *attest.Do, name string) *starlark.Thread {
		th := (&testState{run: ts.run, do: do, guard: ts.guard}).thread(name)
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			th.Cancel("the run was interrupted")
		}
		threads = append(threads, th)
		return th
	}
	stop := context.AfterFunc(ts.do.Context(), func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		for _, th := range threads {
			th.Cancel("the run was interrupted")
		}
	})
	defer stop()
	// The threads go back to the test's guard when the clients are done.
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, th := range threads {
			ts.release(th)
		}
	}()

	clientThreads := make([]*starlark.Thread, n)
	opts := attest.ClientOptions{Duration: duration.d, Ops: ops}
	if nemesis != nil {
		var nth *starlark.Thread
		opts.Nemesis = func(do *attest.Do) {
			if nth == nil {
				nth = newThread(do, fmt.Sprintf("%s: nemesis", do.Test()))
			}
			if _, err := starlark.Call(nth, nemesis, nil, nil); err != nil {
				panic(asFailure(do, err, 0))
			}
		}
	}
	h, err := ts.ops(thread).Clients(n, func(do *attest.Do, i int) error {
		if clientThreads[i] == nil {
			clientThreads[i] = newThread(do, fmt.Sprintf("%s: client %d", do.Test(), i))
		}
		if _, err := starlark.Call(clientThreads[i], fn, starlark.Tuple{starlark.MakeInt(i)}, nil); err != nil {
			return asFailure(do, err, 0)
		}
		return nil
	}, opts)
	if err != nil {
		return nil, err
	}
	return newHistory(h), nil
}

// historyValue is the Starlark value of a history: a sequence of
// operations, with the events that happened meanwhile.
type historyValue struct {
	h   history.History
	ops []starlark.Value // made once, so that iteration costs nothing
}

var (
	_ starlark.Indexable = (*historyValue)(nil)
	_ starlark.Iterable  = (*historyValue)(nil)
	_ starlark.HasAttrs  = (*historyValue)(nil)
)

func newHistory(h history.History) *historyValue {
	v := &historyValue{h: h, ops: make([]starlark.Value, len(h.Ops))}
	for i := range h.Ops {
		v.ops[i] = &opValue{op: &v.h.Ops[i]}
	}
	return v
}

func (h *historyValue) String() string {
	c := h.h.Count()
	return fmt.Sprintf("<history of %d operations: %d ok, %d fail, %d unknown>", len(h.h.Ops), c[history.OK], c[history.Fail], c[history.Unknown])
}
func (h *historyValue) Type() string          { return "history" }
func (h *historyValue) Freeze()               {}
func (h *historyValue) Truth() starlark.Bool  { return len(h.ops) > 0 }
func (h *historyValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: history") }
func (h *historyValue) Len() int              { return len(h.ops) }
func (h *historyValue) Index(i int) starlark.Value {
	return h.ops[i]
}
func (h *historyValue) Iterate() starlark.Iterator {
	return starlark.NewList(h.ops).Iterate()
}

// historyAttrs are a history's fields and methods, as the reference
// documents them.
var historyAttrs = []Builtin{
	{Name: "events", Signature: "history.events", Summary: "what happened to the cluster meanwhile (faults, restarts, nemesis steps): a list of structs with time, node, kind, text, test"},
	{Name: "count", Signature: "history.count(outcome)", Summary: "how many operations had the outcome \"ok\", \"fail\" or \"unknown\""},
}

func (h *historyValue) AttrNames() []string { return attrNames(historyAttrs) }

func (h *historyValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "events":
		events := make([]starlark.Value, len(h.h.Events))
		for i, e := range h.h.Events {
			events[i] = starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
				"time": starlark.Float(e.Time.Seconds()), "node": starlark.String(e.Node),
				"kind": starlark.String(e.Kind.String()), "text": starlark.String(e.Text), "test": starlark.String(e.Test),
			})
		}
		l := starlark.NewList(events)
		l.Freeze()
		return l, nil
	case "count":
		return starlark.NewBuiltin("count", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var outcome string
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "outcome", &outcome); err != nil {
				return nil, err
			}
			switch history.Outcome(outcome) {
			case history.OK, history.Fail, history.Unknown:
			default:
				return nil, fmt.Errorf("count: outcome %q: want \"ok\", \"fail\" or \"unknown\"", outcome)
			}
			return starlark.MakeInt(h.h.Count()[history.Outcome(outcome)]), nil
		}), nil
	}
	return nil, nil
}

// opValue is one operation of a history.
type opValue struct{ op *history.Op }

var _ starlark.HasAttrs = (*opValue)(nil)

func (o *opValue) String() string        { return "<operation " + o.op.String() + ">" }
func (o *opValue) Type() string          { return "operation" }
func (o *opValue) Freeze()               {}
func (o *opValue) Truth() starlark.Bool  { return starlark.True }
func (o *opValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: operation") }

// opAttrs are an operation's fields, as the reference documents them.
var opAttrs = []Builtin{
	{Name: "client", Signature: "operation.client", Summary: "the client that made it: 0 … n-1, or -1 for the test's own requests"},
	{Name: "node", Signature: "operation.node", Summary: "the node it went to"},
	{Name: "method", Signature: "operation.method", Summary: "the request's method"},
	{Name: "path", Signature: "operation.path", Summary: "the request's path"},
	{Name: "body", Signature: "operation.body", Summary: "the request's body"},
	{Name: "status", Signature: "operation.status", Summary: "the answer's status; 0 if none came"},
	{Name: "response", Signature: "operation.response", Summary: "the answer's body"},
	{Name: "error", Signature: "operation.error", Summary: "why no answer came, or None"},
	{Name: "invoke", Signature: "operation.invoke", Summary: "when it was sent, in seconds since the run started"},
	{Name: "complete", Signature: "operation.complete", Summary: "when its answer (or the lack of one) was known, in seconds since the run started"},
	{Name: "outcome", Signature: "operation.outcome", Summary: "\"ok\" (2xx), \"fail\" (3xx, 4xx: not applied) or \"unknown\" (5xx, no answer: it may take effect at any later time)"},
	{Name: "test", Signature: "operation.test", Summary: "the test that made it"},
	{Name: "json", Signature: `operation.json(path="", type=None)`, Summary: "the JSON field of the answer at a gjson path, as response.json reads it; None if no answer came"},
}

func (o *opValue) AttrNames() []string { return attrNames(opAttrs) }

func (o *opValue) Attr(name string) (starlark.Value, error) {
	op := o.op
	switch name {
	case "client":
		return starlark.MakeInt(op.Client), nil
	case "node":
		return starlark.String(op.Node), nil
	case "method":
		return starlark.String(op.Method), nil
	case "path":
		return starlark.String(op.Path), nil
	case "body":
		return starlark.String(op.Body), nil
	case "status":
		return starlark.MakeInt(op.Status), nil
	case "response":
		return starlark.String(op.Response), nil
	case "error":
		if op.Error == "" {
			return starlark.None, nil
		}
		return starlark.String(op.Error), nil
	case "invoke":
		return starlark.Float(op.Invoke.Seconds()), nil
	case "complete":
		return starlark.Float(op.Complete.Seconds()), nil
	case "outcome":
		return starlark.String(op.Outcome), nil
	case "test":
		return starlark.String(op.Test), nil
	case "json":
		return starlark.NewBuiltin("json", o.json).BindReceiver(o), nil
	}
	return nil, nil
}

// json is operation.json(path="", type=None): response.json of the
// operation's answer, or None when no answer came.
func (o *opValue) json(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	op := o.op
	r := newResponse(&engine.Response{Node: op.Node, Method: op.Method, Status: op.Status, Body: op.Response}, op.Path)
	if op.Status == 0 {
		// Still unpack, so that a misspelt argument is an error whatever
		// the answer.
		var path string
		var want starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path?", &path, "type?", &want); err != nil {
			return nil, err
		}
		if _, err := jsonTypes(orNone(want)); err != nil {
			return nil, fmt.Errorf("%s: %v", b.Name(), err)
		}
		return starlark.None, nil
	}
	return r.json(thread, b, args, kwargs)
}

// orNone is v, or None for an argument not given.
func orNone(v starlark.Value) starlark.Value {
	if v == nil {
		return starlark.None
	}
	return v
}

func attrNames(table []Builtin) []string {
	names := make([]string, len(table))
	for i, a := range table {
		names[i] = a.Name
	}
	return names
}

// builtinCheckLinearizable is check_linearizable(h, model="kv",
// timeout="30s", hint=None).
func builtinCheckLinearizable(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		hv      *historyValue
		mv      starlark.Value = starlark.String("kv")
		timeout durationArg
		hint    string
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "h", &hv, "model?", &mv, "timeout?", &timeout, "hint?", &hint); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	var (
		m      history.Model
		failed func() error
	)
	switch mv := mv.(type) {
	case starlark.String:
		make, ok := history.Models()[string(mv)]
		if !ok {
			return nil, fmt.Errorf("check_linearizable: no model %q: use \"kv\", \"register\" or one made with model(…)", string(mv))
		}
		m = make()
	case *modelValue:
		m, failed = mv.model(ts)
	default:
		return nil, fmt.Errorf("check_linearizable: model is a %s: want \"kv\", \"register\" or a model(…)", mv.Type())
	}
	t := engine.DefaultCheckTimeout
	timeout.set(&t)
	var hints []string
	if hint != "" {
		hints = append(hints, hint)
	}
	err := ts.ops(thread).CheckLinearizable(hv.h, m, t, hints...)
	if failed != nil {
		if ferr := failed(); ferr != nil {
			// The model's own code failed: the script's error, whatever
			// the check concluded without it.
			return nil, ferr
		}
	}
	if err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// modelValue is a model written in Starlark, as model() returns it.
type modelValue struct {
	name                    string
	init                    starlark.Value
	step, key, describeFunc starlark.Callable
}

func (m *modelValue) String() string        { return "<model " + m.name + ">" }
func (m *modelValue) Type() string          { return "model" }
func (m *modelValue) Freeze()               {}
func (m *modelValue) Truth() starlark.Bool  { return starlark.True }
func (m *modelValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: model") }

// builtinModel is model(init, step, key=None, describe=None, name="custom").
func builtinModel(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := &modelValue{name: "custom"}
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "init", &m.init, "step", &m.step, "key?", &m.key, "describe?", &m.describeFunc, "name?", &m.name); err != nil {
		return nil, err
	}
	if err := takes(b.Name()+" step", m.step, 2, "lambda state, op: (True, op.body) if op.method == \"PUT\" else (op.response == state, state)"); err != nil {
		return nil, err
	}
	m.init.Freeze()
	m.step.Freeze()
	if m.key != nil {
		if err := takes(b.Name()+" key", m.key, 1, "lambda op: op.path"); err != nil {
			return nil, err
		}
		m.key.Freeze()
	}
	if m.describeFunc != nil {
		m.describeFunc.Freeze()
	}
	return m, nil
}

// model makes the Go model that the checker runs: each call of step, key
// and describe runs on a thread of the test. A Starlark error stops the
// search; failed then returns it.
func (m *modelValue) model(ts *testState) (history.Model, func() error) {
	var (
		mu    sync.Mutex // guards first
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	var made []*starlark.Thread // guarded by mu; given back to the guard at the end
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, th := range made {
			ts.release(th)
		}
	}()
	threads := sync.Pool{New: func() any {
		th := ts.thread(ts.do.Test() + ": model")
		mu.Lock()
		made = append(made, th)
		mu.Unlock()
		return th
	}}
	call := func(fn starlark.Callable, args ...starlark.Value) (starlark.Value, bool) {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			return nil, false
		}
		th := threads.Get().(*starlark.Thread)
		defer threads.Put(th)
		v, err := starlark.Call(th, fn, args, nil)
		if err != nil {
			fail(asFailure(ts.do, err, 0))
			return nil, false
		}
		return v, true
	}
	hm := history.Model{
		Name: m.name,
		Init: func() any { return m.init },
		Step: func(state any, op history.Op) (bool, any) {
			v, ok := call(m.step, state.(starlark.Value), &opValue{op: &op})
			if !ok {
				return false, state
			}
			t, isTuple := v.(starlark.Tuple)
			if !isTuple || len(t) != 2 {
				fail(fmt.Errorf("model %s: step returned %s: it must return a tuple (ok, next_state)", m.name, v.Type()))
				return false, state
			}
			t[1].Freeze()
			return bool(t[0].Truth()), t[1]
		},
		Equal: func(a, b any) bool {
			eq, err := starlark.Equal(a.(starlark.Value), b.(starlark.Value))
			if err != nil {
				fail(fmt.Errorf("model %s: compare states: %w", m.name, err))
			}
			return eq
		},
	}
	if m.key != nil {
		hm.Keep = func(op history.Op) bool {
			v, ok := call(m.key, &opValue{op: &op})
			return ok && v != starlark.None
		}
		hm.Partition = func(op history.Op) string {
			v, ok := call(m.key, &opValue{op: &op})
			if !ok {
				return ""
			}
			if s, isStr := starlark.AsString(v); isStr {
				return s
			}
			return v.String()
		}
	}
	if m.describeFunc != nil {
		hm.DescribeState = func(state any) string {
			v, ok := call(m.describeFunc, state.(starlark.Value))
			if !ok {
				return ""
			}
			if s, isStr := starlark.AsString(v); isStr {
				return s
			}
			return v.String()
		}
	}
	return hm, func() error {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
}

func randInt(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("rand.int: n is %d: it draws from 0 … n-1, so n must be at least 1", n)
	}
	return starlark.MakeInt(testOf(thread).do.Rand().IntN(n)), nil
}

func randChoice(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Indexable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "seq", &seq); err != nil {
		return nil, err
	}
	if seq.Len() == 0 {
		return nil, errors.New("rand.choice: the sequence is empty")
	}
	return seq.Index(testOf(thread).do.Rand().IntN(seq.Len())), nil
}

func randFloat(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.Float(testOf(thread).do.Rand().Float64()), nil
}

func randShuffle(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var l *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "list", &l); err != nil {
		return nil, err
	}
	var swapErr error
	testOf(thread).do.Rand().Shuffle(l.Len(), func(i, j int) {
		a, c := l.Index(i), l.Index(j)
		if err := l.SetIndex(i, c); err != nil && swapErr == nil {
			swapErr = err
		}
		l.SetIndex(j, a)
	})
	if swapErr != nil {
		return nil, fmt.Errorf("rand.shuffle: %w", swapErr)
	}
	return starlark.None, nil
}

// inTestBuiltin makes a builtin that only a test or setup function may
// call, as the table's inTest scope does for top-level names.
func inTestBuiltin(name string, fn builtinFunc) *starlark.Builtin {
	return starlark.NewBuiltin(name, Builtin{Name: name, scope: inTest, fn: fn}.scoped())
}
