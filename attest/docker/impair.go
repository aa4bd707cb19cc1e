package docker

import (
	"github.com/clstr-dev/clstr/internal/impair"
	"github.com/clstr-dev/clstr/internal/netd"
)

// newImpairer returns what clstr-netd uses to impair a node's traffic:
// netem where the kernel has it, else nftables and a userspace shaper.
func newImpairer() netd.Impairer { return impairer{impair.New()} }

type impairer struct{ *impair.Controller }

// Probe implements netd.Prober.
func (impairer) Probe() string { return impair.Probe().String() }
