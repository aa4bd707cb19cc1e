// Package attesttest provides a cluster.Runtime whose nodes are
// http.Handlers served in this process on 127.0.0.1, for fast tests of the
// engine and its front ends without Docker.
//
// A node is one listener and one http.Server. Stopping it shuts the server
// down (gracefully, within the shutdown timeout, or at once for a kill) and
// starting it serves a fresh handler on the same port, so whatever the
// handler keeps in memory is lost on a restart, as with a real process;
// state meant to survive restarts lives outside the handler.
//
// Partitions, cuts and impairments are recorded, logged and visible
// through Cluster.Blocked, Cluster.IsCut, Cluster.Impairments and
// Cluster.Towards, but do not touch traffic: handlers that want to act
// partitioned ask Node.Blocked. A paused node's handler waits until the
// node is resumed, so requests to it time out as they would on a frozen
// process. Nor does the runtime see what nodes send each other: it counts
// no traffic (see Runtime.Traffic).
package attesttest

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Runtime is a cluster.Runtime of in-process HTTP servers.
type Runtime struct {
	// Handler returns the handler a node serves. It is called each time
	// the node starts. Required.
	Handler func(n *Node) http.Handler
	// Fail, if set, is called before every operation — "create", "start",
	// "stop", "kill", "pause", "resume", "partition", "cut", "heal",
	// "impair", "repair", "close" —
	// with the node it concerns ("" for none); the error it returns, if
	// any, is the operation's. Tests use it to make the runtime fail.
	Fail func(op, node string) error
	// DataSize, if set, answers Cluster.DataSize: in-process nodes have no
	// DATA_DIR of their own, so a test that measures one says what it is.
	// Without it, DataSize returns an error.
	DataSize func(node string) (int64, error)
	// Traffic, if set, answers Cluster.Traffic: in-process nodes talk to
	// each other as they please, and the runtime sees none of it, so a
	// test that counts their traffic says what it is. Without it,
	// Traffic returns cluster.ErrNoTraffic.
	Traffic func() (cluster.Traffic, error)

	mu       sync.Mutex // guards clusters
	clusters []*Cluster
}

// New returns a Runtime whose nodes serve what handler returns.
func New(handler func(n *Node) http.Handler) *Runtime {
	return &Runtime{Handler: handler}
}

// Clusters returns every cluster the runtime created, in order.
func (rt *Runtime) Clusters() []*Cluster {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.clusters)
}

// Last returns the cluster created last, or nil.
func (rt *Runtime) Last() *Cluster {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.clusters) == 0 {
		return nil
	}
	return rt.clusters[len(rt.clusters)-1]
}

func (rt *Runtime) fail(op, node string) error {
	if rt.Fail == nil {
		return nil
	}
	return rt.Fail(op, node)
}

// Create implements cluster.Runtime: it listens on a free port of
// 127.0.0.1 for every node and starts serving, except on spare nodes,
// whose port is only reserved for their first Start.
func (rt *Runtime) Create(ctx context.Context, spec cluster.Spec) (cluster.Cluster, error) {
	if rt.Handler == nil {
		return nil, errors.New("attesttest: Runtime.Handler is not set")
	}
	if spec.Nodes < 1 {
		return nil, fmt.Errorf("attesttest: cluster of %d nodes", spec.Nodes)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := rt.fail("create", ""); err != nil {
		return nil, err
	}
	if spec.Spare < 0 {
		return nil, fmt.Errorf("attesttest: %d spare nodes", spec.Spare)
	}
	names := cluster.NodeNames(spec.Nodes + spec.Spare)
	c := &Cluster{rt: rt, events: spec.Events, shutdown: spec.ShutdownTimeout, byName: map[string]*node{}, faults: cluster.NewFaultState(names)}
	lns := make([]net.Listener, spec.Nodes+spec.Spare)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, fmt.Errorf("attesttest: listen: %w", err)
		}
		lns[i] = ln
		n := &node{name: names[i], addr: ln.Addr().String()}
		c.nodes = append(c.nodes, n)
		c.byName[n.name] = n
	}
	for i, n := range c.nodes {
		if i < spec.Nodes {
			c.members = append(c.members, n.addr)
		}
	}
	for i, n := range c.nodes {
		if i >= spec.Nodes {
			lns[i].Close()
			continue
		}
		n.mu.Lock()
		c.serve(n, lns[i])
		n.mu.Unlock()
	}
	rt.mu.Lock()
	rt.clusters = append(rt.clusters, c)
	rt.mu.Unlock()
	return c, nil
}

