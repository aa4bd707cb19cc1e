package starlark

import (
	"fmt"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/clstr-dev/clstr/attest/history"
)

// builtinCheckSet is check_set(h, within=None, hint=None).
func builtinCheckSet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		hv     starlark.Value
		within durationArg
		hint   string
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "h", &hv, "within?", &within, "hint?", &hint); err != nil {
		return nil, err
	}
	h, err := histories(b.Name(), hv)
	if err != nil {
		return nil, err
	}
	res, err := testOf(thread).ops(thread).CheckSet(h, history.Broadcast, within.d, hints(hint)...)
	if err != nil {
		return nil, err
	}
	return setResultStruct(res), nil
}

// setResultStruct is what check_set returns for a set that passed:
// struct(acked, recovered, stable, reads, latency), latency being
// struct(n, median, p95, max) in seconds.
func setResultStruct(r history.SetResult) *starlarkstruct.Struct {
	seconds := func(d time.Duration) starlark.Value { return starlark.Float(d.Seconds()) }
	l := r.Latency
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"acked":     starlark.MakeInt(r.Acked),
		"recovered": starlark.MakeInt(r.Recovered),
		"stable":    starlark.MakeInt(r.Stable),
		"reads":     starlark.MakeInt(r.Reads),
		"latency": starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
			"n":      starlark.MakeInt(l.N),
			"median": seconds(l.Median),
			"p95":    seconds(l.P95),
			"max":    seconds(l.Max),
		}),
	})
}

// builtinCheckCounter is check_counter(h, hint=None).
func builtinCheckCounter(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		hv   starlark.Value
		hint string
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "h", &hv, "hint?", &hint); err != nil {
		return nil, err
	}
	h, err := histories(b.Name(), hv)
	if err != nil {
		return nil, err
	}
	if err := testOf(thread).ops(thread).CheckCounter(h, history.Counter, hints(hint)...); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// histories is the history of v, or of every history in the list v (and
// in the lists in it) in one, sorted: the clients' work and the final
// reads made after it.
func histories(fn string, v starlark.Value) (history.History, error) {
	var items []starlark.Value
	switch v := v.(type) {
	case *historyValue:
		return v.h, nil
	case *starlark.List:
		for i := range v.Len() {
			items = append(items, v.Index(i))
		}
	case starlark.Tuple:
		items = v
	default:
		return history.History{}, fmt.Errorf("%s: h is a %s: want a history, or a list of histories (such as [work, final_reads])", fn, v.Type())
	}
	var h history.History
	for _, item := range items {
		part, err := histories(fn, item)
		if err != nil {
			return history.History{}, err
		}
		h.Ops = append(h.Ops, part.Ops...)
		h.Events = append(h.Events, part.Events...)
	}
	h.Sort()
	return h, nil
}

// hints is the hint argument as the engine takes it: none if empty.
func hints(hint string) []string {
	if hint == "" {
		return nil
	}
	return []string{hint}
}
