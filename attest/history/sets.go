package history

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SetContract says which operations of a history add an element to a
// grow-only set and which read the whole set, and how to read them.
type SetContract struct {
	// Name names the contract in messages: "broadcast".
	Name string
	// Describe says in a few words what the contract judges, for a
	// history in which nothing counted: "POST /broadcast and GET /read".
	Describe string
	// Element names one element in explanations: "message".
	Element string
	// Add returns the element an operation adds, and whether it is an add.
	Add func(Op) (int64, bool)
	// Read reports whether an operation reads the set; for a read with a
	// 2xx answer it also returns the elements the answer lists, or an
	// error saying why the answer cannot be read.
	Read func(Op) (isRead bool, elems []int64, err error)
}

// Broadcast is the contract of the gossip challenge's broadcast stages:
// POST /broadcast with {"message": n} adds n, GET /read answers
// {"messages": [n, …]}.
var Broadcast = SetContract{
	Name:     "broadcast",
	Describe: `POST /broadcast {"message": n} and GET /read → {"messages": [...]}`,
	Element:  "message",
	Add: func(op Op) (int64, bool) {
		if op.Method != "POST" || op.Path != "/broadcast" {
			return 0, false
		}
		n, err := jsonInt(op.Body, "message")
		return n, err == nil
	},
	Read: func(op Op) (bool, []int64, error) {
		if op.Method != "GET" || op.Path != "/read" {
			return false, nil, nil
		}
		if op.Outcome != OK {
			return true, nil, nil
		}
		elems, err := jsonInts(op.Response, "messages")
		return true, elems, err
	},
}

// SetResult is what CheckSet found: Jepsen's set-full analysis, node by
// node. An element is judged on the nodes read after it was acknowledged;
// on each of them it must show in the node's last read and, once a read
// of the node showed it, in every later read of that node.
type SetResult struct {
	// Contract and Element are the contract's Name and Element.
	Contract, Element string
	// Adds counts the adds of the history by outcome; Reads the reads
	// with a readable 2xx answer.
	Adds  map[Outcome]int
	Reads int
	// Acked counts the acknowledged elements; Recovered the elements of
	// adds with an unknown outcome that some read showed.
	Acked, Recovered int
	// Stable counts the acknowledged elements that every judged node
	// shows in its last read and never lost again once shown.
	Stable int
	// Lost are judged elements that no judged node shows in its last
	// read; Stale those that some judged nodes show and others not yet;
	// Unstable those a node showed and then no longer; Unexpected those
	// a read showed that no add made (or whose add failed); NeverRead
	// those acknowledged after the last read of every node.
	Lost, Stale, Unstable, Unexpected, NeverRead []ElementReport
	// Malformed are 2xx reads whose answer could not be read.
	Malformed []Malformed
	// Late are acknowledged elements that took longer than the check's
	// bound to show on every node.
	Late []ElementReport
	// Within is the bound the check held latencies to, 0 for none.
	Within time.Duration
	// Latency holds the time from an element's acknowledgement until it
	// showed on every judged node, over the stable acknowledged elements.
	Latency Percentiles
	// Nodes are the nodes that were read, in order.
	Nodes    []string
	Duration time.Duration
}

// Percentiles summarise durations.
type Percentiles struct {
	N                int
	Median, P95, Max time.Duration
	// Slowest is the element that took Max.
	Slowest int64
}

// ElementReport is one element that failed, with what explains it.
type ElementReport struct {
	Element int64
	// Add is the operation that added it; nil for an unexpected one.
	Add *Op
	// Earlier is true when Add is not the history's but the run's before.
	Earlier bool
	// Missing names the judged nodes whose last read lacks it, with that
	// read; Showing the judged nodes whose last read shows it.
	Missing []NodeRead
	Showing []string
	// Shown and Gone are, for an unstable element, the read that showed
	// it and a later read of the same node that did not.
	Shown, Gone *Op
	// Latency is, for a late element, how long it took to show on every
	// judged node.
	Latency time.Duration
}

// NodeRead is a node and one of its reads.
type NodeRead struct {
	Node string
	Read *Op
}

