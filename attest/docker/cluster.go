package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/netd"
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
			spec.Events.Add("", "CLEANUP OF OLD RUNS FAILED: %v", err)
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
		c.events.Add("", "NETWORK: %s taken, using %s", DefaultSubnet, c.subnet)
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

// createNode creates the node's volume, sandbox and container, and starts
// them; a spare node is created but not started. Calls that do not depend
// on each other overlap: the volume and the sandbox are created together,
// the sandbox starts while the target's image may still be building, the
// node's container is created (once targetImage returns) while the sandbox
// starts (Docker resolves "container:<sandbox>" at start), and the sandbox's
// host port is learnt while the node starts. The node starts as soon as its
// own sandbox is up, whatever the other nodes' are doing.
func (c *dockerCluster) createNode(ctx context.Context, n *node, targetImage func() (string, error), netdImage string) error {
	prefix := "clstr-" + c.run + "-" + n.name
	var volErr error
	volDone := make(chan struct{})
	go func() {
		defer close(volDone)
		volErr = c.createVolume(ctx, n, prefix+"-data")
	}()
	sbErr := c.createSandbox(ctx, n, netdImage, prefix+"-net")
	<-volDone
	if err := errors.Join(sbErr, volErr); err != nil {
		return err
	}

	started := make(chan error, 1)
	go func() { started <- c.startSandbox(ctx, n) }()
	image, ctErr := targetImage()
	if ctErr == nil {
		ctErr = c.createContainer(ctx, n, image, prefix)
	}
	if err := errors.Join(<-started, ctErr); err != nil {
		return err
	}
	// The node needs its sandbox running, not its host port: learn that
	// while the node starts.
	ported := make(chan error, 1)
	go func() { ported <- c.learnHostPort(ctx, n) }()
	var startErr error
	if !c.spare(n) {
		startErr = c.Start(ctx, n.name)
	}
	return errors.Join(<-ported, startErr)
}

// spare reports whether n is outside the initial configuration.
func (c *dockerCluster) spare(n *node) bool {
	return slices.Index(c.nodes, n) >= c.members
}

func (c *dockerCluster) createVolume(ctx context.Context, n *node, name string) error {
	vol, err := c.rt.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: c.rt.labels.forRun(c.run, "data", n.name)})
	if err != nil {
		return fmt.Errorf("%s: create data volume: %w", n.name, err)
	}
	n.volume = vol.Name
	return nil
}

// sandboxPort is the node's port as the sandbox exposes it.
var sandboxPort = nat.Port(fmt.Sprintf("%d/tcp", nodePort))

// createSandbox creates the container that holds the node's network
// namespace, address and published port, and runs clstr-netd.
func (c *dockerCluster) createSandbox(ctx context.Context, n *node, netdImage, name string) error {
	sb, err := c.rt.cli.ContainerCreate(ctx,
		&container.Config{
			Image:        netdImage,
			Hostname:     n.name,
			ExposedPorts: nat.PortSet{sandboxPort: struct{}{}},
			Labels:       c.rt.labels.forRun(c.run, "sandbox", n.name),
		},
		c.rt.confine(roleSandbox, &container.HostConfig{
			NetworkMode:  container.NetworkMode("clstr-" + c.run),
			PortBindings: nat.PortMap{sandboxPort: {{HostIP: "127.0.0.1", HostPort: ""}}},
			CapDrop:      []string{"ALL"},
			CapAdd:       []string{"NET_ADMIN", "NET_RAW"},
		}),
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			"clstr-" + c.run: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.ip.String()}},
		}},
		nil, name)
	if err != nil {
		return fmt.Errorf("%s: create sandbox: %w", n.name, err)
	}
	n.sandboxID = sb.ID
	return nil
}

