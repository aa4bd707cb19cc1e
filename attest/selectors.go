package attest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NodeSelector says which nodes a check sends its request to and how many
// of them must pass. Make one with Node or with Do's AllNodes,
// ExactlyOneNode, AtLeastOneNode and ExceptNodes. The zero value selects
// all running nodes, as AllNodes() does.
//
// A selector is resolved each time a check runs, so AllNodes() in an
// Eventually follows nodes as they stop and start.
type NodeSelector struct {
	kind  selectorKind
	names []string
}

type selectorKind int

const (
	selectAll selectorKind = iota
	selectOne
	selectExactlyOne
	selectAtLeastOne
	selectExcept
)

// Node selects the named node; the check passes if that node passes.
func Node(name string) NodeSelector {
	return NodeSelector{kind: selectOne, names: []string{name}}
}

// AllNodes selects the named nodes, or every running node when no names are
// given (stopped and killed nodes are left out); the check passes if every
// selected node passes.
func (d *Do) AllNodes(names ...string) NodeSelector {
	return NodeSelector{kind: selectAll, names: slices.Clone(names)}
}

// ExactlyOneNode selects the named nodes, or every running node when no
// names are given; the check passes if exactly one of them passes.
func (d *Do) ExactlyOneNode(names ...string) NodeSelector {
	return NodeSelector{kind: selectExactlyOne, names: slices.Clone(names)}
}

// AtLeastOneNode selects the named nodes, or every running node when no
// names are given; the check passes if one or more of them pass.
func (d *Do) AtLeastOneNode(names ...string) NodeSelector {
	return NodeSelector{kind: selectAtLeastOne, names: slices.Clone(names)}
}

// ExceptNodes selects every running node except the named ones; the check
// passes if every selected node passes.
func (d *Do) ExceptNodes(names ...string) NodeSelector {
	return NodeSelector{kind: selectExcept, names: slices.Clone(names)}
}

// String renders the selector as the Starlark builtin that makes it:
// `node("n1")`, `all_nodes()`, `exactly_one_node("n1", "n2")`.
func (s NodeSelector) String() string {
	var fn string
	switch s.kind {
	case selectOne:
		fn = "node"
	case selectAll:
		fn = "all_nodes"
	case selectExactlyOne:
		fn = "exactly_one_node"
	case selectAtLeastOne:
		fn = "at_least_one_node"
	case selectExcept:
		fn = "except_nodes"
	}
	quoted := make([]string, len(s.names))
	for i, n := range s.names {
		quoted[i] = strconv.Quote(n)
	}
	return fn + "(" + strings.Join(quoted, ", ") + ")"
}

// short is how a check names its nodes: "n1" for one node, the selector
// otherwise.
func (s NodeSelector) short() string {
	if s.kind == selectOne && len(s.names) == 1 {
		return s.names[0]
	}
	return s.String()
}

// resolve returns the selected node names in cluster order. all is every
// node of the cluster and running reports whether one is running.
func (s NodeSelector) resolve(all []string, running func(string) bool) ([]string, error) {
	for _, n := range s.names {
		if !slices.Contains(all, n) {
			return nil, unknownNode(n, all)
		}
	}
	var out []string
	for _, n := range all {
		named := slices.Contains(s.names, n)
		switch {
		case s.kind == selectExcept:
			if !named && running(n) {
				out = append(out, n)
			}
		case len(s.names) == 0:
			if running(n) {
				out = append(out, n)
			}
		case named:
			out = append(out, n)
		}
	}
	return out, nil
}

// judge decides whether a check over nodes passed, given which of them
// passed. When it did not, problem says why in terms of the selector; it is
// "" for a single node, whose own problems say it all. The failure is
// explained by what the failing nodes got wrong unless too many passed.
func (s NodeSelector) judge(nodes []string, passed []bool) (ok bool, problem string) {
	if len(nodes) == 0 {
		if s.kind == selectExcept || len(s.names) == 0 {
			return false, "no running node to send the request to"
		}
		return false, "no node selected"
	}
	var good, bad []string
	for i, n := range nodes {
		if passed[i] {
			good = append(good, n)
		} else {
			bad = append(bad, n)
		}
	}
	switch s.kind {
	case selectOne:
		return len(bad) == 0, ""
	case selectAll, selectExcept:
		if len(bad) > 0 {
			return false, fmt.Sprintf("expected every node to pass, %d of %d did not (%s)",
				len(bad), len(nodes), strings.Join(bad, ", "))
		}
	case selectExactlyOne:
		switch len(good) {
		case 1:
		case 0:
			return false, fmt.Sprintf("expected exactly one node to pass, none of %d did", len(nodes))
		default:
			return false, fmt.Sprintf("expected exactly one node to pass, %d did (%s)",
				len(good), strings.Join(good, ", "))
		}
	case selectAtLeastOne:
		if len(good) == 0 {
			return false, fmt.Sprintf("expected at least one node to pass, none of %d did", len(nodes))
		}
	}
	return true, ""
}

// unknownNode is a mistake in the suite, for which the target is not to
// blame — unless the name is empty. No suite names a node "" on purpose:
// an empty name is what a lookup in the target's answers gives when it
// finds nothing (leaderNode, _ := findLeader(do) with no leader), so the
// target is to blame, as for any answer that does not name a node.
func unknownNode(name string, all []string) error {
	if name == "" {
		return fmt.Errorf("no node named \"\" in this cluster (nodes: %s): an empty node name, as a lookup in the nodes' answers gives when none names a node (no leader, say)",
			strings.Join(all, ", "))
	}
	return env(fmt.Errorf("no node named %q in this cluster (nodes: %s)", name, strings.Join(all, ", ")))
}