// Malformed is a 2xx read whose answer could not be read.
type Malformed struct {
	Op  *Op
	Err error
}

// Valid reports whether the set behaved: nothing lost, stale, unstable,
// unexpected, late or unreadable.
func (r SetResult) Valid() bool {
	return len(r.Lost)+len(r.Stale)+len(r.Unstable)+len(r.Unexpected)+len(r.Malformed)+len(r.Late) == 0
}

// Checked reports whether the history had something to judge: an
// acknowledged add and a readable read.
func (r SetResult) Checked() bool { return r.Acked > 0 && r.Reads > 0 }

// setElement is what the check knows of one element.
type setElement struct {
	value int64
	// add is the add that made it: the first acknowledged one of the
	// history, else of the run before it, else the first of unknown
	// outcome; nil if none did.
	add *Op
	// earlier is true when add is not the history's.
	earlier bool
}

// better reports whether add b explains an element better than a.
func better(a, b *Op) bool {
	return a == nil || a.Outcome != OK && b.Outcome == OK
}

// contractRead returns what op read, if it is a read that completed with a 2xx
// answer, as read parses it; an answer that read cannot parse is added to
// malformed and, as any other operation, gives false.
func contractRead[V any](op *Op, read func(Op) (bool, V, error), malformed *[]Malformed) (V, bool) {
	var none V
	isRead, v, err := read(*op)
	if !isRead || op.Outcome != OK {
		return none, false
	}
	if err != nil {
		*malformed = append(*malformed, Malformed{op, err})
		return none, false
	}
	return v, true
}

