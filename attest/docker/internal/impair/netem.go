//go:build linux

package impair

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The netem qdisc, spoken over rtnetlink the way iproute2's tc speaks it
// (linux/pkt_sched.h). The encoding is checked byte for byte against
// tc's own requests in testdata.
const (
	tcaKind    = 1 // TCA_KIND
	tcaOptions = 2 // TCA_OPTIONS

	netemCorr      = 1  // TCA_NETEM_CORR
	netemDelayDist = 2  // TCA_NETEM_DELAY_DIST
	netemReorder   = 3  // TCA_NETEM_REORDER
	netemLoss      = 5  // TCA_NETEM_LOSS, nested
	netemLatency64 = 10 // TCA_NETEM_LATENCY64
	netemJitter64  = 11 // TCA_NETEM_JITTER64

	netemLossGI = 1      // NETEM_LOSS_GI: the 4-state model
	nlaNested   = 0x8000 // NLA_F_NESTED

	tcRoot = 0xffffffff // TC_H_ROOT

	// netemLimit is the most packets netem holds. tc's default, 1000,
	// is 50 ms of a busy 20 000 packets/s.
	netemLimit = 10000

	// psched ticks are 64 ns on every kernel that has netem's 64-bit
	// attributes (PSCHED_SHIFT 6).
	nsPerTick = 64
)

// netemOptions is the TCA_OPTIONS of a netem qdisc that applies p. It
// always carries the correlations and the reorder settings, even when
// zero, because on a replace the kernel keeps whatever an attribute left
// out said before (a missing loss model resets to plain random loss).
//
// netem's own correlation (get_crandom: next = ρ·last + (1−ρ)·fresh)
// narrows the distribution of its draws, so that a correlated "loss 20%
// 25%" loses about 10% and a correlated reorder of 25% reorders about
// 12%. Correlated loss therefore uses netem's loss state model with
// p13 = p(1−ρ) and p31 = (1−p)(1−ρ): the two-state chain of the
// shaper's Scheduler, with the asked rate and lag-one correlation ρ.
// Reorder has no such model and goes uncorrelated, at the asked rate.
// The jitter's correlation is sent as asked; netem's table lookup takes
// the low bits of the draw, so none of it shows.
func netemOptions(p Params) []byte {
	latency, jitter := ticks(p.Delay), ticks(p.Jitter)
	var gap uint32
	if p.Reorder > 0 {
		gap = 1 // reorder with probability, every packet a candidate
	}
	// struct tc_netem_qopt { latency, limit, loss, gap, duplicate,
	// jitter }, host order.
	b := make([]byte, 0, 64)
	lossChain := p.Loss > 0 && p.Correlation > 0
	randomLoss := percent(p.Loss)
	if lossChain {
		randomLoss = 0
	}
	for _, v := range []uint32{latency, netemLimit, randomLoss, gap, percent(p.Duplicate), jitter} {
		b = binary.NativeEndian.AppendUint32(b, v)
	}
	var delayCorr uint32
	if p.Jitter > 0 {
		delayCorr = percent(p.Correlation * 100)
	}
	// struct tc_netem_corr { delay_corr, loss_corr, dup_corr }
	b = appendAttr(b, netemCorr, u32s(delayCorr, 0, 0))
	// struct tc_netem_reorder { probability, correlation }
	b = appendAttr(b, netemReorder, u32s(percent(p.Reorder), 0))
	if lossChain {
		loss, r := p.Loss/100, p.Correlation
		// struct tc_netem_gimodel { p13, p31, p32, p14, p23 }
		gi := appendAttr(nil, netemLossGI, u32s(percent(100*loss*(1-r)), percent(100*(1-loss)*(1-r)), 0, 0, 0))
		b = appendAttr(b, netemLoss|nlaNested, gi)
	}
	if p.Jitter > 0 {
		b = appendAttr(b, netemDelayDist, normalTable())
	}
	// The 32-bit tick fields cap delays at about 4.5 minutes; longer
	// ones go in the nanosecond attributes too.
	if latency == math.MaxUint32 || jitter == math.MaxUint32 {
		b = appendAttr(b, netemLatency64, binary.NativeEndian.AppendUint64(nil, uint64(p.Delay)))
		b = appendAttr(b, netemJitter64, binary.NativeEndian.AppendUint64(nil, uint64(p.Jitter)))
	}
	return b
}

