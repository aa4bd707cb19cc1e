package netd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/docker/internal/impair"
	"github.com/clstr-dev/clstr/attest/docker/internal/nft"
)

// trafficTable is the nftables table that counts what a node sends to
// each other node.
const trafficTable = "clstr_traffic"

// trafficPriority hooks the counting chain before every other output
// chain of the namespace (the lockdown's and the impairments' run at the
// filter priority and after), so that it sees each packet the node's own
// sockets send, once, before anything rejects, loses, delays or queues it.
// A packet the shaper delays goes on from its own chain when released,
// and is not counted again.
var trafficPriority = nftables.ChainPriorityRaw

// peersPerBatch bounds the peers whose counters one netlink batch
// programs.
const peersPerBatch = 32

// errNotCounting is the answer of a read before counting started.
var errNotCounting = errors.New("traffic: this node's traffic is not being counted")

// setCounting makes the namespace (netns, an open descriptor of it, or 0
// for the calling thread's) count the IPv4 packets, and their bytes, that
// it sends to each of peers, from zero. Each peer has a named counter
// (named after its address) in a chain of its own, and the output chain
// jumps to it through a verdict map keyed by destination address: a
// packet costs one hash lookup, however many peers there are. Nothing is
// dropped or changed. The copies the impairment shaper sends for a
// duplicate carry its mark and are not counted: they are the network's
// doing, not the node's.
//
// Counting already in place is replaced: its table goes, which makes the
// kernel drop the packets that any queue of the namespace holds (see
// stopCounting). The runner counts once in a namespace's life, or again
// only after stopCounting.
func setCounting(netns int, peers []netip.Addr) error {
	c, err := nft.Conn(netns)
	if err != nil {
		return err
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: trafficTable}
	nft.DropTable(c, table)
	c.AddTable(table)
	byPeer := &nftables.Set{Table: table, Name: "peers", IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict}
	var elems []nftables.SetElement
	for i, p := range peers {
		if !p.Is4() {
			return fmt.Errorf("count: %v is not an IPv4 address", p)
		}
		// The kernel acknowledges every message of a batch, and the acks
		// of one that is too long overflow the socket's buffer. Nothing
		// counts before the last batch hooks the output chain.
		if i > 0 && i%peersPerBatch == 0 {
			if err := c.Flush(); err != nil {
				return fmt.Errorf("program the traffic counters: %w", err)
			}
		}
		name := p.String()
		c.AddObj(&nftables.CounterObj{Table: table, Name: name})
		chain := c.AddChain(&nftables.Chain{Name: "to_" + name, Table: table})
		// counter name PEER
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
			&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: name},
		}})
		a := p.As4()
		elems = append(elems, nftables.SetElement{Key: a[:], VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain.Name}})
	}
	if err := c.AddSet(byPeer, elems); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	policy := nftables.ChainPolicyAccept
	out := c.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: trafficPriority, Policy: &policy,
	})
	// meta mark SHAPER accept
	c.AddRule(&nftables.Rule{Table: table, Chain: out, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, impair.DefaultMark)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	// ip daddr vmap @peers
	c.AddRule(&nftables.Rule{Table: table, Chain: out, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: byPeer.Name, SetID: byPeer.ID, IsDestRegSet: true},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program the traffic counters: %w", err)
	}
	return nil
}

// readCounting returns what the namespace has sent each peer since
// setCounting.
func readCounting(netns int) ([]PeerCount, error) {
	c, err := nft.Conn(netns)
	if err != nil {
		return nil, err
	}
	table, err := c.ListTableOfFamily(trafficTable, nftables.TableFamilyIPv4)
	if errors.Is(err, unix.ENOENT) {
		return nil, errNotCounting
	}
	if err != nil {
		return nil, fmt.Errorf("read the traffic counters: %w", err)
	}
	objs, err := c.GetObjects(table)
	if err != nil {
		return nil, fmt.Errorf("read the traffic counters: %w", err)
	}
	out := []PeerCount{}
	for _, o := range objs {
		if ctr, ok := o.(*nftables.CounterObj); ok {
			out = append(out, PeerCount{Peer: ctr.Name, Packets: ctr.Packets, Bytes: ctr.Bytes})
		}
	}
	return out, nil
}

// stopCounting removes the counters, if any. Removing a hooked chain
// makes the kernel drop the packets that any queue of the namespace
// holds: call it only when no impairment delays packets.
func stopCounting(netns int) error {
	return nft.RemoveTable(netns, &nftables.Table{Family: nftables.TableFamilyIPv4, Name: trafficTable})
}
