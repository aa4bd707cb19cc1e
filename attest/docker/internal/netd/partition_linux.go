package netd

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// partitionTable is the nftables table that holds a node's partition.
const partitionTable = "clstr_partition"

// setPartition makes the namespace drop every packet that arrives from the
// given IPv4 addresses; an empty list lets everything in again.
//
// Packets are dropped on arrival, never on the way out: a drop on the
// output hook fails the sender's own call with EPERM, where a real network
// cut makes it wait and time out. Every node of a partition drops what
// comes from the other side, so the cut is still bidirectional, and
// established connections are cut too.
//
// The table and its chain, once made, stay for the namespace's life and
// only their rules change: deleting a hooked chain makes the kernel drop
// every packet its queues hold, which would break an impairment's delay.
func setPartition(blocked []netip.Addr) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: partitionTable})
	policy := nftables.ChainPolicyAccept
	in := c.AddChain(&nftables.Chain{
		Name: "input", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	c.FlushChain(in)
	for _, ip := range blocked {
		if !ip.Is4() {
			return fmt.Errorf("partition: %v is not an IPv4 address", ip)
		}
		a := ip.As4()
		c.AddRule(&nftables.Rule{Table: table, Chain: in, Exprs: []expr.Any{
			// ip saddr == a: drop
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program partition rules: %w", err)
	}
	return nil
}