func ticks(d time.Duration) uint32 {
	return uint32(min(uint64(d/nsPerTick), math.MaxUint32))
}

// percent scales 0–100 to netem's 0–2³²−1, rounding as tc does.
func percent(p float64) uint32 {
	return uint32(math.RoundToEven(p / 100 * math.MaxUint32))
}

func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.NativeEndian.AppendUint32(b, v)
	}
	return b
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// normalTable is netem's distribution table for the normal distribution:
// 4096 quantiles of N(0,1) scaled by NETEM_DIST_SCALE, computed as
// iproute2's normal.c computes the normal.dist that tc loads.
var normalTable = sync.OnceValue(func() []byte {
	const size, factor = 16384, 8192
	var table [size + 1]float64
	for x := -10.0; x < 10.05; x += .00005 {
		i := int(math.RoundToEven(size * (.5 + .5*math.Erf(x/math.Sqrt2))))
		table[i] = x
	}
	b := make([]byte, 0, size/4*2)
	for i := 0; i < size; i += 4 {
		v := math.RoundToEven(table[i] * factor)
		v = max(min(v, math.MaxInt16), math.MinInt16)
		b = binary.NativeEndian.AppendUint16(b, uint16(int16(v)))
	}
	return b
})

// rtnl is an rtnetlink connection in the controller's namespace.
type rtnl struct{ c *netlink.Conn }

func dialRtnl(netns int) (*rtnl, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	return &rtnl{c: c}, nil
}

func (r *rtnl) Close() error { return r.c.Close() }

// link is a network interface.
type link struct {
	index    int32
	name     string
	loopback bool
}

