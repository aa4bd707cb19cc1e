package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"

	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// SandboxLimits confine the containers of a sandboxed run
// (Options.Sandbox), whose script is not trusted: the user's container of
// every node gets these resource limits, no capabilities and no way to
// gain privileges, and no route out of the cluster. See docs/sandbox.md.
type SandboxLimits struct {
	// Memory bounds each node's container, in bytes; swap is not added.
	Memory int64
	// CPUs bounds each node's container, in CPUs: 1.5 is one and a half.
	CPUs float64
	// Pids bounds the processes and threads of each node's container.
	Pids int64
}

// DefaultSandboxLimits returns the limits of a sandboxed run's containers
// unless the user sets others. The memory of all nodes together is at most
// 8 GiB under the default cluster size limit (16 × 512 MiB).
func DefaultSandboxLimits() SandboxLimits {
	return SandboxLimits{Memory: 512 << 20, CPUs: 1, Pids: 512}
}

// Limits of the sandbox container, which runs only clstr-netd: enough for
// its traffic shaper.
const (
	netdMemory = 256 << 20
	netdPids   = 128
)

// The roles of a node's two containers, for confine.
const (
	roleSandbox = "sandbox"
	roleNode    = "node"
)

// confine adds a sandboxed run's restrictions to the host configuration of
// a node's container of role; it returns hc. A trusted run's containers
// are left as they are.
func (r *Runtime) confine(role string, hc *container.HostConfig) *container.HostConfig {
	sb := r.opts.Sandbox
	if sb == nil {
		return hc
	}
	hc.Privileged = false
	hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	switch role {
	case roleSandbox:
		// clstr-netd keeps the NET_ADMIN and NET_RAW it needs; the node's
		// process, in the other container, never has them.
		hc.Resources.Memory = netdMemory
		hc.Resources.MemorySwap = netdMemory
		hc.Resources.PidsLimit = ptr(int64(netdPids))
	case roleNode:
		hc.CapAdd = nil
		hc.CapDrop = []string{"ALL"}
		if sb.Memory > 0 {
			hc.Resources.Memory = sb.Memory
			hc.Resources.MemorySwap = sb.Memory
		}
		if sb.CPUs > 0 {
			hc.Resources.NanoCPUs = int64(sb.CPUs * 1e9)
		}
		if sb.Pids > 0 {
			hc.Resources.PidsLimit = ptr(sb.Pids)
		}
	}
	return hc
}

func ptr[T any](v T) *T { return &v }

// lockdown has a sandboxed run's node send nothing beyond its cluster:
// clstr-netd installs the rules in the node's network namespace before
// the node's own container starts. Docker's internal networks would cut
// the route out too, but they publish no port, and the runner reaches the
// nodes through a port published on 127.0.0.1.
func (c *dockerCluster) lockdown(ctx context.Context, n *node) error {
	if c.rt.opts.Sandbox == nil {
		return nil
	}
	req := netd.Request{Op: "lockdown", Lockdown: &netd.Lockdown{Subnet: c.subnet, Gateway: c.subnet.Addr().Next()}}
	if _, err := c.netctl(ctx, n, req); err != nil {
		return fmt.Errorf("sandbox: cut the route out of the cluster: %w", err)
	}
	return nil
}
