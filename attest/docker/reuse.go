package docker

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/clstr-dev/clstr/internal/netd"
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
}

type keptNode struct {
	name, hostPort, sandboxID string
	ip                        netip.Addr
}

// take returns kept sandboxes for a cluster of n nodes, if there are any.
// Kept sandboxes of another size are removed.
func (p *sandboxPool) take(ctx context.Context, cli *client.Client, n int) *keptSandboxes {
	p.mu.Lock()
	k := p.kept
	p.kept = nil
	p.mu.Unlock()
	if k == nil {
		return nil
	}
	if len(k.nodes) != n {
		_, _ = Clean(ctx, cli, CleanOptions{Run: k.run})
		return nil
	}
	return k
}

// put keeps k, removing whatever was kept before.
func (p *sandboxPool) put(ctx context.Context, cli *client.Client, k *keptSandboxes) {
	p.mu.Lock()
	old := p.kept
	p.kept = k
	p.mu.Unlock()
	if old != nil {
		_, _ = Clean(ctx, cli, CleanOptions{Run: old.run})
	}
}

// drain removes what is kept.
func (p *sandboxPool) drain(ctx context.Context, cli *client.Client) error {
	p.mu.Lock()
	k := p.kept
	p.kept = nil
	p.mu.Unlock()
	if k == nil {
		return nil
	}
	_, err := Clean(ctx, cli, CleanOptions{Run: k.run})
	return err
}

// adopt makes c the owner of kept sandboxes: c takes their run, network
// and nodes' addresses, and creates each node's volume and container.
func (c *dockerCluster) adopt(ctx context.Context, k *keptSandboxes, image string) error {
	for i, kn := range k.nodes {
		n := c.nodes[i]
		n.ip, n.hostPort, n.sandboxID = kn.ip, kn.hostPort, kn.sandboxID
	}
	c.events.Add("", "REUSING the network and sandboxes of the previous run")
	return c.eachNode(c.nodes, func(n *node) error {
		prefix := "clstr-" + c.run + "-" + n.name
		if err := c.createVolume(ctx, n, prefix+"-data"); err != nil {
			return err
		}
		if err := c.createContainer(ctx, n, image, prefix); err != nil {
			return err
		}
		return c.Start(ctx, n.name)
	}, func() {})
}

// keepIfReused keeps c's sandboxes when the runtime reuses them.
func (c *dockerCluster) keepIfReused(ctx context.Context) *keptSandboxes {
	if !c.rt.opts.ReuseSandboxes {
		return nil
	}
	return c.keep(ctx)
}

// keep readies c's sandboxes for the next cluster: it removes the nodes'
// containers and volumes, heals partitions and repairs impairments. It
// returns nil, having removed nothing, if the sandboxes cannot be kept.
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
	if c.resetFaults(ctx) != nil {
		return nil
	}
	k := &keptSandboxes{run: c.run, networkID: c.networkID, subnet: c.subnet}
	for _, n := range c.nodes {
		k.nodes = append(k.nodes, keptNode{name: n.name, hostPort: n.hostPort, sandboxID: n.sandboxID, ip: n.ip})
	}
	return k
}

// resetFaults heals c's partitions and repairs its impairments, quietly:
// they belong to the run that is over.
func (c *dockerCluster) resetFaults(ctx context.Context) error {
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	if err := c.applyPartition(ctx, nil); err != nil {
		return err
	}
	var impaired []*node
	for _, n := range c.nodes {
		if c.impaired[n.name] {
			impaired = append(impaired, n)
		}
	}
	return c.eachNode(impaired, func(n *node) error {
		_, err := c.netctl(ctx, n, netd.Request{Op: "repair"})
		return err
	}, func() { clear(c.impaired) })
}