// links lists the namespace's interfaces.
func (r *rtnl) links() ([]link, error) {
	msgs, err := r.c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg),
	})
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []link
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		l := link{
			index:    int32(binary.NativeEndian.Uint32(m.Data[4:])),
			loopback: binary.NativeEndian.Uint32(m.Data[8:])&unix.IFF_LOOPBACK != 0,
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, fmt.Errorf("decode interface: %w", err)
		}
		for ad.Next() {
			if ad.Type() == unix.IFLA_IFNAME {
				l.name = ad.String()
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// setNetem makes netem applying p the root qdisc of the interface.
func (r *rtnl) setNetem(ifindex int32, p Params) error {
	return r.tcmsg(unix.RTM_NEWQDISC, netlink.Create|netlink.Replace, ifindex, 0, tcRoot, 0, "netem", netemOptions(p))
}

// delNetem removes the interface's root qdisc if it is netem, or the prio
// qdisc that setNetemTowards puts netem under (its filters and netem go
// with it). It is not an error if there is neither.
func (r *rtnl) delNetem(ifindex int32) error {
	for _, kind := range []string{"netem", "prio"} {
		err := r.tcmsg(unix.RTM_DELQDISC, 0, ifindex, 0, tcRoot, 0, kind, nil)
		// ENOENT: no root qdisc to delete (the default noqueue); EINVAL:
		// the root qdisc is of another kind, which is not ours to remove.
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return nil
}

// netemMissing reports whether err says the kernel has no sch_netem: the
// kernel answers a request for an unknown qdisc kind with ENOENT.
func netemMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)
}

// Impairing the traffic to some destinations only, the way tc does it: a
// prio root qdisc with one band more than its priomap uses, netem on that
// band, and a u32 filter for each destination that sends its packets
// there. Everything else goes through the three ordinary bands untouched.
const (
	prioHandle  = 0x00010000 // 1:
	prioBands   = 4
	netemBand   = 0x00010004 // 1:4, the band no priority maps to
	netemHandle = 0x00400000 // 40:

	tcaU32Classid = 1 // TCA_U32_CLASSID
	tcaU32Sel     = 5 // TCA_U32_SEL
	tcU32Terminal = 1 // TC_U32_TERMINAL

	ethPIP = 0x0800 // ETH_P_IP
)

// prioOptions is the TCA_OPTIONS of the prio root qdisc: struct
// tc_prio_qopt { int bands; __u8 priomap[16]; } with tc's default map,
// followed, as tc sends it, by an empty nested TCA_OPTIONS.
func prioOptions() []byte {
	b := binary.NativeEndian.AppendUint32(nil, prioBands)
	b = append(b, 1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
	return appendAttr(b, tcaOptions, nil)
}

// u32DstOptions is the TCA_OPTIONS of a u32 filter that sends IPv4
// packets to dst into the netem band, as "tc filter add … u32 match ip
// dst DST/32 flowid 1:4" does.
func u32DstOptions(dst netip.Addr) []byte {
	a := dst.As4()
	// struct tc_u32_sel { flags, offshift, nkeys, pad; offmask (be16);
	// off; offoff; hoff; hmask (be32) } and one struct tc_u32_key
	// { mask (be32), val (be32), off, offmask }.
	sel := []byte{tcU32Terminal, 0, 1, 0}
	sel = append(sel, make([]byte, 12)...)
	sel = append(sel, 0xff, 0xff, 0xff, 0xff)
	sel = append(sel, a[:]...)
	sel = binary.NativeEndian.AppendUint32(sel, 16) // the IPv4 destination
	sel = binary.NativeEndian.AppendUint32(sel, 0)
	b := appendAttr(nil, tcaU32Classid, u32s(netemBand))
	return appendAttr(b, tcaU32Sel, sel)
}

// tcmsg builds a traffic control request for the interface.
func (r *rtnl) tcmsg(typ netlink.HeaderType, flags netlink.HeaderFlags, ifindex int32, handle, parent, info uint32, kind string, options []byte) error {
	b := make([]byte, 4, 20)
	b = binary.NativeEndian.AppendUint32(b, uint32(ifindex))
	b = binary.NativeEndian.AppendUint32(b, handle)
	b = binary.NativeEndian.AppendUint32(b, parent)
	b = binary.NativeEndian.AppendUint32(b, info)
	b = appendAttr(b, tcaKind, []byte(kind+"\x00"))
	if options != nil {
		b = appendAttr(b, tcaOptions, options)
	}
	_, err := r.c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   b,
	})
	return err
}

// setNetemTowards replaces the interface's root qdisc with netem applying
// p to the packets sent to the destinations only. The old root goes
// first, so the change has a moment with no impairment at all, never one
// with the wrong one.
func (r *rtnl) setNetemTowards(ifindex int32, p Params, to []netip.Addr) error {
	if err := r.delNetem(ifindex); err != nil {
		return err
	}
	if err := r.tcmsg(unix.RTM_NEWQDISC, netlink.Create|netlink.Excl, ifindex, prioHandle, tcRoot, 0, "prio", prioOptions()); err != nil {
		return fmt.Errorf("add prio root qdisc: %w", err)
	}
	if err := r.tcmsg(unix.RTM_NEWQDISC, netlink.Create|netlink.Excl, ifindex, netemHandle, netemBand, 0, "netem", netemOptions(p)); err != nil {
		r.delNetem(ifindex)
		return err
	}
	proto := binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, ethPIP))
	for _, dst := range to {
		if !dst.Is4() {
			r.delNetem(ifindex)
			return fmt.Errorf("impair towards %v: not an IPv4 address", dst)
		}
		// info: TC_H_MAKE(priority 1 << 16, protocol in network order).
		if err := r.tcmsg(unix.RTM_NEWTFILTER, netlink.Create|netlink.Excl, ifindex, 0, prioHandle, 1<<16|uint32(proto), "u32", u32DstOptions(dst)); err != nil {
			r.delNetem(ifindex)
			return fmt.Errorf("add u32 filter for %v: %w", dst, err)
		}
	}
	return nil
}
