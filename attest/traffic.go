package attest

import (
	"errors"
	"slices"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Traffic is what the nodes of the cluster sent each other, counted from
// outside them: IPv4 packets, and their bytes from the IP header on, for
// every ordered pair of different nodes. Do.Traffic reads it.
type Traffic struct {
	// Pairs is what each node sent each other node; every ordered pair of
	// different nodes, spare nodes included, is in it.
	Pairs cluster.Traffic
	// Start and End bound what is counted: for a reading, from when
	// counting began to the reading; for the traffic since an earlier
	// reading, from that reading to this one.
	Start, End time.Time

	nodes []string
	// of is the run of a reading; nil for the traffic since a reading.
	of *run
}

// Total returns what all the nodes sent each other.
func (t Traffic) Total() cluster.Count { return t.Pairs.Total() }

// Elapsed returns the span of time the traffic was counted over.
func (t Traffic) Elapsed() time.Duration { return t.End.Sub(t.Start) }

// Between returns what the nodes of from sent the nodes of to, summed; a
// node sends itself nothing, so a node on both sides adds nothing. A name
// that is no node of the cluster is an error, never a zero.
func (t Traffic) Between(from, to []string) (cluster.Count, error) {
	for _, name := range append(slices.Clone(from), to...) {
		if !slices.Contains(t.nodes, name) {
			return cluster.Count{}, unknownNode(name, t.nodes)
		}
	}
	var sum cluster.Count
	for _, f := range from {
		for _, d := range to {
			sum = sum.Add(t.Pairs[cluster.Pair{From: f, To: d}])
		}
	}
	return sum, nil
}

// Reading reports whether t is a reading, everything since counting
// began, rather than the traffic since an earlier reading.
func (t Traffic) Reading() bool { return t.of != nil }

// Traffic returns what the nodes have sent each other, counted from
// outside them (nothing in their image is needed): IPv4 packets and their
// bytes, node to node. The runner's requests and their answers never
// count.
//
// Without since it is a reading: everything sent since counting began,
// at the run's first call of Traffic, which reads zero (until then
// counting costs nothing). With since, an earlier reading of the run, it
// is what the nodes sent between the two readings, and the event log
// gets a line of it:
//
//	start := do.Traffic()
//	do.POST("n1", "/broadcast", `{"message": 1}`)…
//	sent := do.Traffic(start).Total().Packets
//
// A node's packets count as its kernel sends them, before partitions,
// cuts and impairments act on them: what a partition drops counts, since
// the node sent it; a copy that duplicate() makes does not. Counts go on
// across stops, kills and restarts. The suite must run on Docker; on a
// runtime that cannot count, Traffic stops the test with
// cluster.ErrNoTraffic.
func (d *Do) Traffic(since ...Traffic) Traffic {
	t, err := d.Ops(callerPos(1)).Traffic(since...)
	d.must(err)
	return t
}

// Traffic reads what the nodes have sent each other; see Do.Traffic.
func (o *Ops) Traffic(since ...Traffic) (Traffic, error) {
	const what = "count the traffic between nodes"
	r := o.d.r
	if len(since) > 1 {
		return Traffic{}, o.fail(what, env(errors.New("give at most one earlier reading")))
	}
	if len(since) == 1 && since[0].of != r {
		return Traffic{}, o.fail(what, env(errors.New("since: want a reading of this run, which Traffic returns when called without since")))
	}
	tc, ok := r.cl.(cluster.TrafficCounter)
	if !ok {
		return Traffic{}, o.fail(what, env(cluster.ErrNoTraffic))
	}
	pairs, err := tc.Traffic(r.ctx)
	if err != nil {
		return Traffic{}, o.fail(what, r.interrupted(env(err)))
	}
	now := time.Now()
	r.trafficMu.Lock()
	if r.trafficStart.IsZero() {
		r.trafficStart = now
	}
	start := r.trafficStart
	r.trafficMu.Unlock()
	if len(since) == 0 {
		return Traffic{Pairs: pairs, Start: start, End: now, nodes: r.nodes, of: r}, nil
	}
	earlier := since[0]
	diff, err := pairs.Since(earlier.Pairs)
	if err != nil {
		return Traffic{}, o.fail(what, env(err))
	}
	t := Traffic{Pairs: diff, Start: earlier.End, End: now, nodes: r.nodes}
	r.events.Add(cluster.Event{Kind: cluster.EventTraffic, Traffic: t.Total(), Wait: t.Elapsed().Round(time.Millisecond)})
	return t, nil
}