// startSandbox starts the sandbox and, in a sandboxed run, cuts its route
// out of the cluster.
func (c *dockerCluster) startSandbox(ctx context.Context, n *node) error {
	c.firstStart.CompareAndSwap(0, time.Now().UnixNano())
	if err := c.rt.cli.ContainerStart(ctx, n.sandboxID, container.StartOptions{}); err != nil {
		return fmt.Errorf("%s: start sandbox: %w", n.name, portHint(err))
	}
	return c.lockdown(ctx, n)
}

// learnHostPort asks Docker which port of 127.0.0.1 it published for the
// node's started sandbox.
func (c *dockerCluster) learnHostPort(ctx context.Context, n *node) error {
	info, err := c.rt.cli.ContainerInspect(ctx, n.sandboxID)
	if err != nil {
		return fmt.Errorf("%s: inspect sandbox: %w", n.name, err)
	}
	if b := info.NetworkSettings.Ports[sandboxPort]; len(b) > 0 {
		n.hostPort = b[0].HostPort
	}
	if n.hostPort == "" {
		return fmt.Errorf("%s: Docker published no host port for %s", n.name, sandboxPort)
	}
	return nil
}

// createContainer creates the node's own container from the target image,
// joined to its sandbox's network namespace.
func (c *dockerCluster) createContainer(ctx context.Context, n *node, image, name string) error {
	env := []string{
		"ADDR=" + c.addr(n),
		"PEERS=" + strings.Join(c.peers(n), ","),
		"CLUSTER=" + strings.Join(c.initial(), ","),
		"DATA_DIR=" + dataDir,
	}
	fixed := len(env)
	for k, v := range c.rt.opts.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env[fixed:])
	init := true
	cfg := &container.Config{Image: image, Env: env, Labels: c.rt.labels.forRun(c.run, "node", n.name)}
	hc := c.rt.confine(roleNode, &container.HostConfig{
		NetworkMode: container.NetworkMode("container:" + n.sandboxID),
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: n.volume, Target: dataDir}},
		// An init process forwards SIGTERM to the program and reaps
		// zombies, so a node stops as it would on a host.
		Init: &init,
	})
	if c.durableRun {
		if err := c.makeDurable(ctx, image, cfg, hc); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	ct, err := c.rt.cli.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return fmt.Errorf("%s: create container from %s: %w", n.name, image, err)
	}
	n.containerID = ct.ID
	if c.durableRun {
		return c.installSupervisor(ctx, ct.ID)
	}
	return nil
}

// portHint explains a port clash, which a user can act on.
func portHint(err error) error {
	if strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "port is already allocated") {
		return fmt.Errorf("%w\na port on 127.0.0.1 is taken; stop whatever holds it and try again", err)
	}
	return err
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

// Nodes implements cluster.Cluster.
func (c *dockerCluster) Nodes() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.name
	}
	return out
}

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
	n, err := c.node(name)
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running
}

// Start implements cluster.Cluster.
func (c *dockerCluster) Start(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return nil
	}
	c.firstNodeStart.CompareAndSwap(0, time.Now().UnixNano())
	if err := c.rt.cli.ContainerStart(ctx, n.containerID, container.StartOptions{}); err != nil {
		return &cluster.TargetError{Err: fmt.Errorf("%s: start: %w", n.name, err)}
	}
	n.running = true
	c.events.Add(n.name, "START")
	c.followers.Add(1)
	go func() {
		defer c.followers.Done()
		c.follow(c.logCtx, n)
	}()
	return nil
}

// Stop implements cluster.Cluster: SIGTERM, then SIGKILL after the
// shutdown timeout. Docker's own stop and restart are not used, because on
// some daemon versions a restart with a signal silently stops gracefully.
func (c *dockerCluster) Stop(ctx context.Context, name string) error {
	return c.halt(ctx, name, "SIGTERM")
}

// Kill implements cluster.Cluster: SIGKILL at once.
func (c *dockerCluster) Kill(ctx context.Context, name string) error {
	return c.halt(ctx, name, "SIGKILL")
}

