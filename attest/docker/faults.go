package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

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
			c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventPartition, Peers: b})
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
			c.events.Add(cluster.Event{Node: s.name, Kind: cluster.EventCut, Peers: a})
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
	c.events.Add(cluster.Event{Kind: cluster.EventHeal})
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
	for _, p := range peers {
		req.Towards = append(req.Towards, p.ip.String())
	}
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	return c.eachNode(nodes, func(n *node) error {
		resp, err := c.netctl(ctx, n, req)
		if err != nil {
			return fmt.Errorf("impair: %w", err)
		}
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventImpair, Peers: towards, Impairments: imps, Via: resp.Path})
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
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventRepair})
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
