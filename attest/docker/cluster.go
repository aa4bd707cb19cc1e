package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Node contract constants (see CONTRACT.md).
const (
	nodePort = 8080
	dataDir  = "/app/data"
	maxNodes = 150 // n150 is host .250 of the /24
)

// cleanupTimeout bounds teardown when the run's context is already gone
// (Ctrl-C): teardown must still happen, but not hang forever.
const cleanupTimeout = 60 * time.Second

type dockerCluster struct {
	rt              *Runtime
	run             string // run id
	networkID       string
	subnet          netip.Prefix
	shutdownTimeout time.Duration
	events          *cluster.EventLog
	nodes           []*node
	byName          map[string]*node
	members         int          // nodes of the initial configuration: n1 … n<members>; spare nodes follow
	firstStart      atomic.Int64 // unix nanoseconds of the first container start, for benchmarks
	firstNodeStart  atomic.Int64 // …and of the first start of a node's own container
	image           string       // the target image the nodes run
	netd            string       // the sandbox image, which also measures DATA_DIR
	durableRun      bool         // nodes serve DATA_DIR through the supervisor (durable.go)

	// followers owns the log-following goroutines; logCtx stops them.
	followers sync.WaitGroup
	logCtx    context.Context
	logStop   context.CancelFunc

	// faults is the cluster's fault state; faultMu serialises changes of
	// the partitions, cuts and impairments, which take a call to each
	// node's sandbox.
	faults  *cluster.FaultState
	faultMu sync.Mutex

	// trafficMu serialises installing and reading the traffic counters
	// (traffic.go) and guards counting, set once every node counts.
	trafficMu sync.Mutex
	counting  bool

	closeOnce sync.Once
	closeErr  error
}

type node struct {
	name        string
	ip          netip.Addr
	hostPort    string
	sandboxID   string
	containerID string
	volume      string
	log         *nodeLog

	mu      sync.Mutex // serialises lifecycle operations; guards running
	running bool
}

var _ cluster.Cluster = (*dockerCluster)(nil)

// Create implements cluster.Runtime. It removes leftovers of dead runs
// first, then builds what it needs and starts every node. If anything
// fails, everything created so far is removed.
func (r *Runtime) Create(ctx context.Context, spec cluster.Spec) (_ cluster.Cluster, err error) {
	if spec.Nodes < 1 || spec.Nodes > maxNodes {
		return nil, fmt.Errorf("cluster size %d: choose between 1 and %d nodes", spec.Nodes, maxNodes)
	}
	if spec.Spare < 0 || spec.Nodes+spec.Spare > maxNodes {
		return nil, fmt.Errorf("%d spare nodes: choose between 0 and %d for a cluster of %d", spec.Spare, maxNodes-spec.Nodes, spec.Nodes)
	}
	// The images are found (or built) while leftovers of dead runs are
	// removed and the network is created; the sandboxes need only
	// clstr-netd's image, so they are created and started while the
	// target's image may still be building (see createNode).
	var image, netdImage string
	var imageErr, netdErr error
	imageDone := make(chan struct{})
	go func() {
		defer close(imageDone)
		image, imageErr = r.targetImage(ctx)
	}()
	// Create returns only once the target's image is done, whatever
	// happens before, so that no build outlives it.
	defer func() { <-imageDone }()
	var images sync.WaitGroup
	images.Go(func() {
		netdImage, netdErr = r.netdImage(ctx)
		if netdErr != nil {
			netdErr = fmt.Errorf("clstr-netd image: %w", netdErr)
		}
	})

	c := &dockerCluster{
		rt:              r,
		run:             newRunID(),
		shutdownTimeout: spec.ShutdownTimeout,
		events:          spec.Events,
		byName:          map[string]*node{},
		members:         spec.Nodes,
		faults:          cluster.NewFaultState(cluster.NodeNames(spec.Nodes + spec.Spare)),
		durableRun:      spec.Durable,
	}
	if c.shutdownTimeout <= 0 {
		c.shutdownTimeout = 5 * time.Second
	}
	c.logCtx, c.logStop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			if cerr := c.Close(context.WithoutCancel(ctx)); cerr != nil {
				err = fmt.Errorf("%w\n(cleanup: %v)", err, cerr)
			}
		}
	}()

	var kept *keptSandboxes
	if r.opts.ReuseSandboxes {
		kept = r.pool.take(ctx, r.cli, spec.Nodes, spec.Spare)
	}
	if kept != nil {
		c.run, c.networkID, c.subnet = kept.run, kept.networkID, kept.subnet
	} else {
		if _, err := Clean(ctx, r.cli, CleanOptions{}); err != nil {
			spec.Events.Add(cluster.Event{Kind: cluster.EventCleanupFailed, Detail: err.Error()})
		}
		c.networkID, c.subnet, err = r.createNetwork(ctx, "clstr-"+c.run, r.labels.forRun(c.run, "network", ""))
	}
	images.Wait()
	if kept != nil {
		<-imageDone // adopting compares the kept containers' image with it
	}
	for _, err := range []error{netdErr, err} {
		if err != nil {
			return nil, err
		}
	}
	if kept != nil && imageErr != nil {
		return nil, imageErr
	}
	if kept == nil && c.subnet.String() != DefaultSubnet && r.opts.Subnet == "" {
		c.events.Add(cluster.Event{Kind: cluster.EventNetwork, Detail: fmt.Sprintf("%s taken, using %s", DefaultSubnet, c.subnet)})
	}
	c.netd = netdImage
	if err := c.checkDurableRun(ctx); err != nil {
		return nil, err
	}
	for i, name := range c.faults.Nodes() {
		l, err := openNodeLog(r.opts.LogDir, name, r.opts.Disk)
		if err != nil {
			return nil, err
		}
		n := &node{name: name, ip: nodeIP(c.subnet, i+1), log: l}
		c.nodes = append(c.nodes, n)
		c.byName[name] = n
	}

	if kept != nil {
		c.image = image
		if err := c.adopt(ctx, kept, image); err != nil {
			return nil, err
		}
		return c, nil
	}
	// targetImage waits for the target's image, for a node's container.
	targetImage := func() (string, error) {
		select {
		case <-imageDone:
			return image, imageErr
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.createNode(ctx, n, targetImage, netdImage)
		}()
	}
	wg.Wait()
	<-imageDone
	c.image = image
	if err := errors.Join(errs...); err != nil {
		if imageErr != nil {
			return nil, imageErr // the reason, rather than each node's
		}
		return nil, err
	}
	return c, nil
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *dockerCluster) addr(n *node) string {
	return netip.AddrPortFrom(n.ip, nodePort).String()
}

