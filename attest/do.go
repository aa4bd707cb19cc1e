package attest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// H is a set of request headers: do.POST(Node("n1"), "/api", body,
// H{"Content-Type": "application/json"}).
type H map[string]string

// FetchResponse is a node's answer to Do.Fetch: the engine.Response, with
// its body as bytes, as in the original attest, so that
// json.Unmarshal(r.Body, &v) and string(r.Body) both work. The body as
// text stays r.Response.Body, which JSON reads.
type FetchResponse struct {
	*engine.Response
	// Body is the response body.
	Body []byte
}

// Do is what a test body gets: it makes requests, manages nodes and
// injects faults on the run's cluster. Its methods are safe to call from
// the goroutines of Concurrently.
//
// Methods that can fail stop the test by panicking with an
// *engine.Failure, which Suite.Run recovers; Ops has the same operations
// returning errors.
type Do struct {
	r    *run
	test string

	// client is the history's client id of this Do's requests; sink, if
	// set, also collects them for a Clients call; halt, if set, ends the
	// sleeps of a client or nemesis; rng is this Do's random stream; forks
	// counts the test's Clients calls.
	client int
	sink   *opSink
	halt   context.Context
	rng    *rand.Rand
	forks  *forkCounter
	// built is shared by the test's Do and its forks.
	built *builtChecks
}

// Context returns the run's context; it is cancelled when the run is, or
// interrupted.
func (d *Do) Context() context.Context { return d.r.ctx }

// Interrupt ends the run because of cause: every wait of the engine, in
// this test and its clients (a settle, a node start, a request, the polls
// of eventually), returns at once, and no test runs after this one. The
// test's own failure says why; an operation the interruption ends fails
// with cause. A front end calls it when it must stop a test that may be
// waiting on the engine, such as when a sandboxed script reaches a limit.
func (d *Do) Interrupt(cause error) { d.r.interrupt(cause) }

// Test returns the name of the running test ("setup" in a setup step).
func (d *Do) Test() string { return d.test }

// Config returns the suite's configuration.
func (d *Do) Config() engine.Config { return d.r.cfg }

// Nodes returns the names of the nodes that are running, in cluster order,
// as the original attest does: a stopped or killed node is left out until
// it starts again. AllNodeNames returns every name.
func (d *Do) Nodes() []string {
	var names []string
	for _, n := range d.r.nodes {
		if d.r.cl.Running(n) {
			names = append(names, n)
		}
	}
	return names
}

// AllNodeNames returns the names of every node of the cluster in order,
// running or not: n1 … nN, spare nodes last.
func (d *Do) AllNodeNames() []string { return slices.Clone(d.r.nodes) }

// Names returns the names of the nodes sel selects now, in cluster order.
func (d *Do) Names(sel NodeSelector) []string {
	names, err := d.Ops(callerPos(1)).Names(sel)
	d.must(err)
	return names
}

// Running reports whether the named node is running.
func (d *Do) Running(name string) bool { return d.r.cl.Running(name) }

// Addr returns the node's address inside the cluster ("10.0.42.101:8080"),
// which is its ADDR and identity, as nodes report each other.
func (d *Do) Addr(name string) string {
	addr, err := d.Ops(callerPos(1)).Addr(name)
	d.must(err)
	return addr
}

// GET returns a check of a GET request to the nodes sel selects. The
// optional args are a body (string or []byte) and headers (H).
func (d *Do) GET(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodGet, sel, path, args)
}

// PUT returns a check of a PUT request; args as for GET.
func (d *Do) PUT(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodPut, sel, path, args)
}

// POST returns a check of a POST request; args as for GET.
func (d *Do) POST(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodPost, sel, path, args)
}

// DELETE returns a check of a DELETE request; args as for GET.
func (d *Do) DELETE(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodDelete, sel, path, args)
}

// PATCH returns a check of a PATCH request; args as for GET.
func (d *Do) PATCH(sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(http.MethodPatch, sel, path, args)
}

// Request returns a check of a request with any method; args as for GET.
func (d *Do) Request(method string, sel NodeSelector, path string, args ...any) *Check {
	return d.newCheck(method, sel, path, args)
}

// Fetch sends one GET request to the named node and returns its answer, or
// nil if the node could not be reached. It checks nothing.
func (d *Do) Fetch(name, path string) *FetchResponse {
	resp, err := d.Ops(callerPos(1)).Fetch(name, path)
	d.must(err)
	return resp
}

// Send sends one request with any method to the named node and returns its
// answer, or nil if the node could not be reached; args are a body and
// headers as for GET, and a time.Duration that, when shorter, replaces the
// suite's request timeout. Like Fetch, it checks nothing; its request goes
// into the history like every other.
func (d *Do) Send(method, name, path string, args ...any) *FetchResponse {
	o := d.Ops(callerPos(1))
	var timeout time.Duration
	args = slices.DeleteFunc(slices.Clone(args), func(a any) bool {
		t, ok := a.(time.Duration)
		if ok {
			timeout = t
		}
		return ok
	})
	body, header, err := requestArgs(args)
	if err != nil {
		d.must(o.fail(method+" "+path+" on "+name, env(err)))
	}
	resp, err := o.Send(method, name, path, body, header, timeout)
	d.must(err)
	return resp
}

