package attest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// Ops returns the operations of d in a form that returns errors instead of
// stopping the test, for front ends that report failures as values, such
// as the Starlark binding. Every error an Ops method returns is an
// *engine.Failure whose position is pos (for example "election.star:42:9").
func (d *Do) Ops(pos string) *Ops { return &Ops{d: d, pos: pos} }

// Ops is the error-returning form of Do's operations; see Do.Ops. The
// panicking methods of Do are these plus a panic.
type Ops struct {
	d   *Do
	pos string
}

func (o *Ops) fail(what string, err error) *engine.Failure {
	return &engine.Failure{Test: o.d.test, Pos: o.pos, What: what, Err: err}
}

func (o *Ops) known(name string) error {
	if !slices.Contains(o.d.r.nodes, name) {
		return unknownNode(name, o.d.r.nodes)
	}
	return nil
}

// Names returns the names of the nodes sel selects now, in cluster order.
func (o *Ops) Names(sel NodeSelector) ([]string, error) {
	names, err := o.d.r.resolve(sel)
	if err != nil {
		return nil, o.fail("select "+sel.String(), err)
	}
	return names, nil
}

// resolve resolves sel among the live nodes: running and not paused.
func (r *run) resolve(sel NodeSelector) ([]string, error) {
	return sel.resolve(r.nodes, r.live)
}

func (r *run) live(name string) bool { return r.cl.Running(name) && !r.cl.Paused(name) }

// Addr returns the node's address inside the cluster.
func (o *Ops) Addr(name string) (string, error) {
	if err := o.known(name); err != nil {
		return "", o.fail("addr "+name, err)
	}
	addr, err := o.d.r.cl.Addr(name)
	if err != nil {
		return "", o.fail("addr "+name, env(err))
	}
	return addr, nil
}

// Fetch sends one GET request to the named node and returns its answer, or
// nil if the node could not be reached; the error is for an unknown node.
func (o *Ops) Fetch(name, path string) (*FetchResponse, error) {
	return o.Send(http.MethodGet, name, path, nil, nil, 0)
}

// Send is Do.Send; the error is for an unknown node. A timeout shorter than
// the suite's request timeout replaces it; 0 keeps it.
func (o *Ops) Send(method, name, path string, body []byte, header H, timeout time.Duration) (*FetchResponse, error) {
	if err := o.known(name); err != nil {
		what := "fetch " + path + " from " + name
		if method != http.MethodGet {
			what = "fetch " + method + " " + path + " from " + name
		}
		return nil, o.fail(what, err)
	}
	ctx := o.d.r.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	resp := o.d.r.send(ctx, o.d, name, method, path, body, header)
	if resp.Err != nil {
		return nil, nil
	}
	return &FetchResponse{Response: resp, Body: []byte(resp.Body)}, nil
}

// DataSize returns the bytes of the files in the node's DATA_DIR, running
// or not, measured from outside the node.
func (o *Ops) DataSize(name string) (int64, error) {
	what := "measure the DATA_DIR of " + name
	if err := o.known(name); err != nil {
		return 0, o.fail(what, err)
	}
	r := o.d.r
	n, err := r.cl.DataSize(r.ctx, name)
	if err != nil {
		return 0, o.fail(what, r.interrupted(env(err)))
	}
	r.events.Add(cluster.Event{Node: name, Kind: cluster.EventDataDir, Bytes: n})
	return n, nil
}

// Start starts a stopped or killed node (or a spare node for the first
// time) and waits until it answers GET /health with 200.
func (o *Ops) Start(name string) error {
	what := "start " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	if err := o.start(name); err != nil {
		return o.fail(what, err)
	}
	return nil
}

func (o *Ops) start(name string) error {
	r := o.d.r
	if err := r.cl.Start(r.ctx, name); err != nil {
		return r.interrupted(env(err))
	}
	if err := r.waitHealthy(r.ctx, []string{name}); err != nil {
		return r.interrupted(err)
	}
	return nil
}

// Stop stops a node gracefully: SIGTERM, then SIGKILL after the shutdown
// timeout.
func (o *Ops) Stop(name string) error { return o.stopOrKill("stop "+name, name, false) }

// Kill sends a node SIGKILL.
func (o *Ops) Kill(name string) error { return o.stopOrKill("kill "+name, name, true) }