// peers returns PEERS of n: the other nodes of the initial configuration;
// for a spare node, all of them.
func (c *dockerCluster) peers(n *node) []string {
	var out []string
	for _, p := range c.nodes[:c.members] {
		if p.name != n.name {
			out = append(out, c.addr(p))
		}
	}
	return out
}

// initial returns CLUSTER: the addresses of the initial configuration.
func (c *dockerCluster) initial() []string {
	var out []string
	for _, p := range c.nodes[:c.members] {
		out = append(out, c.addr(p))
	}
	return out
}

func (c *dockerCluster) node(name string) (*node, error) {
	n, ok := c.byName[name]
	if !ok {
		return nil, &cluster.ErrUnknownNode{Name: name}
	}
	return n, nil
}

// Nodes implements cluster.Cluster: the fault state holds every node, in
// order.
func (c *dockerCluster) Nodes() []string { return c.faults.Nodes() }

// URL implements cluster.Cluster.
func (c *dockerCluster) URL(name string) (string, error) {
	n, err := c.node(name)
	if err != nil {
		return "", err
	}
	return "http://127.0.0.1:" + n.hostPort, nil
}

// Addr implements cluster.Cluster.
func (c *dockerCluster) Addr(name string) (string, error) {
	n, err := c.node(name)
	if err != nil {
		return "", err
	}
	return c.addr(n), nil
}

// Running implements cluster.Cluster.
func (c *dockerCluster) Running(name string) bool {
	n, err := c.lock(name)
	if err != nil {
		return false
	}
	defer n.mu.Unlock()
	return n.running
}

// LogTail implements cluster.Cluster.
func (c *dockerCluster) LogTail(name string, n int) []string {
	nd, err := c.node(name)
	if err != nil {
		return nil
	}
	return nd.log.lastLines(n)
}

// Close implements cluster.Cluster. It removes the run's containers,
// network and volumes even when ctx is already cancelled.
func (c *dockerCluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		var err error
		if kept := c.keepIfReused(ctx); kept != nil {
			c.rt.pool.put(ctx, c.rt.cli, kept)
		} else {
			_, err = Clean(ctx, c.rt.cli, CleanOptions{Run: c.run})
		}
		c.logStop()
		c.followers.Wait()
		for _, n := range c.nodes {
			err = errors.Join(err, n.log.close())
		}
		if err != nil {
			c.closeErr = fmt.Errorf("clean up run %s: %w", c.run, err)
		}
	})
	return c.closeErr
}