// DataSize returns the bytes of the files in the node's DATA_DIR, running
// or not. The runtime measures it from outside the node (the Docker
// runtime with a short-lived helper container that mounts the node's
// volume read-only), so nothing in the node's image is needed.
func (d *Do) DataSize(name string) int64 {
	n, err := d.Ops(callerPos(1)).DataSize(name)
	d.must(err)
	return n
}

// Start starts a stopped or killed node, or a spare node for the first
// time, and waits until it answers GET /health with 200, within the node
// start timeout.
func (d *Do) Start(name string) { d.must(d.Ops(callerPos(1)).Start(name)) }

// Stop sends the node SIGTERM and, if it has not exited within the shutdown
// timeout, SIGKILL; it returns once the node has exited.
func (d *Do) Stop(name string) { d.must(d.Ops(callerPos(1)).Stop(name)) }

// Kill sends the node SIGKILL and returns once it has exited.
func (d *Do) Kill(name string) { d.must(d.Ops(callerPos(1)).Kill(name)) }

// Restart stops the node, gracefully by default (as Stop) or, with
// syscall.SIGKILL, by crashing it (as Kill), then starts it as Start does.
func (d *Do) Restart(name string, sig ...syscall.Signal) {
	d.must(d.Ops(callerPos(1)).Restart(name, sig...))
}

// Partition cuts the network between the groups of nodes, both ways, and
// waits the settle time (the longer of WithSettle and
// WithClusterSettleDuration); a new partition replaces the previous one.
func (d *Do) Partition(groups ...[]string) { d.must(d.Ops(callerPos(1)).Partition(groups...)) }

// Heal removes every partition and every cut and waits the settle time,
// as Partition.
func (d *Do) Heal() { d.must(d.Ops(callerPos(1)).Heal()) }

// Impair applies the impairments to the outgoing traffic of the nodes sel
// selects, replacing any they had, and waits the settle time.
func (d *Do) Impair(sel NodeSelector, imps ...Impairment) {
	d.must(d.Ops(callerPos(1)).Impair(sel, imps...))
}

// Repair removes the impairments of the selected nodes, of every running
// node when no selector is given, and waits the settle time.
func (d *Do) Repair(sel ...NodeSelector) { d.must(d.Ops(callerPos(1)).Repair(sel...)) }

// Pause freezes the processes of the nodes sel selects, from outside:
// they get no CPU, their sockets stay open, and peers and requests see
// silence until Resume. Paused nodes are left out of AllNodes() like
// stopped ones; a request to one fails after the request timeout.
// Stopping or killing a paused node ends its pause.
func (d *Do) Pause(sel NodeSelector) { d.must(d.Ops(callerPos(1)).Pause(sel)) }

// Resume thaws the paused nodes sel selects (AllNodes() selects every
// paused node), or every paused node when no selector is given.
func (d *Do) Resume(sel ...NodeSelector) { d.must(d.Ops(callerPos(1)).Resume(sel...)) }

// Paused reports whether the named node is paused.
func (d *Do) Paused(name string) bool { return d.r.cl.Paused(name) }

// Cut drops every packet the nodes of src send to the nodes of dst, while
// the other direction flows, and waits the settle time. Cuts add up, and
// compose with partitions and impairments; Heal removes them all.
func (d *Do) Cut(src, dst NodeSelector) { d.must(d.Ops(callerPos(1)).Cut(src, dst)) }

// ImpairTowards is Impair for the traffic the nodes sel selects send to
// the nodes towards selects; their other traffic flows unimpaired. It
// replaces any impairments they had.
func (d *Do) ImpairTowards(sel, towards NodeSelector, imps ...Impairment) {
	d.must(d.Ops(callerPos(1)).ImpairTowards(sel, towards, imps...))
}

// Log writes a message into the run's event log, as "LOG: message".
func (d *Do) Log(format string, args ...any) {
	d.r.events.Add(cluster.Event{Kind: cluster.EventLogged, Detail: fmt.Sprintf(format, args...)})
}

// Fail stops the test with err as its failure.
func (d *Do) Fail(err error) {
	if err == nil {
		err = errors.New("failed")
	}
	f := asFailure(err)
	if f.Pos == "" {
		f.Pos = callerPos(1)
	}
	d.stop(f)
}

// Failf stops the test with a failure that says what fmt.Sprintf makes of
// format and args.
func (d *Do) Failf(format string, args ...any) {
	d.stop(&engine.Failure{Pos: callerPos(1), Problem: fmt.Sprintf(format, args...)})
}

func (d *Do) must(err error) {
	if err != nil {
		d.stop(asFailure(err))
	}
}

// stop ends the test: Suite.Run (or Concurrently, Eventually) recovers the
// failure.
func (d *Do) stop(f *engine.Failure) {
	if f.Test == "" {
		f.Test = d.test
	}
	panic(f)
}