// Node is what a node's handler knows about itself.
type Node struct {
	// Name is the node's name: "n1".
	Name string
	// Addr is the node's address, "127.0.0.1:port"; its URL is
	// "http://" + Addr.
	Addr string
	// Peers are the addresses of the other nodes of the initial
	// configuration, in node order; for a spare node, all of them.
	Peers []string
	// Members are the addresses of the initial configuration's nodes
	// (CLUSTER): a spare node is not among them.
	Members []string

	c *Cluster
}

// Logf adds a line to the node's log, as a process writes to stdout.
func (n *Node) Logf(format string, args ...any) {
	n.c.byName[n.Name].log(fmt.Sprintf(format, args...))
}

// Blocked reports whether a partition cuts this node off from the node at
// peer (an address from Peers).
func (n *Node) Blocked(peer string) bool {
	for _, p := range n.c.nodes {
		if p.addr == peer {
			return n.c.Blocked(n.Name, p.name)
		}
	}
	return false
}

// Cluster is a cluster of in-process nodes. It implements cluster.Cluster.
type Cluster struct {
	rt       *Runtime
	events   *cluster.EventLog
	shutdown time.Duration
	nodes    []*node
	byName   map[string]*node
	members  []string // the initial configuration's addresses
	faults   *cluster.FaultState

	mu     sync.Mutex // guards closes, and serialises changes of the network
	closes int
}

type node struct {
	name string
	addr string

	mu      sync.Mutex // serialises operations on the node; guards the fields below
	running bool
	starts  int
	srv     *http.Server
	done    chan struct{} // closed when srv.Serve has returned

	// thawMu guards thaw, which is closed when a pause ends and is nil
	// when the node is not paused. The node's handler waits on it, so a
	// paused node answers nothing. It is not n.mu, which a stop holds
	// while it waits for the handlers.
	thawMu sync.Mutex
	thaw   chan struct{}

	logMu sync.Mutex // guards logs
	logs  []string
}

func (n *node) log(line string) {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	n.logs = append(n.logs, line)
}

// Write lets a node's log be an io.Writer, for http.Server's ErrorLog.
func (n *node) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		n.log(l)
	}
	return len(p), nil
}

// serve starts the node's server on ln; n.mu is held.
func (c *Cluster) serve(n *node, ln net.Listener) {
	var peers []string
	for _, p := range c.members {
		if p != n.addr {
			peers = append(peers, p)
		}
	}
	srv := &http.Server{
		Handler:           n.frozen(c.rt.Handler(&Node{Name: n.name, Addr: n.addr, Peers: peers, Members: slices.Clone(c.members), c: c})),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(n, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) // returns when Shutdown or Close is called
	}()
	n.srv, n.done, n.running = srv, done, true
	n.starts++
	c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventStart})
}

// frozen makes h wait while the node is paused.
func (n *node) frozen(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.thawMu.Lock()
		thaw := n.thaw
		n.thawMu.Unlock()
		if thaw != nil {
			select {
			case <-thaw:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Pause implements cluster.Cluster: the node's handler answers nothing
// until Resume, and requests wait, as they would on a frozen process.
func (c *Cluster) Pause(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if err := c.rt.fail("pause", name); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := cluster.ValidatePause(name, n.running); err != nil {
		return err
	}
	n.thawMu.Lock()
	defer n.thawMu.Unlock()
	if c.faults.Pause(n.name) {
		n.thaw = make(chan struct{})
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPause})
	}
	return nil
}

// Resume implements cluster.Cluster.
func (c *Cluster) Resume(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if err := c.rt.fail("resume", name); err != nil {
		return err
	}
	c.resume(n)
	return nil
}

// resume ends the node's pause, if any.
func (c *Cluster) resume(n *node) {
	n.thawMu.Lock()
	defer n.thawMu.Unlock()
	if c.faults.Resume(n.name) {
		close(n.thaw)
		n.thaw = nil
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventResume})
	}
}

