//go:build linux

package impair

import (
	"errors"
	"fmt"
	"strings"

	"github.com/clstr-dev/clstr/attest/docker/internal/nfqueue"
)

// Feature says whether one mechanism works here, and why not.
type Feature struct {
	OK bool
	// Reason is empty when OK, else what failed and what would fix it.
	Reason string
}

func (f Feature) String() string {
	if f.OK {
		return "yes"
	}
	return "no: " + f.Reason
}

// Support is what a kernel and namespace offer for impairing traffic.
type Support struct {
	// Netem: the netem qdisc (sch_netem) can be added.
	Netem Feature
	// NftablesLoss: nftables accepts the numgen-based loss rule.
	NftablesLoss Feature
	// NFQueue: nftables accepts the xt NFQUEUE target (through nf_tables
	// compat) and a queue can be bound, so the shaper can run.
	NFQueue Feature
}

// Path is the path Apply would take for impairments that need a shaper
// (delay, jitter, duplicate, reorder), or an error saying why none works.
func (s Support) Path() (string, error) {
	switch {
	case s.Netem.OK:
		return PathNetem, nil
	case s.NftablesLoss.OK && s.NFQueue.OK:
		return PathNfqueue, nil
	}
	return "", fmt.Errorf("no way to impair traffic here: netem: %s; nftables loss: %s; nfqueue: %s", s.Netem, s.NftablesLoss, s.NFQueue)
}

// String is a one-line summary for clstr doctor, which prints it after
// "impairments: ": "via nftables+nfqueue (netem: no: …; …)", or
// "unavailable (…)" when no path works.
func (s Support) String() string {
	var b strings.Builder
	if p, err := s.Path(); err == nil {
		fmt.Fprintf(&b, "via %s", p)
	} else {
		b.WriteString("unavailable")
	}
	fmt.Fprintf(&b, " (netem: %s; nftables loss: %s; nfqueue: %s)", s.Netem, s.NftablesLoss, s.NFQueue)
	return b.String()
}

// Probe checks which mechanisms work in the namespace (WithNetNS, or the
// calling thread's). It leaves nothing behind, but checking netem briefly
// puts an empty netem qdisc on the loopback interface, and checking the
// queue briefly binds a spare queue number; neither delays any packet.
func Probe(opts ...Option) Support {
	o := newOptions(opts)
	var s Support
	s.Netem = probeNetem(o.netns)
	if err := probeRules(o.netns, rules{Loss: 50, Mark: o.mark}); err != nil {
		s.NftablesLoss.Reason = fmt.Sprintf("nftables refused a numgen loss rule: %v; needs nf_tables with numgen (CONFIG_NFT_NUMGEN) and CAP_NET_ADMIN", err)
	} else {
		s.NftablesLoss.OK = true
	}
	s.NFQueue = probeQueue(o)
	return s
}

// probeNetem adds a netem qdisc with no impairment to loopback and
// removes it again.
func probeNetem(netns int) Feature {
	r, err := dialRtnl(netns)
	if err != nil {
		return Feature{Reason: err.Error()}
	}
	defer r.Close()
	links, err := r.links()
	if err != nil {
		return Feature{Reason: err.Error()}
	}
	for _, l := range links {
		if !l.loopback {
			continue
		}
		err := r.setNetem(l.index, Params{})
		switch {
		case err == nil:
			if err := r.delNetem(l.index); err != nil {
				return Feature{OK: true, Reason: fmt.Sprintf("netem works, but removing the probe's qdisc from %s failed: %v", l.name, err)}
			}
			return Feature{OK: true}
		case netemMissing(err):
			return Feature{Reason: fmt.Sprintf("the kernel has no sch_netem (%v); build it with CONFIG_NET_SCH_NETEM or load the module", err)}
		default:
			return Feature{Reason: fmt.Sprintf("adding a netem qdisc to %s failed: %v", l.name, err)}
		}
	}
	return Feature{Reason: "no loopback interface to probe netem on"}
}

// probeQueue checks the NFQUEUE rule and binds a queue.
func probeQueue(o options) Feature {
	if err := probeRules(o.netns, rules{Shape: true, Queue: o.queue, Mark: o.mark}); err != nil {
		return Feature{Reason: fmt.Sprintf("nftables refused the NFQUEUE target: %v; needs nf_tables with xt compat (CONFIG_NFT_COMPAT) and CONFIG_NETFILTER_XT_TARGET_NFQUEUE", err)}
	}
	// A spare number: the real one may be bound by a running shaper.
	q, err := nfqueue.Open(o.queue^0x8000, nfqueue.Config{NetNS: o.netns})
	if err != nil {
		return Feature{Reason: err.Error()}
	}
	if err := q.Close(); err != nil && !errors.Is(err, nfqueue.ErrClosed) {
		return Feature{OK: true, Reason: err.Error()}
	}
	return Feature{OK: true}
}
