package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/docker/docker/api/types/network"
)

// DefaultSubnet is the cluster network of the node contract: n1 is
// 10.0.42.101.
const DefaultSubnet = "10.0.42.0/24"

// subnetTries bounds how many /24s after the first choice are tried when
// other runs (or other networks) hold it.
const subnetTries = 40

// createNetwork creates the run's bridge network on the first free /24
// from the preferred subnet on, and returns it.
func (r *Runtime) createNetwork(ctx context.Context, name string, labels map[string]string) (id string, subnet netip.Prefix, err error) {
	pref := r.opts.Subnet
	if pref == "" {
		pref = DefaultSubnet
	}
	subnet, err = netip.ParsePrefix(pref)
	if err != nil || !subnet.Addr().Is4() || subnet.Bits() != 24 {
		return "", netip.Prefix{}, fmt.Errorf("subnet %q: want an IPv4 /24 like %s", pref, DefaultSubnet)
	}
	subnet = subnet.Masked()
	for try := 0; try < subnetTries; try++ {
		gw := subnet.Addr().Next()
		resp, err := r.cli.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge",
			Labels: labels,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet:  subnet.String(),
				Gateway: gw.String(),
			}}},
		})
		if err == nil {
			return resp.ID, subnet, nil
		}
		if !strings.Contains(err.Error(), "overlap") {
			return "", netip.Prefix{}, fmt.Errorf("create network %s: %w", name, err)
		}
		a := subnet.Addr().As4()
		a[2]++
		if a[2] == 0 {
			break
		}
		subnet = netip.PrefixFrom(netip.AddrFrom4(a), subnet.Bits())
	}
	return "", netip.Prefix{}, fmt.Errorf("no free subnet from %s on: %d networks overlap it; remove old networks (clstr clean, or docker network prune) or choose another subnet", pref, subnetTries)
}

// nodeIP returns the address of node i (1-based): host 100+i of subnet.
func nodeIP(subnet netip.Prefix, i int) netip.Addr {
	a := subnet.Addr().As4()
	a[3] = byte(100 + i)
	return netip.AddrFrom4(a)
}
