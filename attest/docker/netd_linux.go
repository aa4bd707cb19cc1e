package docker

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/impair"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// On Linux, any program that imports this package is also clstr-netd: the
// sandbox image runs it under that name. Elsewhere the image needs a Linux
// build of clstr (see netdbin.go).
func init() {
	if filepath.Base(os.Args[0]) == netdName {
		os.Exit(netd.Main(os.Args[1:], newImpairer()))
	}
}

// newImpairer returns what clstr-netd uses to impair a node's traffic:
// netem where the kernel has it, else nftables and a userspace shaper.
func newImpairer() netd.Impairer { return impairer{impair.New()} }

type impairer struct{ *impair.Controller }

// Apply implements netd.Impairer.
func (i impairer) Apply(ctx context.Context, imps cluster.Impairments, towards []netip.Addr) (string, error) {
	return i.ApplyTowards(ctx, imps, towards)
}

// Probe implements netd.Prober.
func (impairer) Probe() string { return impair.Probe().String() }

// ShaperStats implements netd.StatsReporter.
func (i impairer) ShaperStats() *netd.ShaperStats {
	st := i.Stats()
	if st.Path == "" {
		return nil // nothing applied, or netem
	}
	out := &netd.ShaperStats{
		Path: st.Path, Seen: st.Queued, Delayed: st.Delayed, Dropped: st.Dropped,
		Duplicated: st.Duplicated, Reordered: st.Reordered, Bypassed: st.Bypassed, Late: st.Late,
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	return out
}