// CheckSet checks h as a grow-only set under contract c. earlier are
// operations of the run before h: the elements they add are judged by
// h's reads as h's own are, but without a latency. within, if
// positive, bounds how long an acknowledged element may take to show on
// every judged node.
func CheckSet(earlier []Op, h History, c SetContract, within time.Duration) SetResult {
	start := time.Now()
	res := SetResult{Contract: c.Name, Element: c.Element, Adds: map[Outcome]int{}, Within: within}
	if res.Element == "" {
		res.Element = "element"
	}
	index := map[int64]int{}
	var elems []setElement
	intern := func(v int64) int {
		i, ok := index[v]
		if !ok {
			i = len(elems)
			index[v] = i
			elems = append(elems, setElement{value: v})
		}
		return i
	}
	for i := range earlier {
		if v, ok := c.Add(earlier[i]); ok && earlier[i].Outcome != Fail {
			if e := &elems[intern(v)]; better(e.add, &earlier[i]) {
				e.add, e.earlier = &earlier[i], true
			}
		}
	}
	type read struct {
		op    *Op
		elems []int64
	}
	byNode := map[string][]read{}
	for i := range h.Ops {
		op := &h.Ops[i]
		if v, ok := c.Add(*op); ok {
			res.Adds[op.Outcome]++
			e := &elems[intern(v)]
			if op.Outcome != Fail && (better(e.add, op) || e.earlier && op.Outcome == OK) {
				e.add, e.earlier = op, false
			}
			continue
		}
		vs, ok := contractRead(op, c.Read, &res.Malformed)
		if !ok {
			continue
		}
		res.Reads++
		byNode[op.Node] = append(byNode[op.Node], read{op, vs})
	}
	for n := range byNode {
		res.Nodes = append(res.Nodes, n)
	}
	slices.SortFunc(res.Nodes, compareNodes)

	// Per node, in the order of invocation: when each element first
	// showed (the completion of that read) and how many reads invoked
	// after it showed it again.
	const never = time.Duration(-1)
	seen := make([][]time.Duration, len(res.Nodes))
	first := make([][]*Op, len(res.Nodes))
	inLast := make([][]bool, len(res.Nodes))
	unstable := map[int]ElementReport{}
	for ni, n := range res.Nodes {
		reads := byNode[n]
		slices.SortStableFunc(reads, func(a, b read) int { return cmp.Compare(a.op.Invoke, b.op.Invoke) })
		at := make([]time.Duration, len(elems), len(elems)+8)
		for i := range at {
			at[i] = never
		}
		firstOp := make([]*Op, len(elems), len(elems)+8)
		again := make([]int, len(elems), len(elems)+8)
		for _, r := range reads {
			for _, v := range r.elems {
				i := intern(v)
				for len(at) < len(elems) {
					at, firstOp, again = append(at, never), append(firstOp, nil), append(again, 0)
				}
				switch {
				case at[i] == never:
					at[i], firstOp[i] = r.op.Complete, r.op
				case r.op.Invoke > at[i]:
					again[i]++
				}
			}
		}
		last := reads[len(reads)-1]
		present := make([]bool, len(elems))
		for _, v := range last.elems {
			present[index[v]] = true
		}
		// Every read invoked after the element first showed must show it.
		for i := range at {
			if at[i] == never {
				continue
			}
			after := len(reads) - sortSearch(reads, func(r read) bool { return r.op.Invoke > at[i] })
			// More than after: a read listed the element twice.
			if again[i] >= after {
				continue
			}
			if _, dup := unstable[i]; dup {
				continue
			}
			rep := ElementReport{Element: elems[i].value, Add: elems[i].add, Earlier: elems[i].earlier, Shown: firstOp[i]}
			for _, r := range reads {
				if r.op.Invoke > at[i] && !slices.Contains(r.elems, elems[i].value) {
					rep.Gone = r.op
					break
				}
			}
			unstable[i] = rep
		}
		seen[ni], first[ni], inLast[ni] = at, firstOp, present
	}
	lastRead := func(n string) *Op { r := byNode[n]; return r[len(r)-1].op }

	var (
		latencies []time.Duration
		slowest   int64
		worst     = time.Duration(-1)
	)
	for i := range elems {
		e := &elems[i]
		switch {
		case e.add == nil:
			res.Unexpected = append(res.Unexpected, unexpected(e.value, h.Ops, c, res.Nodes, seen, first, i))
			continue
		}
		var shownAnywhere bool
		for ni := range res.Nodes {
			if i < len(seen[ni]) && seen[ni][i] != never {
				shownAnywhere = true
			}
		}
		acked := e.add.Outcome == OK
		switch {
		case acked:
			res.Acked++
		case shownAnywhere:
			res.Recovered++
		default:
			continue // an add of unknown outcome that never took effect
		}
		if rep, bad := unstable[i]; bad {
			res.Unstable = append(res.Unstable, rep)
			continue
		}
		// The nodes read after the element was acknowledged judge it.
		rep := ElementReport{Element: e.value, Add: e.add, Earlier: e.earlier}
		visible := time.Duration(0)
		for ni, n := range res.Nodes {
			last := lastRead(n)
			if acked && last.Invoke < e.add.Complete {
				continue
			}
			if i < len(inLast[ni]) && inLast[ni][i] {
				rep.Showing = append(rep.Showing, n)
				visible = max(visible, seen[ni][i])
			} else {
				rep.Missing = append(rep.Missing, NodeRead{n, last})
			}
		}
		switch {
		case len(rep.Showing)+len(rep.Missing) == 0:
			res.NeverRead = append(res.NeverRead, rep)
		case len(rep.Showing) == 0:
			res.Lost = append(res.Lost, rep)
		case len(rep.Missing) > 0:
			res.Stale = append(res.Stale, rep)
		case acked && e.earlier:
			res.Stable++
		case acked:
			res.Stable++
			lat := max(0, visible-e.add.Complete)
			latencies = append(latencies, lat)
			if lat > worst {
				worst, slowest = lat, e.value
			}
			if within > 0 && lat > within {
				rep.Latency = lat
				res.Late = append(res.Late, rep)
			}
		}
	}
	res.Latency = percentiles(latencies)
	res.Latency.Slowest = slowest
	for _, l := range [][]ElementReport{res.Lost, res.Stale, res.Unstable, res.Unexpected, res.NeverRead, res.Late} {
		slices.SortFunc(l, func(a, b ElementReport) int { return cmp.Compare(a.Element, b.Element) })
	}
	res.Duration = time.Since(start)
	return res
}

