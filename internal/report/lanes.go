package report

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/runlog"
)

// Node is one node of the cluster and the spans of its states, which
// cover the time from its first start to the end of the stage.
type Node struct {
	Name  string `json:"name"`
	Spans []Span `json:"spans"`
}

// Span is a state of a node from Start to End: "up", "stopped", "killed",
// "unpowered" (after a power loss) or "paused".
type Span struct {
	State string `json:"state"`
	Start MS     `json:"start_ms"`
	End   MS     `json:"end_ms"`
}

// Fault is a fault in force from Start to End: a node "stopped",
// "killed" or "paused", a node "partitioned" from others (Detail names
// them, Side the nodes on its side), a node whose packets to others are
// "cut" (Detail names them), or "impaired" (Detail says how, and towards
// which nodes when not all). Open is set when the fault was still in force
// when the stage ended.
type Fault struct {
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	Detail string `json:"detail,omitempty"`
	Side   string `json:"side,omitempty"`
	Start  MS     `json:"start_ms"`
	End    MS     `json:"end_ms"`
	Open   bool   `json:"open,omitempty"`
}

// Leader is a span in which Node answered GET /cluster/info with role
// "leader" in Term: from the first such answer to the last one before a
// different answer.
type Leader struct {
	Node  string `json:"node"`
	Term  int64  `json:"term"`
	Start MS     `json:"start_ms"`
	End   MS     `json:"end_ms"`
}

// nodeStates are the states events move a node into. A stop that timed
// out is a step of a stop, not its end.
var nodeStates = map[cluster.EventKind]string{
	cluster.EventStart: "up", cluster.EventResume: "up",
	cluster.EventStop: "stopped", cluster.EventKill: "killed", cluster.EventPause: "paused",
	cluster.EventPowerLoss: "unpowered",
}

// nodeStateNames are the values of nodeStates.
var nodeStateNames = slices.Collect(maps.Values(nodeStates))

// lanes derives the spans of each node's states and the faults in force
// from the events of a stage that lasted until end; at places an event's
// time on the stage's clock.
func lanes(names []string, events []cluster.Event, at func(time.Time) MS, end MS) ([]Node, []Fault) {
	nodes := make([]Node, len(names))
	index := map[string]int{}
	for i, n := range names {
		nodes[i] = Node{Name: n, Spans: []Span{}}
		index[n] = i
	}
	faults := []Fault{}
	// open holds the faults still in force, by kind, node and (for cuts,
	// which add up) the nodes cut off.
	open := map[[3]string]int{}
	closeFaults := func(t MS, match func(kind, node string) bool) {
		for key, i := range open {
			if match(key[0], key[1]) {
				faults[i].End = t
				delete(open, key)
			}
		}
	}
	openFault := func(f Fault, key string) {
		k := [3]string{f.Kind, f.Node, key}
		if i, ok := open[k]; ok {
			faults[i].End = f.Start
		}
		open[k] = len(faults)
		faults = append(faults, f)
	}
	prevPartition := false
	for _, e := range events {
		t := at(e.Time)
		partition := e.Kind == cluster.EventPartition
		if partition && !prevPartition {
			// A partition replaces the one before it; its events come
			// one after the other, one per cut-off node.
			closeFaults(t, func(kind, _ string) bool { return kind == "partitioned" })
		}
		prevPartition = partition
		i, known := index[e.Node]
		switch {
		case e.Kind == cluster.EventHeal:
			closeFaults(t, func(kind, _ string) bool { return kind == "partitioned" || kind == "cut" })
		case !known:
		case partition:
			var side []string
			for _, n := range names {
				if !slices.Contains(e.Peers, n) {
					side = append(side, n)
				}
			}
			openFault(Fault{Kind: "partitioned", Node: e.Node, Detail: "from " + strings.Join(e.Peers, ", "),
				Side: strings.Join(side, " "), Start: t}, "")
		case e.Kind == cluster.EventCut:
			openFault(Fault{Kind: "cut", Node: e.Node, Detail: "to " + strings.Join(e.Peers, ", "), Start: t}, strings.Join(e.Peers, " "))
		case e.Kind == cluster.EventImpair:
			detail := e.Impairments.String()
			if e.Via != "" {
				detail += " (" + e.Via + ")"
			}
			if len(e.Peers) > 0 {
				detail = "towards " + strings.Join(e.Peers, ", ") + ": " + detail
			}
			openFault(Fault{Kind: "impaired", Node: e.Node, Detail: detail, Start: t}, "")
		case e.Kind == cluster.EventRepair:
			closeFaults(t, func(kind, node string) bool { return kind == "impaired" && node == e.Node })
		default:
			state, ok := nodeStates[e.Kind]
			if !ok {
				continue
			}
			spans := nodes[i].Spans
			if n := len(spans); n > 0 {
				if spans[n-1].State == state {
					continue
				}
				spans[n-1].End = t
			}
			nodes[i].Spans = append(spans, Span{State: state, Start: t, End: end})
			closeFaults(t, func(kind, node string) bool {
				return node == e.Node && kind != "up" && slices.Contains(nodeStateNames, kind)
			})
			if state != "up" {
				openFault(Fault{Kind: state, Node: e.Node, Start: t}, "")
			}
		}
	}
	for _, i := range open {
		faults[i].End, faults[i].Open = end, true
	}
	sort.SliceStable(faults, func(a, b int) bool { return faults[a].Start < faults[b].Start })
	return nodes, faults
}

// leaders reads who led when from the history's answers to GET
// /cluster/info (the node contract's {"role": …, "term": …}).
func leaders(h *History) []Leader {
	out := []Leader{}
	if h == nil {
		return out
	}
	type seen struct {
		t      MS
		node   string
		leader bool
		term   int64
	}
	var obs []seen
	for _, o := range h.Ops {
		if o.Method != "GET" || o.Path != "/cluster/info" || o.Status != 200 {
			continue
		}
		var info struct {
			Role string `json:"role"`
			Term int64  `json:"term"`
		}
		if json.Unmarshal([]byte(o.Response), &info) != nil {
			continue
		}
		obs = append(obs, seen{o.Complete, o.Node, info.Role == "leader", info.Term})
	}
	sort.SliceStable(obs, func(a, b int) bool { return obs[a].t < obs[b].t })
	current := map[string]int{} // node → index in out of its span still growing
	for _, s := range obs {
		i, growing := current[s.node]
		switch {
		case s.leader && growing && out[i].Term == s.term:
			out[i].End = s.t
		case s.leader:
			current[s.node] = len(out)
			out = append(out, Leader{Node: s.node, Term: s.term, Start: s.t, End: s.t})
		default:
			delete(current, s.node)
		}
	}
	return out
}

// nodeNames finds the nodes of a stage in its events and logs, in order
// (n2 before n10).
func nodeNames(events []Event, logs []LogLine) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, e := range events {
		add(e.Node)
	}
	for _, l := range logs {
		add(l.Node)
	}
	slices.SortFunc(names, runlog.CompareNodes)
	return names
}