func (c *dockerCluster) halt(ctx context.Context, name, signal string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return nil
	}
	cli := c.rt.cli
	// Wait registered before the signal, so the exit cannot be missed.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, waitErr := cli.ContainerWait(wctx, n.containerID, container.WaitConditionNotRunning)
	if err := cli.ContainerKill(ctx, n.containerID, signal); err != nil && !c.exited(ctx, n.containerID) {
		return fmt.Errorf("%s: send %s: %w", n.name, signal, err)
	}
	if c.faults.Paused(n.name) {
		// The signal waits for the thaw; a SIGKILL has already done its
		// work by then. Docker may have thawed the container itself.
		if err := cli.ContainerUnpause(ctx, n.containerID); err != nil && !c.thawed(ctx, n.containerID) {
			return fmt.Errorf("%s: thaw to stop: %w", n.name, err)
		}
		c.faults.Resume(n.name)
		c.events.Add(n.name, "RESUME")
	}
	timeout := c.shutdownTimeout
	if signal == "SIGKILL" {
		timeout = cleanupTimeout
	}
	event := "KILL"
	select {
	case <-exited:
		if signal == "SIGTERM" {
			event = "STOP"
		}
	case err := <-waitErr:
		return fmt.Errorf("%s: wait for exit: %w", n.name, err)
	case <-time.After(timeout):
		if signal == "SIGKILL" {
			return fmt.Errorf("%s: still running %v after SIGKILL", n.name, timeout)
		}
		c.events.Add(n.name, "STOP: no exit %v after SIGTERM, sending SIGKILL", timeout)
		if err := cli.ContainerKill(ctx, n.containerID, "SIGKILL"); err != nil && !c.exited(ctx, n.containerID) {
			return fmt.Errorf("%s: send SIGKILL: %w", n.name, err)
		}
		select {
		case <-exited:
		case err := <-waitErr:
			return fmt.Errorf("%s: wait for exit: %w", n.name, err)
		}
	}
	n.running = false
	c.events.Add(n.name, "%s", event)
	return nil
}

// Pause implements cluster.Cluster with Docker's pause, which freezes the
// node container's cgroup: the process keeps its sockets, which live in
// the sandbox's namespace, and gets no CPU until Resume.
func (c *dockerCluster) Pause(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := cluster.ValidatePause(n.name, n.running); err != nil {
		return err
	}
	if c.faults.Paused(n.name) {
		return nil
	}
	if err := c.pause(ctx, n.containerID); err != nil {
		return fmt.Errorf("%s: pause: %w", n.name, err)
	}
	c.faults.Pause(n.name)
	c.events.Add(n.name, "PAUSE")
	return nil
}

// Resume implements cluster.Cluster.
func (c *dockerCluster) Resume(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !c.faults.Paused(n.name) {
		return nil
	}
	if err := c.rt.cli.ContainerUnpause(ctx, n.containerID); err != nil && !c.thawed(ctx, n.containerID) {
		return fmt.Errorf("%s: resume: %w", n.name, err)
	}
	c.faults.Resume(n.name)
	c.events.Add(n.name, "RESUME")
	return nil
}

// Paused implements cluster.Cluster.
func (c *dockerCluster) Paused(name string) bool {
	return c.faults.Paused(name)
}

// Partition implements cluster.Cluster.
func (c *dockerCluster) Partition(ctx context.Context, groups [][]string) error {
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	next, err := c.faults.Network().Partition(groups)
	if err != nil {
		return err
	}
	if err := c.applyBlocks(ctx, next); err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	for _, n := range c.nodes {
		if b := next.PartitionedFrom(n.name); len(b) > 0 {
			c.events.Add(n.name, "PARTITIONED FROM: %s", strings.Join(b, ", "))
		}
	}
	return nil
}