func (o *Ops) stopOrKill(what, name string, kill bool) error {
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	if err := o.halt(name, kill); err != nil {
		return o.fail(what, err)
	}
	return nil
}

func (o *Ops) halt(name string, kill bool) error {
	r := o.d.r
	halt := r.cl.Stop
	if kill {
		halt = r.cl.Kill
	}
	// Close the idle connections first: one the node accepted but never
	// saw a request on keeps Go's http.Server.Shutdown waiting 5s for it,
	// which would turn a graceful stop into a SIGKILL after the shutdown
	// timeout.
	r.transport.CloseIdleConnections()
	err := halt(r.ctx, name)
	// Connections kept alive to the old process are dead now; a request
	// must not find one after the node restarts.
	r.transport.CloseIdleConnections()
	if err != nil {
		return r.interrupted(env(err))
	}
	return nil
}

// Restart stops a node (gracefully, or with syscall.SIGKILL by crashing it)
// and starts it again, waiting for GET /health.
func (o *Ops) Restart(name string, sig ...syscall.Signal) error {
	what := "restart " + name
	if err := o.known(name); err != nil {
		return o.fail(what, err)
	}
	kill := false
	switch {
	case len(sig) > 1:
		return o.fail(what, env(errors.New("give at most one signal")))
	case len(sig) == 0 || sig[0] == syscall.SIGTERM:
	case sig[0] == syscall.SIGKILL:
		kill = true
	default:
		return o.fail(what, env(fmt.Errorf("signal %v: restart supports SIGTERM (graceful) and SIGKILL (crash)", sig[0])))
	}
	if kill {
		what += " with SIGKILL"
		o.d.r.events.Add(cluster.Event{Node: name, Kind: cluster.EventRestart, Signal: "KILL"})
	} else {
		o.d.r.events.Add(cluster.Event{Node: name, Kind: cluster.EventRestart, Signal: "TERM"})
	}
	if err := o.halt(name, kill); err != nil {
		return o.fail(what, err)
	}
	if err := o.start(name); err != nil {
		return o.fail(what, err)
	}
	return nil
}

// Partition cuts the network between the groups, both ways, and waits the
// settle time.
func (o *Ops) Partition(groups ...[]string) error {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = strings.Join(g, ", ")
	}
	what := "partition " + strings.Join(parts, " | ")
	seen := map[string]bool{}
	for _, g := range groups {
		for _, n := range g {
			if err := o.known(n); err != nil {
				return o.fail(what, err)
			}
			if seen[n] {
				return o.fail(what, env(fmt.Errorf("%s is in more than one group", n)))
			}
			seen[n] = true
		}
	}
	r := o.d.r
	gs := make([][]string, len(groups))
	for i, g := range groups {
		gs[i] = slices.Clone(g)
	}
	if err := r.cl.Partition(r.ctx, gs); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settleCluster(what)
}

// Heal removes every partition and cut and waits the settle time.
func (o *Ops) Heal() error {
	r := o.d.r
	if err := r.cl.Heal(r.ctx); err != nil {
		return o.fail("heal", r.interrupted(env(err)))
	}
	return o.settleCluster("heal")
}

// someLive resolves sel among the live nodes for the operation what,
// which needs at least one of them.
func (o *Ops) someLive(what string, sel NodeSelector) ([]string, error) {
	names, err := o.d.r.resolve(sel)
	if err != nil {
		return nil, o.fail(what, err)
	}
	if len(names) == 0 {
		return nil, o.fail(what, errors.New("no running node selected"))
	}
	return names, nil
}

// Pause freezes the selected nodes; see Do.Pause.
func (o *Ops) Pause(sel NodeSelector) error {
	what := "pause " + sel.short()
	r := o.d.r
	names, err := o.someLive(what, sel)
	if err != nil {
		return err
	}
	err = r.eachName(names, func(name string) error { return r.cl.Pause(r.ctx, name) })
	if err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return nil
}

