package report

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

// Node is one node of the cluster and the spans of its states, which
// cover the time from its first start to the end of the stage.
type Node struct {
	Name  string `json:"name"`
	Spans []Span `json:"spans"`
}

// Span is a state of a node from Start to End: "up", "stopped", "killed"
// or "paused".
type Span struct {
	State string `json:"state"`
	Start MS     `json:"start_ms"`
	End   MS     `json:"end_ms"`
}

// Fault is a fault in force from Start to End: a node "stopped",
// "killed" or "paused", a node "partitioned" from others (Detail names
// them, Side the nodes on its side), or "impaired" (Detail says how). Open
// is set when the fault was still in force when the stage ended.
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

// The states of a node, and what moves it into them. Events are read as
// the runtime writes them ("START", "STOP", "KILL", "PAUSED", "RESUMED",
// "PARTITIONED FROM: n3, n4", "PARTITION HEALED", "IMPAIRED: …",
// "REPAIRED"); "STOP: no exit …" is a step of a stop, not its end.
func nodeState(text string) (state string, ok bool) {
	switch {
	case text == "START", strings.HasPrefix(text, "RESUME"), strings.HasPrefix(text, "UNPAUSE"):
		return "up", true
	case text == "STOP":
		return "stopped", true
	case text == "KILL":
		return "killed", true
	case strings.HasPrefix(text, "PAUSE"):
		return "paused", true
	}
	return "", false
}

// lanes derives the spans of each node's states and the faults in force
// from the events of a stage that lasted until end.
func lanes(names []string, events []Event, end MS) ([]Node, []Fault) {
	nodes := make([]Node, len(names))
	index := map[string]int{}
	for i, n := range names {
		nodes[i] = Node{Name: n, Spans: []Span{}}
		index[n] = i
	}
	faults := []Fault{}
	open := map[string]int{} // "kind node" → index in faults of the open fault
	closeFault := func(kind, node string, t MS) {
		if i, ok := open[kind+" "+node]; ok {
			faults[i].End = t
			delete(open, kind+" "+node)
		}
	}
	openFault := func(f Fault) {
		closeFault(f.Kind, f.Node, f.Start)
		open[f.Kind+" "+f.Node] = len(faults)
		faults = append(faults, f)
	}
	closeAll := func(kind string, t MS) {
		for _, n := range names {
			closeFault(kind, n, t)
		}
	}
	prevPartition := false
	for _, e := range events {
		partition := strings.HasPrefix(e.Text, "PARTITIONED FROM: ")
		if partition && !prevPartition {
			// A partition replaces the one before it; its events come
			// one after the other, one per cut-off node.
			closeAll("partitioned", e.Time)
		}
		prevPartition = partition
		i, known := index[e.Node]
		switch {
		case e.Node == "" && e.Text == "PARTITION HEALED":
			closeAll("partitioned", e.Time)
		case !known:
		case partition:
			from := strings.Split(strings.TrimPrefix(e.Text, "PARTITIONED FROM: "), ", ")
			var side []string
			for _, n := range names {
				if !slices.Contains(from, n) {
					side = append(side, n)
				}
			}
			openFault(Fault{Kind: "partitioned", Node: e.Node, Detail: "from " + strings.Join(from, ", "),
				Side: strings.Join(side, " "), Start: e.Time})
		case strings.HasPrefix(e.Text, "IMPAIRED: "):
			openFault(Fault{Kind: "impaired", Node: e.Node, Detail: strings.TrimPrefix(e.Text, "IMPAIRED: "), Start: e.Time})
		case e.Text == "REPAIRED":
			closeFault("impaired", e.Node, e.Time)
		default:
			state, ok := nodeState(e.Text)
			if !ok {
				continue
			}
			spans := nodes[i].Spans
			if n := len(spans); n > 0 {
				if spans[n-1].State == state {
					continue
				}
				spans[n-1].End = e.Time
			}
			nodes[i].Spans = append(spans, Span{State: state, Start: e.Time, End: end})
			for _, kind := range []string{"stopped", "killed", "paused"} {
				closeFault(kind, e.Node, e.Time)
			}
			if state != "up" {
				openFault(Fault{Kind: state, Node: e.Node, Start: e.Time})
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
	slices.SortFunc(names, CompareNodes)
	return names
}

// CompareNodes orders node names by their number: n2 before n10.
func CompareNodes(a, b string) int {
	x, okA := nodeNumber(a)
	y, okB := nodeNumber(b)
	if okA && okB && x != y {
		return x - y
	}
	return strings.Compare(a, b)
}

func nodeNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "n")
	if !ok || digits == "" {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
