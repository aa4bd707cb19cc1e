package cluster

import (
	"context"
	"errors"
	"fmt"
)

// TrafficCounter is a Cluster that can count, from outside its nodes, what
// they send each other.
type TrafficCounter interface {
	// Traffic returns, for every ordered pair of different nodes of the
	// cluster (spare nodes included), the IPv4 packets that the first
	// has sent to the second's cluster address, and their bytes from the
	// IP header on, since counting began. Counting begins at the first
	// call, which returns zero for every pair; until then it costs
	// nothing.
	//
	// Only what a node sends to another node counts: the runner's
	// requests and their answers, a node's traffic with itself and
	// anything outside the cluster do not. A packet counts once, as the
	// sending node's kernel hands it on, before partitions, cuts and
	// impairments act on it: what a partition drops or an impairment
	// loses counts (the node sent it), a copy an impairment makes does
	// not. Counts never decrease while the cluster lives: they go on
	// across stops, kills, restarts, pauses and every fault.
	Traffic(ctx context.Context) (Traffic, error)
}

// ErrNoTraffic is the error of counting traffic on a runtime that cannot
// see what its nodes send each other.
var ErrNoTraffic = errors.New("counting traffic needs the Docker runtime: this runtime cannot see what its nodes send each other")

// Count is an amount of traffic: IPv4 packets, and their bytes from the
// IP header on.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Add returns c plus o.
func (c Count) Add(o Count) Count {
	return Count{Packets: c.Packets + o.Packets, Bytes: c.Bytes + o.Bytes}
}

// String reads "12 packets, 1536 bytes".
func (c Count) String() string {
	return fmt.Sprintf("%d packets, %d bytes", c.Packets, c.Bytes)
}

// Pair is one direction between two nodes: what From sends To.
type Pair struct{ From, To string }

// Traffic is what nodes sent each other, by pair.
type Traffic map[Pair]Count

// Total returns the sum of every pair's count.
func (t Traffic) Total() Count {
	var sum Count
	for _, c := range t {
		sum = sum.Add(c)
	}
	return sum
}

// Since returns what t counts beyond the earlier counts of earlier, pair
// by pair: the traffic between two readings of a TrafficCounter. A pair
// that earlier lacks counts from zero; a count lower than earlier's is an
// error, for counts never decrease.
func (t Traffic) Since(earlier Traffic) (Traffic, error) {
	out := make(Traffic, len(t))
	for p, c := range t {
		e := earlier[p]
		if c.Packets < e.Packets || c.Bytes < e.Bytes {
			return nil, fmt.Errorf("what %s sent %s went down, from %v to %v: the counters were reset", p.From, p.To, e, c)
		}
		out[p] = Count{Packets: c.Packets - e.Packets, Bytes: c.Bytes - e.Bytes}
	}
	return out, nil
}