// union resolves the selectors of an operation on several of them (every
// node when none is given) against the nodes for which live holds, and
// returns the operation's description and the names, each once, in order.
func (o *Ops) union(verb string, sel []NodeSelector, live func(string) bool) (string, []string, error) {
	if len(sel) == 0 {
		sel = []NodeSelector{{}}
	}
	parts := make([]string, len(sel))
	for i, s := range sel {
		parts[i] = s.short()
	}
	what := verb + " " + strings.Join(parts, ", ")
	var names []string
	for _, s := range sel {
		ns, err := s.resolve(o.d.r.nodes, live)
		if err != nil {
			return what, nil, o.fail(what, err)
		}
		for _, n := range ns {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return what, names, nil
}

// Resume thaws the selected paused nodes, or every paused node; see
// Do.Resume.
func (o *Ops) Resume(sel ...NodeSelector) error {
	r := o.d.r
	what, names, err := o.union("resume", sel, r.cl.Paused)
	if err != nil {
		return err
	}
	err = r.eachName(names, func(name string) error { return r.cl.Resume(r.ctx, name) })
	if err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return nil
}

// eachName runs fn for the names in parallel and joins their errors.
func (r *run) eachName(names []string, fn func(string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = fn(name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Cut drops what the nodes of src send to the nodes of dst and waits the
// settle time; see Do.Cut. Stopped and paused nodes are cut too when
// named, so the cut holds when they come back.
func (o *Ops) Cut(src, dst NodeSelector) error {
	what := "cut " + src.short() + " -> " + dst.short()
	r := o.d.r
	from, err := src.resolve(r.nodes, r.cl.Running)
	if err != nil {
		return o.fail(what, err)
	}
	to, err := dst.resolve(r.nodes, r.cl.Running)
	if err != nil {
		return o.fail(what, err)
	}
	if len(from) == 0 || len(to) == 0 {
		return o.fail(what, errors.New("no running node selected on one side"))
	}
	if err := r.cl.Cut(r.ctx, from, to); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settle(what)
}

// Impair applies impairments to the outgoing traffic of the selected nodes
// and waits the settle time.
func (o *Ops) Impair(sel NodeSelector, imps ...Impairment) error {
	return o.impair("impair "+sel.short(), sel, nil, imps)
}

// ImpairTowards applies impairments to the traffic the selected nodes send
// to the nodes towards selects, and waits the settle time.
func (o *Ops) ImpairTowards(sel, towards NodeSelector, imps ...Impairment) error {
	return o.impair("impair "+sel.short()+" towards "+towards.short(), sel, &towards, imps)
}

func (o *Ops) impair(what string, sel NodeSelector, towards *NodeSelector, imps []Impairment) error {
	if len(imps) == 0 {
		return o.fail(what, env(errors.New("no impairment given: use Delay, Loss, Duplicate or Reorder")))
	}
	if err := cluster.Impairments(imps).Validate(); err != nil {
		return o.fail(what, env(err))
	}
	r := o.d.r
	names, err := o.someLive(what, sel)
	if err != nil {
		return err
	}
	var to []string
	if towards != nil {
		if to, err = towards.resolve(r.nodes, r.cl.Running); err != nil {
			return o.fail(what, err)
		}
		if len(to) == 0 {
			return o.fail(what, errors.New("no running node selected to impair the traffic towards"))
		}
	}
	if err := r.cl.ImpairTowards(r.ctx, names, to, slices.Clone(imps)); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settle(what)
}

// Repair removes the impairments of the selected nodes, of every running
// node when no selector is given, and waits the settle time.
func (o *Ops) Repair(sel ...NodeSelector) error {
	r := o.d.r
	// Paused nodes keep their impairments until repaired.
	what, names, err := o.union("repair", sel, r.cl.Running)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	if err := r.cl.Repair(r.ctx, names); err != nil {
		return o.fail(what, r.interrupted(env(err)))
	}
	return o.settle(what)
}

func (o *Ops) settle(what string) error {
	return o.pause(what, o.d.r.cfg.Settle)
}

// settleCluster is the pause after Partition and Heal: the longer of the
// settle time and the cluster settle duration.
func (o *Ops) settleCluster(what string) error {
	return o.pause(what, max(o.d.r.cfg.Settle, o.d.r.cfg.ClusterSettle))
}

func (o *Ops) pause(what string, d time.Duration) error {
	if err := sleep(o.d.r.ctx, d); err != nil {
		return o.fail(what, o.d.r.interrupted(err))
	}
	return nil
}
