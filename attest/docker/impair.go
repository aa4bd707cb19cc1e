package docker

import (
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// noteShaper writes what a node's impairments did to its traffic into
// the event log when a repair reports it, one line per node beside its
// REPAIRED: "REPAIR: shaper saw 1234 packets: 240 dropped, …".
func (c *dockerCluster) noteShaper(n *node, req netd.Request, resp netd.Response) {
	if req.Op == "repair" && resp.Shaper != nil && c.events != nil {
		c.events.Add(cluster.Event{Node: n.name, Kind: cluster.EventShaper, Detail: resp.Shaper.String()})
	}
}
