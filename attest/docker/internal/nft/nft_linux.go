// Package nft opens nftables in a node's network namespace and removes
// tables from it, for the parts of clstr-netd that program nftables
// there: the impairments, the lockdown and the traffic counters.
package nft

import (
	"fmt"

	"github.com/google/nftables"
)

// Conn opens nftables in the network namespace open as netns, or in the
// calling thread's for 0.
func Conn(netns int) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	return c, nil
}

// RemoveTable deletes the table from the namespace netns if it is there.
// Removing a hooked chain makes the kernel drop the packets that any
// queue of the namespace holds.
func RemoveTable(netns int, t *nftables.Table) error {
	c, err := Conn(netns)
	if err != nil {
		return err
	}
	DropTable(c, t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove nftables table %s: %w", t.Name, err)
	}
	return nil
}

// DropTable adds to c's batch the deletion of the table if it is there.
func DropTable(c *nftables.Conn, t *nftables.Table) {
	// Adding then deleting is nftables' "delete if it exists".
	c.AddTable(t)
	c.DelTable(t)
}
