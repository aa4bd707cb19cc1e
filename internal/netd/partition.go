package netd

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// partitionTable is the nftables table that holds a node's partition: it
// drops every packet to or from a blocked peer, in both directions, so
// established connections are cut too.
const partitionTable = "clstr_partition"

// setPartition replaces the namespace's partition rules with ones that
// block the given IPv4 addresses. An empty list removes the table.
func setPartition(blocked []netip.Addr) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: partitionTable}
	// add+delete is how nftables says "delete if it exists" in one batch.
	c.AddTable(table)
	c.DelTable(table)
	if len(blocked) > 0 {
		c.AddTable(table)
		policy := nftables.ChainPolicyAccept
		in := c.AddChain(&nftables.Chain{
			Name: "input", Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
		})
		out := c.AddChain(&nftables.Chain{
			Name: "output", Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
		})
		for _, ip := range blocked {
			if !ip.Is4() {
				return fmt.Errorf("partition: %v is not an IPv4 address", ip)
			}
			c.AddRule(&nftables.Rule{Table: table, Chain: in, Exprs: dropAddr(ip, 12)})  // ip saddr
			c.AddRule(&nftables.Rule{Table: table, Chain: out, Exprs: dropAddr(ip, 16)}) // ip daddr
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program partition rules: %w", err)
	}
	return nil
}

// dropAddr matches the IPv4 address at offset in the network header
// (12 = source, 16 = destination) and drops the packet.
func dropAddr(ip netip.Addr, offset uint32) []expr.Any {
	a := ip.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}