// unexpected reports an element that reads showed and no add of the
// history or of the run before it made: with the failed add, if one
// tried, and the first node that showed it.
func unexpected(v int64, ops []Op, c SetContract, nodes []string, seen [][]time.Duration, first [][]*Op, i int) ElementReport {
	rep := ElementReport{Element: v}
	for j := range ops {
		if w, ok := c.Add(ops[j]); ok && w == v {
			rep.Add = &ops[j]
			break
		}
	}
	for ni, n := range nodes {
		if i < len(seen[ni]) && seen[ni][i] >= 0 {
			rep.Showing = append(rep.Showing, n)
			if rep.Shown == nil {
				rep.Shown = first[ni][i]
			}
		}
	}
	return rep
}

// sortSearch is sort.Search over a slice.
func sortSearch[T any](s []T, ok func(T) bool) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !ok(s[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// percentiles returns the median, 95th percentile and maximum of ds,
// which it sorts.
func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return Percentiles{N: len(ds), Median: at(0.5), P95: at(0.95), Max: ds[len(ds)-1]}
}

// compareNodes orders node names as the cluster does: n2 before n10.
func compareNodes(a, b string) int {
	na, ea := strconv.Atoi(strings.TrimPrefix(a, "n"))
	nb, eb := strconv.Atoi(strings.TrimPrefix(b, "n"))
	if ea == nil && eb == nil && strings.HasPrefix(a, "n") && strings.HasPrefix(b, "n") {
		return cmp.Compare(na, nb)
	}
	return cmp.Compare(a, b)
}

// clipped reports whether a body was clipped by Clip: the history kept
// only its start, so it cannot be read as JSON.
func clipped(s string) bool {
	return len(s) > clipAt-200 && len(s) <= clipAt && strings.Contains(s[clipAt-200:], " bytes, sha256 ")
}

// errClipped says why a long answer cannot be read.
var errClipped = errors.New("the answer is longer than 8 KiB, and the run had already kept 64 MiB of long answers whole, so the history keeps only its start; read the set less often, or keep it smaller")

// jsonInt reads the integer field of a JSON object.
func jsonInt(body, field string) (int64, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return 0, err
	}
	raw, ok := m[field]
	if !ok {
		return 0, fmt.Errorf("no field %q", field)
	}
	return strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
}

// jsonInts reads the field of a JSON object that holds an array of
// integers: a fast scan for the common answer {"field": [1, 2, 3]}, and
// encoding/json for anything else.
func jsonInts(body, field string) ([]int64, error) {
	if out, ok := scanInts(body, field); ok {
		return out, nil
	}
	if clipped(body) {
		return nil, errClipped
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object: %v", err)
	}
	raw, ok := m[field]
	if !ok {
		return nil, fmt.Errorf("the answer has no field %q", field)
	}
	var out []int64
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("field %q is not a list of integers: %s", field, quote(string(raw)))
	}
	return out, nil
}

// scanInts is jsonInts' fast path: it accepts only an object whose one
// field is field, an array of plain integers.
func scanInts(s, field string) ([]int64, bool) {
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	expect := func(c byte) bool {
		skip()
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	if !expect('{') || !expect('"') || !strings.HasPrefix(s[i:], field+`"`) {
		return nil, false
	}
	i += len(field) + 1
	if !expect(':') || !expect('[') {
		return nil, false
	}
	out := make([]int64, 0, 16)
	if expect(']') {
		if !expect('}') {
			return nil, false
		}
		skip()
		return out, i == len(s)
	}
	for {
		skip()
		j := i
		if i < len(s) && s[i] == '-' {
			i++
		}
		var n int64
		digits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && digits < 18 {
			n = n*10 + int64(s[i]-'0')
			i++
			digits++
		}
		if digits == 0 || i < len(s) && s[i] >= '0' && s[i] <= '9' {
			return nil, false
		}
		if s[j] == '-' {
			n = -n
		}
		out = append(out, n)
		if expect(']') {
			break
		}
		if !expect(',') {
			return nil, false
		}
	}
	if !expect('}') {
		return nil, false
	}
	skip()
	return out, i == len(s)
}
