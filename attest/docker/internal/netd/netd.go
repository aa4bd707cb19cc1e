// Package netd is the network daemon clstr runs beside every node.
//
// Each node of a cluster lives in a network namespace held by a small
// sandbox container of clstr's own; the user's container joins it. The
// sandbox's process is this daemon: it holds CAP_NET_ADMIN (the user's
// process never does), keeps the namespace alive across kills and restarts
// of the node, programs partitions and impairments on request, and counts
// what the node sends each other node. The
// runner talks to it by executing "clstr-netd ctl REQUEST" inside the
// sandbox, which forwards the request over a Unix socket that only the
// sandbox's file system can see.
//
// The daemon runs only inside a sandbox container, so only on Linux: its
// files end in _linux.go. The requests and answers in this file are what
// the runner, on any operating system, sends and reads.
package netd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// SocketPath is where the daemon listens inside the sandbox container.
const SocketPath = "/run/clstr-netd.sock"

// Request is one command to the daemon.
type Request struct {
	// Op is "ping", "partition", "impair", "repair", "stats", "probe",
	// "lockdown", "count", "traffic" or "uncount".
	Op string `json:"op"`
	// Block lists the IPv4 addresses a "partition" cuts off; empty heals.
	Block []string `json:"block,omitempty"`
	// Impairments is what "impair" applies to outgoing traffic.
	Impairments cluster.Impairments `json:"impairments,omitempty"`
	// Towards, if set, limits "impair" to the traffic sent to these IPv4
	// addresses.
	Towards []string `json:"towards,omitempty"`
	// Lockdown is what "lockdown" lets a sandboxed node reach.
	Lockdown *Lockdown `json:"lockdown,omitempty"`
	// Peers are the IPv4 addresses of the other nodes: "count" counts,
	// from zero, what the namespace sends to each, until "uncount";
	// "traffic" reads the counts.
	Peers []string `json:"peers,omitempty"`
}

// Response is the daemon's answer.
type Response struct {
	Error string `json:"error,omitempty"`
	// Path says how impairments are applied ("netem", "nftables+nfqueue").
	Path string `json:"path,omitempty"`
	// Support says, for "probe", which ways of impairing traffic the
	// kernel offers in this namespace, and why not where it does not.
	Support string `json:"support,omitempty"`
	// Shaper says, for "repair" and "stats", what the impairments did to
	// the traffic where the Impairer counts it (the userspace shaper and
	// nftables rules; netem keeps its own counts): for "repair", what
	// the impairments just removed did.
	Shaper *ShaperStats `json:"shaper,omitempty"`
	// Sent is, for "traffic", what the namespace has sent each peer
	// since "count".
	Sent []PeerCount `json:"sent,omitempty"`
}

// PeerCount is what a namespace has sent one peer: IPv4 packets, and
// their bytes from the IP header on.
type PeerCount struct {
	Peer    string `json:"peer"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// ShaperStats counts what impairments did to a namespace's outgoing
// packets.
type ShaperStats struct {
	// Path is how they were applied ("nftables+nfqueue", "nftables").
	Path string `json:"path"`
	// Seen packets reached the shaper; Delayed waited, Reordered went at
	// once past waiting ones, Duplicated were sent twice, Dropped were
	// lost, Bypassed passed unshaped because the shaper's queue was full
	// or nothing read it, Late were released over a millisecond late.
	Seen       uint64 `json:"seen"`
	Delayed    uint64 `json:"delayed"`
	Dropped    uint64 `json:"dropped"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Bypassed   uint64 `json:"bypassed"`
	Late       uint64 `json:"late"`
	// Error says why the shaper stopped on its own, if it did.
	Error string `json:"error,omitempty"`
}

// String reads as a line of the event log: "shaper saw 1234 packets: 240
// dropped, 994 delayed, 12 duplicated, 0 reordered, 0 bypassed".
func (s ShaperStats) String() string {
	var out string
	if s.Path == "nftables" {
		out = fmt.Sprintf("nftables dropped %d packets", s.Dropped)
	} else {
		out = fmt.Sprintf("shaper saw %d packets: %d dropped, %d delayed, %d duplicated, %d reordered, %d bypassed",
			s.Seen, s.Dropped, s.Delayed, s.Duplicated, s.Reordered, s.Bypassed)
	}
	if s.Late > 0 {
		out += fmt.Sprintf(", %d late", s.Late)
	}
	if s.Error != "" {
		out += "; the shaper stopped: " + s.Error
	}
	return out
}

// A StatsReporter is an Impairer that counts what it does to the traffic.
type StatsReporter interface {
	// ShaperStats reports what the impairments in place, or else the ones
	// the last Clear removed, did; nil when it has nothing to report.
	ShaperStats() *ShaperStats
}

// Prober is an Impairer that can say what the kernel supports.
type Prober interface {
	Probe() string
}

// Impairer applies impairments to the namespace's outgoing traffic: all of
// it, or with towards the traffic sent to those addresses only.
type Impairer interface {
	Apply(ctx context.Context, imps cluster.Impairments, towards []netip.Addr) (path string, err error)
	Clear() error
}

// DirSize returns the sum of the sizes of the regular files under dir,
// which is what "clstr-netd du DIR" prints: the runner measures a node's
// DATA_DIR with it, from a helper container that mounts the node's volume
// read-only.
func DirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			// A file the node removed while it was being walked is no
			// longer part of its size.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// Lockdown says what a sandboxed node may still reach.
type Lockdown struct {
	// Subnet is the cluster's network: its nodes may reach each other.
	Subnet netip.Prefix
	// Gateway is the network's gateway, which is the host: connections
	// from it (the runner's, through the published port) are answered,
	// but the node may open none to it.
	Gateway netip.Addr
}