// Paused implements cluster.Cluster.
func (c *Cluster) Paused(name string) bool {
	return c.faults.Paused(name)
}

func (c *Cluster) node(name string) (*node, error) {
	n, ok := c.byName[name]
	if !ok {
		return nil, &cluster.ErrUnknownNode{Name: name}
	}
	return n, nil
}

// Nodes implements cluster.Cluster: the fault state holds every node, in
// order.
func (c *Cluster) Nodes() []string { return c.faults.Nodes() }

// URL implements cluster.Cluster.
func (c *Cluster) URL(name string) (string, error) {
	n, err := c.node(name)
	if err != nil {
		return "", err
	}
	return "http://" + n.addr, nil
}

// Addr implements cluster.Cluster: the same address as the URL's.
func (c *Cluster) Addr(name string) (string, error) {
	n, err := c.node(name)
	if err != nil {
		return "", err
	}
	return n.addr, nil
}

// Running implements cluster.Cluster.
func (c *Cluster) Running(name string) bool {
	n, err := c.node(name)
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running
}

// Starts returns how many times the node has started, its first start
// included.
func (c *Cluster) Starts(name string) int {
	n, err := c.node(name)
	if err != nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

// Start implements cluster.Cluster: it serves a new handler on the node's
// port.
func (c *Cluster) Start(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if err := c.rt.fail("start", name); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", n.addr)
	if err != nil {
		return &cluster.TargetError{Err: fmt.Errorf("%s: start: %w", name, err)}
	}
	c.serve(n, ln)
	return nil
}

// Stop implements cluster.Cluster: the server shuts down gracefully, and
// is closed if requests are still running after the shutdown timeout.
func (c *Cluster) Stop(ctx context.Context, name string) error {
	return c.halt(ctx, name, false)
}

// Kill implements cluster.Cluster: the server and its connections close at
// once.
func (c *Cluster) Kill(ctx context.Context, name string) error {
	return c.halt(ctx, name, true)
}

func (c *Cluster) halt(ctx context.Context, name string, kill bool) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	op := "stop"
	if kill {
		op = "kill"
	}
	if err := c.rt.fail(op, name); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return nil
	}
	c.resume(n)
	event := cluster.EventKill
	if kill {
		n.srv.Close()
	} else {
		sctx, cancel := context.WithTimeout(ctx, c.shutdown)
		err := n.srv.Shutdown(sctx)
		cancel()
		if err != nil {
			c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventStopTimeout, Wait: c.shutdown})
			n.srv.Close()
		} else {
			event = cluster.EventStop
		}
	}
	<-n.done
	n.running = false
	c.events.Add(cluster.Event{Node: n.name, Kind: event})
	return nil
}

// DataSize implements cluster.Cluster with Runtime.DataSize.
func (c *Cluster) DataSize(ctx context.Context, name string) (int64, error) {
	if _, err := c.node(name); err != nil {
		return 0, err
	}
	if c.rt.DataSize == nil {
		return 0, fmt.Errorf("attesttest: %s has no DATA_DIR to measure; set Runtime.DataSize", name)
	}
	return c.rt.DataSize(name)
}

// Traffic implements cluster.TrafficCounter with Runtime.Traffic.
func (c *Cluster) Traffic(ctx context.Context) (cluster.Traffic, error) {
	if c.rt.Traffic == nil {
		return nil, cluster.ErrNoTraffic
	}
	return c.rt.Traffic()
}

// LogTail implements cluster.Cluster.
func (c *Cluster) LogTail(name string, lines int) []string {
	n, err := c.node(name)
	if err != nil {
		return nil
	}
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return slices.Clone(n.logs[max(0, len(n.logs)-lines):])
}

// Close implements cluster.Cluster: every running node is killed. Closing
// again does nothing more. A Fail hook's error for "close" is returned after
// the nodes are gone, so a failing close leaves no server behind.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closes++
	c.mu.Unlock()
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.running {
			n.srv.Close()
			<-n.done
			n.running = false
		}
		n.mu.Unlock()
	}
	return c.rt.fail("close", "")
}

// Closes returns how many times Close was called.
func (c *Cluster) Closes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closes
}
