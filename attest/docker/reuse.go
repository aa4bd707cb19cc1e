package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// With Options.ReuseSandboxes, a closed cluster hands its network and its
// running sandboxes (each node's address, published port and clstr-netd)
// to the next cluster of the same size that the runtime creates: that
// cluster creates only fresh data volumes and the nodes' own containers.
// Creating and starting the sandboxes is the costly part of a cluster's
// start, so reruns (clstr run --watch, clstr test --so-far) start faster.
// Nothing of a run survives into the next but the sandboxes themselves:
// the nodes' containers and volumes are removed, partitions healed and
// impairments repaired before the sandboxes are kept.
//
// While the sandboxes wait, the next run's data volumes and containers
// are created from the target image in the background, so that a rerun
// of an unchanged target only starts them. A rerun whose target changed
// removes them and creates its own.

// sandboxPool holds at most one closed cluster's sandboxes.
type sandboxPool struct {
	mu   sync.Mutex // guards kept
	kept *keptSandboxes
}

// keptSandboxes is what a closed cluster leaves for the next one.
type keptSandboxes struct {
	run       string
	networkID string
	subnet    netip.Prefix
	nodes     []keptNode
	members   int // nodes of the initial configuration; the others are spare

	// image is the target image (a tag) the closed cluster ran, which
	// the next run's containers are made ahead from. prepared is closed
	// once the goroutine that makes them has filled in the nodes'
	// containerID, volume, imageID and err; nobody reads those, or
	// cleans the run, before that.
	image    string
	prepared chan struct{}
	// durable says whether the containers made ahead serve DATA_DIR
	// durably (durable.go); a run that asks otherwise makes its own.
	durable bool
}

type keptNode struct {
	name, hostPort, sandboxID string
	ip                        netip.Addr
	// containerID and volume were made ahead for the next run from the
	// image imageID (an id, not a tag: a rebuilt directory keeps its
	// tag); "" if making them failed with err.
	containerID, volume, imageID string
	err                          error
}

// wait returns once the next run's containers are made (or failed).
func (k *keptSandboxes) wait() {
	if k.prepared != nil {
		<-k.prepared
	}
}

// take returns kept sandboxes for a cluster of n nodes and spare spare
// nodes, if there are any. Kept sandboxes of another shape are removed:
// the containers made ahead carry the initial configuration in their
// environment.
func (p *sandboxPool) take(ctx context.Context, cli *client.Client, n, spare int) *keptSandboxes {
	k := p.swap(nil)
	if k == nil {
		return nil
	}
	if len(k.nodes) != n+spare || k.members != n {
		_, _ = Clean(ctx, cli, CleanOptions{Run: k.run})
		return nil
	}
	return k
}

// put keeps k, removing whatever was kept before.
func (p *sandboxPool) put(ctx context.Context, cli *client.Client, k *keptSandboxes) {
	if old := p.swap(k); old != nil {
		_, _ = Clean(ctx, cli, CleanOptions{Run: old.run})
	}
}

// drain removes what is kept.
func (p *sandboxPool) drain(ctx context.Context, cli *client.Client) error {
	k := p.swap(nil)
	if k == nil {
		return nil
	}
	_, err := Clean(ctx, cli, CleanOptions{Run: k.run})
	return err
}

// swap keeps k in place of what was kept, and returns that once the
// containers made ahead for it are ready to be used or removed.
func (p *sandboxPool) swap(k *keptSandboxes) *keptSandboxes {
	p.mu.Lock()
	old := p.kept
	p.kept = k
	p.mu.Unlock()
	if old != nil {
		old.wait()
	}
	return old
}

// adopt makes c the owner of kept sandboxes: c takes their run, network
// and nodes' addresses, and starts each node's container, made ahead if
// it is of c's image and made now if not.
func (c *dockerCluster) adopt(ctx context.Context, k *keptSandboxes, image string) error {
	imageID := ""
	if img, err := c.rt.cli.ImageInspect(ctx, image); err == nil {
		imageID = img.ID
	}
	ahead := make(map[*node]keptNode, len(k.nodes))
	stale := map[string]bool{}
	for i, kn := range k.nodes {
		n := c.nodes[i]
		n.ip, n.hostPort, n.sandboxID = kn.ip, kn.hostPort, kn.sandboxID
		ahead[n] = kn
		if kn.containerID != "" && kn.imageID != imageID {
			stale[kn.imageID] = true
		}
	}
	c.events.Add(cluster.Event{Kind: cluster.EventReuse})
	err := c.eachNode(c.nodes, func(n *node) error {
		kn := ahead[n]
		if kn.containerID != "" && kn.imageID == imageID && imageID != "" && k.durable == c.durableRun {
			n.containerID, n.volume = kn.containerID, kn.volume
			return c.startUnlessSpare(ctx, n)
		}
		// Made ahead of a target that has changed since, it may have
		// failed for that alone.
		if kn.err != nil && k.image == image {
			c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPrepareFailed, Detail: kn.err.Error()})
		}
		if err := c.removeMadeAhead(ctx, kn); err != nil {
			return err
		}
		prefix := "clstr-" + c.run + "-" + n.name
		if err := c.createVolume(ctx, n, prefix+"-data"); err != nil {
			return err
		}
		if err := c.createContainer(ctx, n, image, prefix); err != nil {
			return err
		}
		return c.startUnlessSpare(ctx, n)
	}, func() {})
	// A rebuild tried to remove the image it replaced while containers
	// made ahead still used it; now nothing of this run does.
	if c.rt.opts.Image == "" {
		for id := range stale {
			c.rt.supersede(id)
		}
	}
	return err
}

