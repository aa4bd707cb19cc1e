package starlark

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// builtinFunc is the Go signature of a Starlark builtin.
type builtinFunc = func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// scope says where a builtin may be called.
type scope int

const (
	// anywhere: values such as matchers and selectors.
	anywhere scope = iota
	// topLevel: registration (suite, setup, test), while the script's top
	// level runs, before the cluster exists.
	topLevel
	// inTest: anything that needs the cluster, inside a test or setup
	// function.
	inTest
)

// Builtin describes one predeclared function of a script, as the reference
// (docs/scripting.md) documents it.
type Builtin struct {
	// Name is the name scripts call it by: "get".
	Name string
	// Signature is how the reference shows it:
	// "get(selector, path, body=None, headers=None)".
	Signature string
	// Summary says in one line what it does.
	Summary string

	scope scope
	fn    builtinFunc
}

// builtins is the one table of predeclared functions: Predeclared builds
// the scripts' environment from it and a test holds docs/scripting.md to
// it, so the two cannot drift apart.
var builtins = []Builtin{
	// Registration.
	{Name: "suite", Signature: `suite(cluster=1, spare=0, node_start_timeout="10s", node_shutdown_timeout="5s", retry_timeout="5s", request_timeout="5s", settle="0s", poll_interval="100ms", concurrency_limit=64, durability=False)`,
		Summary: "declares the cluster and the suite's timeouts; at most once, before the first test", scope: topLevel, fn: builtinSuite},
	{Name: "setup", Signature: "setup(fn)", Summary: "adds fn to the steps run once the cluster is ready, before the first test", scope: topLevel, fn: builtinSetup},
	{Name: "test", Signature: "test(name, fn)", Summary: "registers a test; tests run in registration order", scope: topLevel, fn: builtinTest},

	// Requests.
	{Name: "get", Signature: "get(selector, path, body=None, headers=None)", Summary: "a check of a GET request", scope: inTest, fn: makeRequest("GET")},
	{Name: "put", Signature: "put(selector, path, body=None, headers=None)", Summary: "a check of a PUT request", scope: inTest, fn: makeRequest("PUT")},
	{Name: "post", Signature: "post(selector, path, body=None, headers=None)", Summary: "a check of a POST request", scope: inTest, fn: makeRequest("POST")},
	{Name: "delete", Signature: "delete(selector, path, body=None, headers=None)", Summary: "a check of a DELETE request", scope: inTest, fn: makeRequest("DELETE")},
	{Name: "patch", Signature: "patch(selector, path, body=None, headers=None)", Summary: "a check of a PATCH request", scope: inTest, fn: makeRequest("PATCH")},
	{Name: "fetch", Signature: `fetch(name, path, method="GET", body=None, headers=None, timeout=None)`, Summary: "one request that checks nothing: the response, or None if the node did not answer", scope: inTest, fn: builtinFetch},

	// Selectors.
	{Name: "node", Signature: "node(name)", Summary: "selects one node", scope: anywhere, fn: makeSelector(selNode)},
	{Name: "all_nodes", Signature: "all_nodes(*names)", Summary: "selects the named nodes, or every running node; all must pass", scope: anywhere, fn: makeSelector(selAll)},
	{Name: "exactly_one_node", Signature: "exactly_one_node(*names)", Summary: "selects the named nodes, or every running node; exactly one must pass", scope: anywhere, fn: makeSelector(selExactlyOne)},
	{Name: "at_least_one_node", Signature: "at_least_one_node(*names)", Summary: "selects the named nodes, or every running node; one or more must pass", scope: anywhere, fn: makeSelector(selAtLeastOne)},
	{Name: "except_nodes", Signature: "except_nodes(*names)", Summary: "selects every running node but the named ones; all must pass", scope: anywhere, fn: makeSelector(selExcept)},
	{Name: "names", Signature: "names(selector)", Summary: "the names of the nodes a selector selects now", scope: inTest, fn: builtinNames},
	{Name: "nodes", Signature: "nodes(all=False)", Summary: "the names of the running nodes, or of every node with all=True", scope: inTest, fn: builtinNodes},
	{Name: "addr", Signature: "addr(name)", Summary: "the node's address inside the cluster (its ADDR)", scope: inTest, fn: builtinAddr},

	// Matchers.
	{Name: "eq", Signature: "eq(value)", Summary: "matches a value equal to value; numbers compare as numbers", scope: anywhere, fn: builtinEq},
	{Name: "gt", Signature: "gt(value)", Summary: "matches a value greater than value", scope: anywhere, fn: makeOrder(true)},
	{Name: "lt", Signature: "lt(value)", Summary: "matches a value less than value", scope: anywhere, fn: makeOrder(false)},
	{Name: "is_null", Signature: "is_null()", Summary: "matches JSON null, a missing JSON field or a missing header", scope: anywhere, fn: builtinIsNull},
	{Name: "contains", Signature: "contains(text)", Summary: "matches text that contains text", scope: anywhere, fn: builtinContains},
	{Name: "matches", Signature: "matches(pattern)", Summary: "matches text in which the regular expression finds a match", scope: anywhere, fn: builtinMatches},
	{Name: "has_len", Signature: "has_len(n)", Summary: "matches a JSON array or object, or text, of length n", scope: anywhere, fn: builtinHasLen},
	{Name: "one_of", Signature: "one_of(*values)", Summary: "matches a value equal to any of values", scope: anywhere, fn: builtinOneOf},
	{Name: "not_", Signature: "not_(matcher)", Summary: "matches what matcher does not", scope: anywhere, fn: builtinNot},

	// Timing.
	{Name: "eventually", Signature: "eventually(fn, timeout=None)", Summary: "calls fn until it passes or the timeout expires; returns fn's result", scope: inTest, fn: makeRetry(true)},
	{Name: "consistently", Signature: "consistently(fn, timeout=None)", Summary: "calls fn for the whole timeout; every call must pass", scope: inTest, fn: makeRetry(false)},
	{Name: "sleep", Signature: "sleep(duration)", Summary: "pauses the test", scope: inTest, fn: builtinSleep},
	{Name: "concurrently", Signature: "concurrently(n, fn)", Summary: "calls fn(1) … fn(n) in parallel; returns their results in order", scope: inTest, fn: builtinConcurrently},

	// Histories.
	{Name: "clients", Signature: "clients(n, fn, duration=None, ops=None, nemesis=None)", Summary: "n clients call fn(i) again and again, while nemesis() runs beside them; returns the history of their requests", scope: inTest, fn: builtinClients},
	{Name: "check_linearizable", Signature: `check_linearizable(h, model="kv", timeout="30s", hint=None)`, Summary: "fails the test unless the history's operations can be ordered so that the model explains what each saw", scope: inTest, fn: builtinCheckLinearizable},
	{Name: "check_set", Signature: "check_set(h, within=None, hint=None)", Summary: "fails the test unless every acknowledged broadcast shows, and keeps showing, on every node read after it (set-full); returns the counts and latencies", scope: inTest, fn: builtinCheckSet},
	{Name: "check_counter", Signature: "check_counter(h, hint=None)", Summary: "fails the test unless every node's last read of the counter is the sum of the acknowledged adds", scope: inTest, fn: builtinCheckCounter},
	{Name: "model", Signature: `model(init, step, key=None, describe=None, name="custom")`, Summary: "a model for check_linearizable written in Starlark: step(state, op) returns (ok, next_state)", scope: anywhere, fn: builtinModel},
	{Name: "rand.int", Signature: "rand.int(n)", Summary: "a random integer from 0 to n-1, drawn from the run's seed", scope: inTest, fn: randInt},
	{Name: "rand.choice", Signature: "rand.choice(seq)", Summary: "a random element of a non-empty sequence", scope: inTest, fn: randChoice},
	{Name: "rand.float", Signature: "rand.float()", Summary: "a random float in [0, 1)", scope: inTest, fn: randFloat},
	{Name: "rand.shuffle", Signature: "rand.shuffle(list)", Summary: "shuffles a list in place", scope: inTest, fn: randShuffle},

	// Nodes and faults.
	{Name: "start", Signature: "start(name)", Summary: "starts a stopped or killed node and waits for GET /health", scope: inTest, fn: makeNodeOp("start")},
	{Name: "stop", Signature: "stop(name)", Summary: "stops a node with SIGTERM, then SIGKILL after the shutdown timeout", scope: inTest, fn: makeNodeOp("stop")},
	{Name: "kill", Signature: "kill(name)", Summary: "kills a node with SIGKILL", scope: inTest, fn: makeNodeOp("kill")},
	{Name: "power_loss", Signature: "power_loss(name)", Summary: "cuts a node's power: it stops at once, and its DATA_DIR keeps only what was fsynced; needs suite(durability = True)", scope: inTest, fn: builtinPowerLoss},
	{Name: "data_size", Signature: "data_size(name)", Summary: "the bytes of the files in a node's DATA_DIR, running or not, measured from outside the node", scope: inTest, fn: builtinDataSize},
	{Name: "traffic", Signature: "traffic(since=None)", Summary: "what the nodes sent each other, counted from outside them: since counting began, or since an earlier reading", scope: inTest, fn: builtinTraffic},
	{Name: "restart", Signature: `restart(name, signal="SIGTERM")`, Summary: "stops a node (SIGTERM, or SIGKILL) and starts it again", scope: inTest, fn: builtinRestart},
	{Name: "pause", Signature: "pause(selector)", Summary: "freezes the processes of the selected nodes; their sockets stay open", scope: inTest, fn: builtinPause},
	{Name: "resume", Signature: "resume(selector=None)", Summary: "thaws the selected paused nodes, or every paused node", scope: inTest, fn: builtinResume},
	{Name: "partition", Signature: "partition(*groups)", Summary: "cuts the network between groups of nodes", scope: inTest, fn: builtinPartition},
	{Name: "cut", Signature: "cut(src, dst)", Summary: "drops what the src nodes send to the dst nodes; the other direction flows", scope: inTest, fn: builtinCut},
	{Name: "heal", Signature: "heal()", Summary: "removes every partition and every cut", scope: inTest, fn: builtinHeal},
	{Name: "impair", Signature: "impair(selector, *impairments, towards=None)", Summary: "impairs the outgoing traffic of the selected nodes, or only what they send to the towards nodes", scope: inTest, fn: builtinImpair},
	{Name: "repair", Signature: "repair(selector=None)", Summary: "removes the impairments of the selected nodes, or of every node", scope: inTest, fn: builtinRepair},
	{Name: "delay", Signature: "delay(duration, jitter=None)", Summary: "an impairment: hold every outgoing packet for duration (± jitter)", scope: anywhere, fn: builtinDelay},
	{Name: "loss", Signature: "loss(percent)", Summary: "an impairment: drop percent of outgoing packets", scope: anywhere, fn: makePercent("loss")},
	{Name: "duplicate", Signature: "duplicate(percent)", Summary: "an impairment: send percent of outgoing packets twice", scope: anywhere, fn: makePercent("duplicate")},
	{Name: "reorder", Signature: "reorder(percent)", Summary: "an impairment: let percent of outgoing packets skip the delay", scope: anywhere, fn: makePercent("reorder")},

	// JSON, go.starlark.net's json module.
	{Name: "json.encode", Signature: "json.encode(x)", Summary: "x (None, bools, numbers, strings, lists, tuples, dicts with string keys, structs) as JSON text", scope: anywhere, fn: libJSON("encode")},
	{Name: "json.decode", Signature: "json.decode(x[, default])", Summary: "the Starlark value of the JSON text x; if x is not JSON, default when given, else an error", scope: anywhere, fn: libJSON("decode")},
	{Name: "json.indent", Signature: `json.indent(str, prefix="", indent="\t")`, Summary: "the JSON text str pretty-printed", scope: anywhere, fn: libJSON("indent")},
	{Name: "json.encode_indent", Signature: `json.encode_indent(x, prefix="", indent="\t")`, Summary: "json.indent(json.encode(x))", scope: anywhere, fn: libJSON("encode_indent")},

	// Tests.
	{Name: "fail", Signature: "fail(message)", Summary: "fails the test with message", scope: anywhere, fn: builtinFail},
	{Name: "log", Signature: "log(message)", Summary: "writes message into the run's event log", scope: inTest, fn: builtinLog},
	{Name: "unique", Signature: `unique(prefix="u")`, Summary: "a name no other call of this run returns: \"u-1\", \"u-2\", …", scope: inTest, fn: builtinUnique},
}