// Cut implements cluster.Cluster: each node of dst drops what comes from
// the nodes of src, so src's packets vanish on the way as on a broken
// link, and the sender's own calls succeed.
func (c *dockerCluster) Cut(ctx context.Context, src, dst []string) error {
	srcs, err := c.lookup(src)
	if err != nil {
		return err
	}
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	next, added, err := c.faults.Network().Cut(src, dst)
	if err != nil {
		return err
	}
	if err := c.applyBlocks(ctx, next); err != nil {
		return fmt.Errorf("cut: %w", err)
	}
	for _, s := range srcs {
		if a := added[s.name]; len(a) > 0 {
			c.events.Add(s.name, "CUT TO: %s", strings.Join(a, ", "))
			delete(added, s.name) // a source named twice is logged once
		}
	}
	return nil
}

// Heal implements cluster.Cluster: partitions and cuts go.
func (c *dockerCluster) Heal(ctx context.Context) error {
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	if err := c.applyBlocks(ctx, c.faults.Network().Healed()); err != nil {
		return fmt.Errorf("heal: %w", err)
	}
	c.events.Add("", "PARTITION HEALED")
	return nil
}

// applyBlocks makes every node drop the packets of the peers that the
// next network's partition or cuts separate it from, programming only the
// nodes whose set changes, and puts next in force; c.faultMu is held.
func (c *dockerCluster) applyBlocks(ctx context.Context, next cluster.Network) error {
	now := c.faults.Network()
	return c.eachNode(c.nodes, func(n *node) error {
		if slices.Equal(now.Drops(n.name), next.Drops(n.name)) {
			return nil
		}
		req := netd.Request{Op: "partition"}
		for _, name := range next.Drops(n.name) {
			req.Block = append(req.Block, c.byName[name].ip.String())
		}
		_, err := c.netctl(ctx, n, req)
		return err
	}, func() { c.faults.SetNetwork(next) })
}

// eachNode runs fn on the nodes in parallel; if all succeed it calls done.
func (c *dockerCluster) eachNode(nodes []*node, fn func(*node) error, done func()) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	done()
	return nil
}

// Impair implements cluster.Cluster.
func (c *dockerCluster) Impair(ctx context.Context, names []string, imps []cluster.Impairment) error {
	return c.ImpairTowards(ctx, names, nil, imps)
}

// ImpairTowards implements cluster.Cluster.
func (c *dockerCluster) ImpairTowards(ctx context.Context, names, towards []string, imps []cluster.Impairment) error {
	if err := cluster.ValidateImpair(c.faults.Nodes(), names, towards, imps); err != nil {
		return err
	}
	nodes, err := c.lookup(names)
	if err != nil {
		return err
	}
	peers, err := c.lookup(towards)
	if err != nil {
		return err
	}
	req := netd.Request{Op: "impair", Impairments: imps}
	event := "IMPAIRED: %s (%s)"
	if len(peers) > 0 {
		for _, p := range peers {
			req.Towards = append(req.Towards, p.ip.String())
		}
		event = "IMPAIRED TOWARDS " + strings.Join(towards, ", ") + ": %s (%s)"
	}
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	return c.eachNode(nodes, func(n *node) error {
		resp, err := c.netctl(ctx, n, req)
		if err != nil {
			return fmt.Errorf("impair: %w", err)
		}
		c.events.Add(n.name, event, cluster.Impairments(imps), resp.Path)
		return nil
	}, func() { c.faults.Impair(names, towards, imps) })
}

// Repair implements cluster.Cluster.
func (c *dockerCluster) Repair(ctx context.Context, names []string) error {
	nodes, err := c.lookup(names)
	if err != nil {
		return err
	}
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	return c.eachNode(nodes, func(n *node) error {
		if _, err := c.netctl(ctx, n, netd.Request{Op: "repair"}); err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		c.events.Add(n.name, "REPAIRED")
		return nil
	}, func() { c.faults.Repair(names) })
}

func (c *dockerCluster) lookup(names []string) ([]*node, error) {
	out := make([]*node, 0, len(names))
	for _, name := range names {
		n, err := c.node(name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
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