func (c *dockerCluster) startUnlessSpare(ctx context.Context, n *node) error {
	if c.spare(n) {
		return nil
	}
	return c.Start(ctx, n.name)
}

// removeMadeAhead removes a kept node's container and volume made ahead.
func (c *dockerCluster) removeMadeAhead(ctx context.Context, kn keptNode) error {
	if kn.containerID != "" {
		if err := c.rt.cli.ContainerRemove(ctx, kn.containerID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
			return fmt.Errorf("%s: remove the container made ahead: %w", kn.name, err)
		}
	}
	if kn.volume != "" {
		if err := c.rt.cli.VolumeRemove(ctx, kn.volume, true); err != nil && !client.IsErrNotFound(err) {
			return fmt.Errorf("%s: remove the volume made ahead: %w", kn.name, err)
		}
	}
	return nil
}

// prepare makes, in the background, each kept node's data volume and
// container for the next run from c's image, and closes k.prepared. A
// node whose making fails is made by the next run, which says why.
func (c *dockerCluster) prepare(k *keptSandboxes) {
	k.image, k.prepared, k.durable = c.image, make(chan struct{}), c.durableRun
	go func() {
		defer close(k.prepared)
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for i := range k.nodes {
			kn := &k.nodes[i]
			wg.Go(func() { kn.err = c.makeAhead(ctx, kn) })
		}
		wg.Wait()
	}()
}

// makeAhead makes a kept node's next data volume and container.
func (c *dockerCluster) makeAhead(ctx context.Context, kn *keptNode) error {
	// A node of its own, so that nothing of the closed cluster changes.
	n := &node{name: kn.name, ip: kn.ip, sandboxID: kn.sandboxID}
	prefix := "clstr-" + c.run + "-" + n.name
	if err := c.createVolume(ctx, n, prefix+"-data"); err != nil {
		return err
	}
	err := c.createContainer(ctx, n, c.image, prefix)
	var info container.InspectResponse
	if err == nil {
		info, err = c.rt.cli.ContainerInspect(ctx, n.containerID)
	}
	if err != nil {
		return errors.Join(err, c.removeMadeAhead(ctx, keptNode{name: n.name, containerID: n.containerID, volume: n.volume}))
	}
	kn.containerID, kn.volume, kn.imageID = n.containerID, n.volume, info.Image
	return nil
}

// keepIfReused keeps c's sandboxes when the runtime reuses them, and
// starts making the next run's containers.
func (c *dockerCluster) keepIfReused(ctx context.Context) *keptSandboxes {
	if !c.rt.opts.ReuseSandboxes {
		return nil
	}
	k := c.keep(ctx)
	if k != nil && c.image != "" {
		c.prepare(k)
	}
	return k
}

// keep readies c's sandboxes for the next cluster: it removes the nodes'
// containers and volumes, heals partitions, repairs impairments and
// removes the traffic counters. It returns nil, having removed nothing,
// if the sandboxes cannot be kept.
func (c *dockerCluster) keep(ctx context.Context) *keptSandboxes {
	for _, n := range c.nodes {
		if n.sandboxID == "" || n.containerID == "" || n.volume == "" {
			return nil
		}
	}
	cli := c.rt.cli
	err := c.eachNode(c.nodes, func(n *node) error {
		if err := cli.ContainerRemove(ctx, n.containerID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
			return err
		}
		if err := cli.VolumeRemove(ctx, n.volume, true); err != nil && !client.IsErrNotFound(err) {
			return err
		}
		info, err := cli.ContainerInspect(ctx, n.sandboxID)
		if err != nil {
			return err
		}
		if !info.State.Running {
			return errors.New("sandbox not running")
		}
		return nil
	}, func() {})
	if err != nil {
		return nil
	}
	if c.resetFaults(ctx) != nil || c.stopCounting(ctx) != nil {
		return nil
	}
	k := &keptSandboxes{run: c.run, networkID: c.networkID, subnet: c.subnet, members: c.members}
	for _, n := range c.nodes {
		k.nodes = append(k.nodes, keptNode{name: n.name, hostPort: n.hostPort, sandboxID: n.sandboxID, ip: n.ip})
	}
	return k
}

// resetFaults heals c's partitions and cuts and repairs its impairments, quietly:
// they belong to the run that is over.
func (c *dockerCluster) resetFaults(ctx context.Context) error {
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	if err := c.applyBlocks(ctx, c.faults.Network().Healed()); err != nil {
		return err
	}
	names := c.faults.Impaired()
	impaired, err := c.lookup(names)
	if err != nil {
		return err
	}
	return c.eachNode(impaired, func(n *node) error {
		_, err := c.netctl(ctx, n, netd.Request{Op: "repair"})
		return err
	}, func() { c.faults.Repair(names) })
}