// Builtins returns the table of predeclared functions, sorted by name.
func Builtins() []Builtin {
	out := make([]Builtin, len(builtins))
	copy(out, builtins)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// predeclared is the environment of every script and module, built once
// from the table: builtins are immutable, so every run shares them.
var predeclared = func() starlark.StringDict {
	env := starlark.StringDict{}
	for _, b := range builtins {
		if mod, member, ok := strings.Cut(b.Name, "."); ok {
			// A member of a module, such as rand.int.
			m, _ := env[mod].(*starlarkstruct.Module)
			if m == nil {
				m = &starlarkstruct.Module{Name: mod, Members: starlark.StringDict{}}
				env[mod] = m
			}
			m.Members[member] = starlark.NewBuiltin(b.Name, b.scoped())
			continue
		}
		if _, dup := env[b.Name]; dup {
			panic("starlark: builtin " + b.Name + " is in the table twice")
		}
		env[b.Name] = starlark.NewBuiltin(b.Name, b.scoped())
	}
	env.Freeze()
	return env
}()

// scoped wraps the builtin's function with the check of where it may be
// called, so that every builtin gives the same clear error.
func (b Builtin) scoped() builtinFunc {
	switch b.scope {
	case topLevel:
		return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if registryOf(thread) == nil {
				return nil, fmt.Errorf("%s: call it at the top level of the script, not inside a test or setup function (the suite is fixed once the cluster starts)", b.Name)
			}
			return b.fn(thread, fn, args, kwargs)
		}
	case inTest:
		return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if testOf(thread) == nil {
				return nil, fmt.Errorf("%s: call it inside a test or setup function: while the top level runs, the cluster does not exist yet", b.Name)
			}
			return b.fn(thread, fn, args, kwargs)
		}
	}
	return b.fn
}

// IsPredeclared reports whether name is a builtin of scripts, for
// CompileOptions.Predeclared.
func IsPredeclared(name string) bool { return predeclared.Has(name) }
