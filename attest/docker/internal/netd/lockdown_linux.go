package netd

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/docker/internal/nft"
)

// lockdownTable is the nftables table that keeps a sandboxed node's
// traffic inside its cluster.
const lockdownTable = "clstr_lockdown"

// dockerDNS is the address of Docker's embedded DNS server in every
// container on a user-defined network. It forwards names it does not know
// to the host's resolvers, so a query could carry data out.
var dockerDNS = netip.MustParseAddr("127.0.0.11")

// setLockdown makes the namespace (netns, an open descriptor of it, or 0
// for the calling thread's) send nothing but:
//
//   - replies within connections that someone else opened: the runner's
//     requests arrive through Docker's proxy from the gateway;
//   - packets to other addresses of the cluster's subnet, the gateway
//     excepted;
//   - loopback traffic, Docker's DNS server excepted.
//
// Everything else — the internet, the host, other networks, IPv6 — is
// rejected on the way out, so the node's own call fails at once (a
// connect with "no route to host", a datagram with "operation not
// permitted"); the chain's policy drops whatever a reject cannot answer. The rules live in a table of their own that
// other faults leave alone, and nothing but clstr-netd, which holds
// CAP_NET_ADMIN, can change them.
func setLockdown(netns int, l Lockdown) error {
	if !l.Subnet.Addr().Is4() || !l.Gateway.Is4() || !l.Subnet.Contains(l.Gateway) {
		return fmt.Errorf("lockdown: want an IPv4 subnet and a gateway inside it, got %v and %v", l.Subnet, l.Gateway)
	}
	c, err := nft.Conn(netns)
	if err != nil {
		return err
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: lockdownTable})
	policy := nftables.ChainPolicyDrop
	out := c.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	c.FlushChain(out)
	for _, exprs := range lockdownRules(l) {
		c.AddRule(&nftables.Rule{Table: table, Chain: out, Exprs: exprs})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program the lockdown rules: %w", err)
	}
	return nil
}

// lockdownRules are the output chain's rules, in order; the chain's
// policy drops whatever none accepts.
func lockdownRules(l Lockdown) [][]expr.Any {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	// Rejected with "administratively prohibited", so that the node's
	// call fails at once rather than after its timeout.
	drop := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	ipv4 := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
	daddr := func(a netip.Addr) []expr.Any {
		b := a.As4()
		return append(append([]expr.Any{}, ipv4...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]})
	}
	net := l.Subnet.Masked().Addr().As4()
	bits := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-l.Subnet.Bits()))
	return [][]expr.Any{
		// ip daddr 127.0.0.11 drop
		append(daddr(dockerDNS), drop),
		// ct state established,related accept
		{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED),
				Xor:  binary.NativeEndian.AppendUint32(nil, 0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, 0)},
			accept,
		},
		// meta oiftype loopback accept
		{
			&expr.Meta{Key: expr.MetaKeyOIFTYPE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint16(nil, unix.ARPHRD_LOOPBACK)},
			accept,
		},
		// ip daddr GATEWAY drop
		append(daddr(l.Gateway), drop),
		// ip daddr SUBNET accept
		append(append([]expr.Any{}, ipv4...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: bits, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net[:]},
			accept),
		// reject: anything else
		{drop},
	}
}
