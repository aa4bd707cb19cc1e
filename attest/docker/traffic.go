package docker

import (
	"context"
	"fmt"
	"sync"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

var _ cluster.TrafficCounter = (*dockerCluster)(nil)

// Traffic implements cluster.TrafficCounter. Every node's clstr-netd
// counts, with one nftables counter per peer in the node's network
// namespace, what the node sends each other node (see netd's
// setCounting). The namespace is the sandbox's, not the node container's,
// so the counts go on across stops, kills and restarts of the node, and
// spare nodes count from the start too. The first call installs the
// counters on every node; each later one reads them all, in parallel, one
// exec in each sandbox.
func (c *dockerCluster) Traffic(ctx context.Context) (cluster.Traffic, error) {
	c.trafficMu.Lock()
	defer c.trafficMu.Unlock()
	out := cluster.Traffic{}
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from != to {
				out[cluster.Pair{From: from.name, To: to.name}] = cluster.Count{}
			}
		}
	}
	if !c.counting {
		err := c.eachNode(c.nodes, func(n *node) error {
			req := netd.Request{Op: "count"}
			for _, p := range c.nodes {
				if p != n {
					req.Peers = append(req.Peers, p.ip.String())
				}
			}
			_, err := c.netctl(ctx, n, req)
			return err
		}, func() { c.counting = true })
		if err != nil {
			return nil, fmt.Errorf("count traffic: %w", err)
		}
		return out, nil
	}
	byIP := map[string]string{}
	for _, n := range c.nodes {
		byIP[n.ip.String()] = n.name
	}
	var mu sync.Mutex // guards out
	err := c.eachNode(c.nodes, func(n *node) error {
		resp, err := c.netctl(ctx, n, netd.Request{Op: "traffic"})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range resp.Sent {
			to, ok := byIP[s.Peer]
			if !ok {
				return fmt.Errorf("%s: clstr-netd counts traffic to %s, which is no node", n.name, s.Peer)
			}
			out[cluster.Pair{From: n.name, To: to}] = cluster.Count{Packets: s.Packets, Bytes: s.Bytes}
		}
		return nil
	}, func() {})
	if err != nil {
		return nil, fmt.Errorf("read the traffic counts: %w", err)
	}
	return out, nil
}

// stopCounting removes the traffic counters of every node, if they were
// installed, for sandboxes kept for the next cluster. Impairments must be
// repaired first: see netd's stopCounting.
func (c *dockerCluster) stopCounting(ctx context.Context) error {
	c.trafficMu.Lock()
	defer c.trafficMu.Unlock()
	if !c.counting {
		return nil
	}
	return c.eachNode(c.nodes, func(n *node) error {
		_, err := c.netctl(ctx, n, netd.Request{Op: "uncount"})
		return err
	}, func() { c.counting = false })
}
