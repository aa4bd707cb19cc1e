package starlark

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"

	"github.com/clstr-dev/clstr/attest"
)

// selectorKind mirrors attest's selectors; the binding keeps its own copy
// so that a selector can be made anywhere, even at the top level where no
// cluster exists, and turned into an attest.NodeSelector in a test.
type selectorKind int

const (
	selNode selectorKind = iota
	selAll
	selExactlyOne
	selAtLeastOne
	selExcept
)

var selectorNames = map[selectorKind]string{
	selNode:       "node",
	selAll:        "all_nodes",
	selExactlyOne: "exactly_one_node",
	selAtLeastOne: "at_least_one_node",
	selExcept:     "except_nodes",
}

// selector is the Starlark value of node(…), all_nodes(…) and the others:
// which nodes a check goes to and how many of them must pass. It is
// immutable.
type selector struct {
	kind  selectorKind
	names []string
}

var _ starlark.Value = selector{}

func (s selector) String() string {
	quoted := make([]string, len(s.names))
	for i, n := range s.names {
		quoted[i] = strconv.Quote(n)
	}
	return selectorNames[s.kind] + "(" + strings.Join(quoted, ", ") + ")"
}
func (s selector) Type() string          { return "selector" }
func (s selector) Freeze()               {}
func (s selector) Truth() starlark.Bool  { return starlark.True }
func (s selector) Hash() (uint32, error) { return starlark.String(s.String()).Hash() }

// single reports whether the selector names one node by itself, so that a
// check's run() returns one response rather than a list.
func (s selector) single() bool { return s.kind == selNode }

// attest returns the engine's selector.
func (s selector) attest(do *attest.Do) attest.NodeSelector {
	switch s.kind {
	case selAll:
		return do.AllNodes(s.names...)
	case selExactlyOne:
		return do.ExactlyOneNode(s.names...)
	case selAtLeastOne:
		return do.AtLeastOneNode(s.names...)
	case selExcept:
		return do.ExceptNodes(s.names...)
	}
	return attest.Node(s.names[0])
}

// selectorArg unpacks a selector, or a plain string that names one node.
type selectorArg struct {
	sel   selector
	given bool
}

func (a *selectorArg) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case selector:
		a.sel, a.given = v, true
		return nil
	case starlark.String:
		if v == "" {
			return fmt.Errorf("empty node name: name a node such as \"n1\"")
		}
		a.sel, a.given = selector{kind: selNode, names: []string{string(v)}}, true
		return nil
	case *starlark.List, starlark.Tuple:
		// A list of names, as names() returns, selects them all.
		names, err := nodeNames("selector", starlark.Tuple{v})
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return fmt.Errorf("empty list of nodes: name at least one")
		}
		a.sel, a.given = selector{kind: selAll, names: names}, true
		return nil
	}
	return fmt.Errorf("want a node name (\"n1\"), a list of names or a selector such as all_nodes(), got %s", v.Type())
}

// nodeNameArg unpacks the name of one node: a string, or node("n1").
type nodeNameArg struct{ name string }

func (a *nodeNameArg) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		// As "": what a lookup in the nodes' answers returns when it
		// finds no node; using it fails the test (see attest's
		// unknownNode), as the target's doing.
		a.name = ""
		return nil
	case starlark.String:
		a.name = string(v)
		return nil
	case selector:
		if v.kind == selNode {
			a.name = v.names[0]
			return nil
		}
		return fmt.Errorf("want one node, got %s: pick one name, for example with names(…)[0]", v)
	}
	return fmt.Errorf("want a node name such as \"n1\", got %s", v.Type())
}

// names unpacks variadic node names: strings, or lists or tuples of them.
func nodeNames(fn string, args starlark.Tuple) ([]string, error) {
	var out []string
	for i, a := range args {
		switch a := a.(type) {
		case starlark.NoneType:
			// None and "" name no node: the test fails when the
			// selector is used (see nodeNameArg).
			out = append(out, "")
		case starlark.String:
			out = append(out, string(a))
		case starlark.Indexable: // a list or tuple of names, as names() returns
			for j := 0; j < a.Len(); j++ {
				e := a.Index(j)
				if e == starlark.None {
					out = append(out, "")
					continue
				}
				s, ok := starlark.AsString(e)
				if !ok {
					return nil, fmt.Errorf("%s: argument %d: want node names, got %s in the %s", fn, i+1, e.Type(), a.Type())
				}
				out = append(out, s)
			}
		default:
			return nil, fmt.Errorf("%s: argument %d: want a node name such as \"n1\", got %s", fn, i+1, a.Type())
		}
	}
	return out, nil
}

func makeSelector(kind selectorKind) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(kwargs) > 0 {
			return nil, fmt.Errorf("%s: takes node names only, no keyword arguments", b.Name())
		}
		names, err := nodeNames(b.Name(), args)
		if err != nil {
			return nil, err
		}
		if kind == selNode && len(names) != 1 {
			return nil, fmt.Errorf("node: want exactly one node name, got %d; use all_nodes(…) for several", len(names))
		}
		return selector{kind: kind, names: names}, nil
	}
}

// names(sel) returns the names of the nodes sel selects now.
func builtinNames(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var sel selectorArg
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "selector", &sel); err != nil {
		return nil, err
	}
	ts := testOf(thread)
	names, err := ts.ops(thread).Names(sel.sel.attest(ts.do))
	if err != nil {
		return nil, err
	}
	return stringList(names), nil
}

// nodes(all=False) returns the names of the running nodes, or of every
// node of the cluster with all=True.
func builtinNodes(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var all bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "all?", &all); err != nil {
		return nil, err
	}
	if all {
		return stringList(testOf(thread).do.AllNodeNames()), nil
	}
	return stringList(testOf(thread).do.Nodes()), nil
}

func stringList(ss []string) *starlark.List {
	vs := make([]starlark.Value, len(ss))
	for i, s := range ss {
		vs[i] = starlark.String(s)
	}
	return starlark.NewList(vs)
}
