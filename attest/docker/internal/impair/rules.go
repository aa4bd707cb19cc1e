//go:build linux

package impair

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/clstr-dev/clstr/attest/docker/internal/nfqueue"
	"github.com/clstr-dev/clstr/attest/docker/internal/nft"
)

// TableName is the nftables table (family inet) that holds the
// impairment rules. Nothing else in it is kept: Apply replaces it whole
// and Clear deletes it.
const TableName = "clstr_impair"

// lossModulus is the resolution of nftables loss: 1/10000, so that 0.5%
// is possible.
const lossModulus = 10000

// rules describes the table's one chain, on the output hook: skip
// loopback and the shaper's own copies, lose Loss percent, queue the rest
// to Queue when Shape is set.
//
// Lost packets are not dropped with nftables' drop: a drop on the output
// hook fails the sender's system call with EPERM (a UDP send, a TCP
// connect), which no real network does. They are sent to Queue+1 instead,
// a queue nobody binds, without bypass: the kernel frees a packet that no
// queue takes, and the sender sees success, as netem's loss does.
//
// With To set, only packets to those IPv4 addresses are lost or queued:
// the loss and queue rules are repeated once for each address, behind a
// match on it, and everything else passes by the chain's accept policy.
type rules struct {
	To    []netip.Addr
	Loss  float64 // percent
	Shape bool
	Queue uint16 // the shaper's queue; Queue+1 swallows lost packets
	Mark  uint32 // packets with this mark are the shaper's: left alone
}

// lossQueue is the queue number that nobody binds.
func (r rules) lossQueue() uint16 { return r.Queue + 1 }

// chainPriority puts the chain after the filter tables (partitions drop
// first), so that packets headed nowhere are not delayed or queued.
var chainPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + 10)

// install makes the table apply r, atomically: there is no moment with
// neither the old nor the new rules.
//
// The chain is kept and only its rules are replaced: when a hooked chain
// goes, the kernel drops every packet that any queue of the namespace
// holds, and the shaper's delayed packets with them.
func (r rules) install(netns int) error {
	c, err := nft.Conn(netns)
	if err != nil {
		return err
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	policy := nftables.ChainPolicyAccept
	chain := c.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: chainPriority, Policy: &policy,
	})
	c.FlushChain(chain)
	r.add(c, table, chain)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install nftables table inet %s: %w", TableName, err)
	}
	return nil
}

// Tags in the user data of the counted rules, to find their counters.
var (
	tagLoss  = []byte("clstr:loss")
	tagQueue = []byte("clstr:queue")
)

// rule is one rule of the chain: its expressions and, for a counted one,
// its tag.
type rule struct {
	tag   []byte
	exprs []expr.Any
}

// add appends the rules to chain.
func (r rules) add(c *nftables.Conn, table *nftables.Table, chain *nftables.Chain) {
	for _, ru := range r.rules() {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: ru.exprs, UserData: ru.tag})
	}
}

// rules returns the rules in order.
func (r rules) rules() []rule {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	out := []rule{
		// meta oiftype loopback accept
		{exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFTYPE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint16(nil, unix.ARPHRD_LOOPBACK)},
			accept,
		}},
		// meta mark MARK accept
		{exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, r.Mark)},
			accept,
		}},
	}
	dsts := [][]expr.Any{nil}
	if len(r.To) > 0 {
		dsts = dsts[:0]
		for _, a := range r.To {
			dsts = append(dsts, daddrIs(a))
		}
	}
	for _, match := range dsts {
		if n := lossThreshold(r.Loss); n > 0 {
			// numgen random mod 10000 < N counter queue num Queue+1.
			// numgen writes a host-order number and cmp compares bytes, so
			// convert to network order first, as nft itself does.
			out = append(out, rule{tag: tagLoss, exprs: append(slices.Clone(match),
				&expr.Numgen{Register: 1, Modulus: lossModulus, Type: unix.NFT_NG_RANDOM},
				&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
				&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, n)},
				&expr.Counter{},
				nfqueue.Target(r.lossQueue(), false),
			)})
		}
		if r.Shape {
			// counter queue num Queue bypass
			out = append(out, rule{tag: tagQueue, exprs: append(slices.Clone(match), &expr.Counter{}, nfqueue.Target(r.Queue, true))})
		}
	}
	return out
}

// daddrIs matches IPv4 packets to a: "meta nfproto ipv4 ip daddr a".
func daddrIs(a netip.Addr) []expr.Any {
	b := a.As4()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
	}
}

// counts is what the counted rules saw.
type counts struct {
	// lost by the loss rule; queued by the queue rule, whether the
	// shaper took them or the queue's bypass let them pass.
	lost, queued uint64
}

// readCounts reads the counters of the table's rules; zero if there is no
// table.
func readCounts(netns int) (counts, error) {
	c, err := nft.Conn(netns)
	if err != nil {
		return counts{}, err
	}
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}
	rs, err := c.GetRules(table, &nftables.Chain{Name: "output", Table: table})
	if errors.Is(err, unix.ENOENT) {
		return counts{}, nil
	}
	if err != nil {
		return counts{}, fmt.Errorf("read the counters of table inet %s: %w", TableName, err)
	}
	var n counts
	for _, r := range rs {
		for _, e := range r.Exprs {
			ctr, ok := e.(*expr.Counter)
			if !ok {
				continue
			}
			switch {
			case bytes.Equal(r.UserData, tagLoss):
				n.lost += ctr.Packets
			case bytes.Equal(r.UserData, tagQueue):
				n.queued += ctr.Packets
			}
		}
	}
	return n, nil
}

// lossThreshold turns a percentage into the numgen bound.
func lossThreshold(pct float64) uint32 {
	return uint32(math.Round(pct / 100 * lossModulus))
}

// removeRules deletes the table if it exists. If the shaper holds
// packets, first install rules that queue nothing and stop the shaper.
func removeRules(netns int) error {
	return nft.RemoveTable(netns, &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
}

// probeRules checks, without leaving anything behind, that the kernel
// accepts the rules: it adds a scratch table holding them and deletes it
// in the same transaction, so that the kernel checks every expression but
// no packet ever sees them. The chain is not hooked, for removing a
// hooked chain would drop the packets a running shaper holds.
func probeRules(netns int, r rules) error {
	c, err := nft.Conn(netns)
	if err != nil {
		return err
	}
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName + "_probe"}
	nft.DropTable(c, table)
	c.AddTable(table)
	chain := c.AddChain(&nftables.Chain{Name: "probe", Table: table})
	r.add(c, table, chain)
	c.DelTable(table)
	return c.Flush()
}

// hasTable reports whether the table exists.
func hasTable(netns int) (bool, error) {
	c, err := nft.Conn(netns)
	if err != nil {
		return false, err
	}
	_, err = c.ListTableOfFamily(TableName, nftables.TableFamilyINet)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("list nftables table inet %s: %w", TableName, err)
}
