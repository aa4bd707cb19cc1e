package starlark

import (
	"slices"
	"testing"

	"go.starlark.net/starlark"
)

// sandboxAudit is every name a script can call, each with why a sandboxed
// script may have it. A builtin added to the table, or a name a new
// go.starlark.net adds to its universe, fails TestSandboxAudit until
// someone decides here whether it reaches outside the cluster.
var sandboxAudit = map[string]string{
	// Registration, at the top level.
	"suite": "declares the cluster; bounded by the limits", "setup": "registers a function", "test": "registers a function",
	// Requests: only to a node by name and path, counted.
	"get": "node and path only", "put": "node and path only", "post": "node and path only",
	"delete": "node and path only", "patch": "node and path only", "fetch": "node and path only",
	// Selectors and names of the script's own cluster.
	"node": "a value", "all_nodes": "a value", "exactly_one_node": "a value", "at_least_one_node": "a value",
	"except_nodes": "a value", "names": "the cluster's own names", "nodes": "the cluster's own names",
	"addr": "a node's address inside its own cluster",
	// Matchers: pure values.
	"eq": "a value", "gt": "a value", "lt": "a value", "is_null": "a value", "contains": "a value",
	"matches": "a value (RE2: linear time)", "has_len": "a value", "one_of": "a value", "not_": "a value",
	// Timing: bounded by the test time and the sleep total.
	"eventually": "bounded by the test time", "consistently": "bounded by the test time",
	"sleep": "bounded by the sleep total", "concurrently": "bounded by the concurrency limits",
	// Histories: clients are bounded like concurrently and by the test
	// time; a check computes on the history, bounded by its timeout and,
	// for a model written in Starlark, by the step limit.
	"clients": "bounded by the concurrency limits and the test time", "check_linearizable": "computes, bounded by its timeout and the steps",
	"check_set": "computes in time linear in the history, which the request limits bound", "check_counter": "computes in time linear in the history, which the request limits bound",
	"model": "a value", "rand": "draws from the run's seed",
	// Faults on the script's own nodes only.
	"start": "own nodes", "stop": "own nodes", "kill": "own nodes", "restart": "own nodes", "data_size": "own nodes", "power_loss": "own nodes",
	"partition": "own nodes", "heal": "own nodes", "impair": "own nodes", "repair": "own nodes",
	"pause": "own nodes", "resume": "own nodes", "cut": "own nodes", "traffic": "reads the own nodes' counters",
	"delay": "a value", "loss": "a value", "duplicate": "a value", "reorder": "a value",
	// go.starlark.net's json module: pure functions of their arguments,
	// refusing values and texts nested deeper than the runner's stack
	// allows.
	"json": "pure; nesting bounded",
	// Tests.
	"fail": "fails the test", "log": "the run's event log, bounded by the output limit",
	"unique": "a counter of the run",
	// The Starlark universe: pure functions of their arguments.
	"False": "a constant", "None": "a constant", "True": "a constant",
	"abs": "pure", "all": "pure", "any": "pure", "bool": "pure", "bytes": "pure", "chr": "pure",
	"dict": "pure", "dir": "pure", "enumerate": "pure", "float": "pure", "getattr": "pure",
	"hasattr": "pure", "hash": "pure", "int": "pure", "len": "pure", "list": "pure", "max": "pure",
	"min": "pure", "ord": "pure", "repr": "pure", "reversed": "pure", "set": "pure", "sorted": "pure",
	"str": "pure", "tuple": "pure", "type": "pure", "zip": "pure",
	"print": "the run's output, bounded by the output limit",
	"range": "bounded in the sandbox to max-memory/64 elements",
}

func TestSandboxAudit(t *testing.T) {
	var names []string
	for _, env := range []starlark.StringDict{sandboxPredeclared, starlark.Universe} {
		names = append(names, env.Keys()...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		if _, ok := sandboxAudit[name]; !ok {
			t.Errorf("%s is callable by scripts but not audited: say in sandboxAudit why a sandboxed script may have it, or leave it out of sandboxPredeclared", name)
		}
	}
	for name := range sandboxAudit {
		if !slices.Contains(names, name) {
			t.Errorf("sandboxAudit names %s, which scripts cannot call", name)
		}
	}
	if sandboxPredeclared["range"] == starlark.Universe["range"] {
		t.Error("sandboxed scripts get the universe's unbounded range()")
	}
}
