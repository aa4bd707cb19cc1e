package attesttest

import (
	"context"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Partition implements cluster.Cluster by recording which nodes are cut off
// from which; see Blocked.
func (c *Cluster) Partition(ctx context.Context, groups [][]string) error {
	if err := cluster.ValidatePartition(c.faults.Nodes(), groups); err != nil {
		return err
	}
	if err := c.rt.fail("partition", ""); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := c.faults.Network().Partition(groups)
	if err != nil {
		return err
	}
	c.faults.SetNetwork(next)
	for _, a := range c.nodes {
		if cut := next.PartitionedFrom(a.name); len(cut) > 0 {
			c.events.Add(cluster.Event{Node: a.name, Kind: cluster.EventPartition, Peers: cut})
		}
	}
	return nil
}

// Heal implements cluster.Cluster.
func (c *Cluster) Heal(ctx context.Context) error {
	if err := c.rt.fail("heal", ""); err != nil {
		return err
	}
	c.mu.Lock()
	c.faults.SetNetwork(c.faults.Network().Healed())
	c.mu.Unlock()
	c.events.Add(cluster.Event{Kind: cluster.EventHeal})
	return nil
}

// Blocked reports whether the current partition cuts node a off from
// node b.
func (c *Cluster) Blocked(a, b string) bool {
	return c.faults.Network().Separated(a, b)
}

// Cut implements cluster.Cluster by recording the cuts; see IsCut.
func (c *Cluster) Cut(ctx context.Context, src, dst []string) error {
	if err := cluster.ValidateCut(c.faults.Nodes(), src, dst); err != nil {
		return err
	}
	if err := c.rt.fail("cut", ""); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, newly, err := c.faults.Network().Cut(src, dst)
	if err != nil {
		return err
	}
	c.faults.SetNetwork(next)
	for _, s := range src {
		if added := newly[s]; len(added) > 0 {
			c.events.Add(cluster.Event{Node: s, Kind: cluster.EventCut, Peers: added})
			delete(newly, s) // a source named twice is logged once
		}
	}
	return nil
}

// IsCut reports whether a cut drops what node src sends to node dst.
func (c *Cluster) IsCut(src, dst string) bool {
	return c.faults.Network().IsCut(src, dst)
}

// Impair implements cluster.Cluster by recording the impairments; see
// Impairments.
func (c *Cluster) Impair(ctx context.Context, names []string, imps []cluster.Impairment) error {
	return c.ImpairTowards(ctx, names, nil, imps)
}

// ImpairTowards implements cluster.Cluster by recording the impairments
// and their destinations; see Impairments and Towards.
func (c *Cluster) ImpairTowards(ctx context.Context, names, towards []string, imps []cluster.Impairment) error {
	if err := cluster.ValidateImpair(c.faults.Nodes(), names, towards, imps); err != nil {
		return err
	}
	for _, name := range names {
		if err := c.rt.fail("impair", name); err != nil {
			return err
		}
	}
	c.faults.Impair(names, towards, imps)
	for _, name := range names {
		c.events.Add(cluster.Event{Node: name, Kind: cluster.EventImpair, Peers: towards, Impairments: imps})
	}
	return nil
}

// Towards returns the nodes the node's impairments are limited to; empty
// when they apply to all its traffic.
func (c *Cluster) Towards(name string) []string {
	return c.faults.Towards(name)
}

// Repair implements cluster.Cluster.
func (c *Cluster) Repair(ctx context.Context, names []string) error {
	if err := cluster.ValidateNodes(c.faults.Nodes(), names); err != nil {
		return err
	}
	for _, name := range names {
		if err := c.rt.fail("repair", name); err != nil {
			return err
		}
	}
	c.faults.Repair(names)
	for _, name := range names {
		c.events.Add(cluster.Event{Node: name, Kind: cluster.EventRepair})
	}
	return nil
}

// Impairments returns the impairments in force on the node.
func (c *Cluster) Impairments(name string) cluster.Impairments {
	return c.faults.Impairments(name)
}
