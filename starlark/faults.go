package starlark

import (
	"fmt"
	"strings"
	"syscall"

	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
)

// makeNodeOp returns start(name), stop(name) or kill(name).
func makeNodeOp(op string) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name nodeNameArg
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
			return nil, err
		}
		ops := testOf(thread).ops(thread)
		var err error
		switch op {
		case "start":
			err = ops.Start(name.name)
		case "stop":
			err = ops.Stop(name.name)
		case "kill":
			err = ops.Kill(name.name)
		}
		if err != nil {
			return nil, err
		}
		return starlark.None, nil
	}
}

// builtinDataSize is data_size(name).
func builtinDataSize(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name nodeNameArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	n, err := testOf(thread).ops(thread).DataSize(name.name)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(n), nil
}

// builtinRestart is restart(name, signal="SIGTERM").
func builtinRestart(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name nodeNameArg
	signal := "SIGTERM"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "signal?", &signal); err != nil {
		return nil, err
	}
	var sig syscall.Signal
	switch strings.ToUpper(signal) {
	case "SIGTERM", "TERM":
		sig = syscall.SIGTERM
	case "SIGKILL", "KILL":
		sig = syscall.SIGKILL
	default:
		return nil, fmt.Errorf("restart: signal %q: use \"SIGTERM\" (a graceful stop) or \"SIGKILL\" (a crash)", signal)
	}
	if err := testOf(thread).ops(thread).Restart(name.name, sig); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// builtinPartition is partition(*groups).
func builtinPartition(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("partition: takes groups of node names only, no keyword arguments")
	}
	if len(args) < 2 {
		return nil, fmt.Errorf("partition: give at least two groups, for example partition([\"n1\", \"n2\"], [\"n3\", \"n4\", \"n5\"])")
	}
	groups := make([][]string, len(args))
	for i, a := range args {
		if _, ok := a.(starlark.String); ok {
			return nil, fmt.Errorf("partition: group %d is the string %s: write each group as a list, [%s]", i+1, a, a)
		}
		g, ok := a.(starlark.Indexable)
		if !ok {
			return nil, fmt.Errorf("partition: group %d: want a list of node names, got %s", i+1, a.Type())
		}
		names, err := nodeNames("partition", starlark.Tuple{g})
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("partition: group %d is empty", i+1)
		}
		groups[i] = names
	}
	if err := testOf(thread).ops(thread).Partition(groups...); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// builtinHeal is heal().
func builtinHeal(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if err := testOf(thread).ops(thread).Heal(); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// builtinImpair is impair(selector, *impairments, towards=None).
func builtinImpair(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var towards selectorArg
	for _, kw := range kwargs {
		if kw[0] != starlark.String("towards") {
			return nil, fmt.Errorf("impair: unexpected keyword argument %s: the only one is towards", kw[0])
		}
		if kw[1] != starlark.None {
			if err := towards.Unpack(kw[1]); err != nil {
				return nil, fmt.Errorf("impair: for parameter towards: %w", err)
			}
		}
	}
	if len(args) < 2 {
		return nil, fmt.Errorf("impair: give a selector and at least one impairment, for example impair(all_nodes(), delay(\"100ms\"))")
	}
	var sel selectorArg
	if err := sel.Unpack(args[0]); err != nil {
		return nil, fmt.Errorf("impair: for parameter selector: %w", err)
	}
	imps := make([]attest.Impairment, len(args)-1)
	for i, a := range args[1:] {
		imp, ok := a.(impairment)
		if !ok {
			return nil, fmt.Errorf("impair: argument %d: want an impairment made by delay, loss, duplicate or reorder, got %s", i+2, a.Type())
		}
		imps[i] = imp.imp
	}
	if err := cluster.Impairments(imps).Validate(); err != nil {
		return nil, fmt.Errorf("impair: %w", err)
	}
	ts := testOf(thread)
	ops := ts.ops(thread)
	var err error
	if towards.given {
		err = ops.ImpairTowards(sel.sel.attest(ts.do), towards.sel.attest(ts.do), imps...)
	} else {
		err = ops.Impair(sel.sel.attest(ts.do), imps...)
	}
	if err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// builtinPause is pause(selector).
func builtinPause(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var sel selectorArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "selector", &sel); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	if err := ts.ops(thread).Pause(sel.sel.attest(ts.do)); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// builtinResume is resume(selector=None).
var builtinResume = selectedOrAll((*attest.Ops).Resume)

// builtinRepair is repair(selector=None).
var builtinRepair = selectedOrAll((*attest.Ops).Repair)

// selectedOrAll makes a builtin name(selector=None) of a fault's undoing,
// which with no selector undoes it on every node.
func selectedOrAll(undo func(*attest.Ops, ...attest.NodeSelector) error) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var sel selectorArg
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "selector??", &sel); err != nil {
			return nil, err
		}
		ts := testOf(thread)
		var sels []attest.NodeSelector
		if sel.given {
			sels = append(sels, sel.sel.attest(ts.do))
		}
		if err := undo(ts.ops(thread), sels...); err != nil {
			return nil, err
		}
		return starlark.None, nil
	}
}

// builtinCut is cut(src, dst).
func builtinCut(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src, dst selectorArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "src", &src, "dst", &dst); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	if err := ts.ops(thread).Cut(src.sel.attest(ts.do), dst.sel.attest(ts.do)); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// impairment is the Starlark value of delay(…), loss(…), duplicate(…) and
// reorder(…). It is immutable.
type impairment struct {
	imp  attest.Impairment
	desc string
}

var _ starlark.Value = impairment{}

func (i impairment) String() string        { return i.desc }
func (i impairment) Type() string          { return "impairment" }
func (i impairment) Freeze()               {}
func (i impairment) Truth() starlark.Bool  { return starlark.True }
func (i impairment) Hash() (uint32, error) { return starlark.String(i.desc).Hash() }

// builtinDelay is delay(duration, jitter=None).
func builtinDelay(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d, jitter durationArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "duration", &d, "jitter??", &jitter); err != nil {
		return nil, err
	}
	imp := attest.Delay(d.d)
	desc := fmt.Sprintf("delay(%q)", d.d)
	if jitter.given {
		imp = attest.Delay(d.d, jitter.d)
		desc = fmt.Sprintf("delay(%q, jitter = %q)", d.d, jitter.d)
	}
	if err := imp.Validate(); err != nil {
		return nil, fmt.Errorf("delay: %w", err)
	}
	return impairment{imp, desc}, nil
}

// makePercent returns loss(percent), duplicate(percent) or reorder(percent).
func makePercent(kind string) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var pct starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "percent", &pct); err != nil {
			return nil, err
		}
		p, ok := starlark.AsFloat(pct)
		if !ok {
			return nil, fmt.Errorf("%s: for parameter percent: want a number from 0 to 100, got %s", kind, pct.Type())
		}
		var imp attest.Impairment
		switch kind {
		case "loss":
			imp = attest.Loss(p)
		case "duplicate":
			imp = attest.Duplicate(p)
		default:
			imp = attest.Reorder(p)
		}
		if err := imp.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		return impairment{imp, fmt.Sprintf("%s(%s)", kind, pct)}, nil
	}
}
