package history

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// AllKeys is the partition key of an operation that concerns every key
// (DELETE /clear): a history that has one is checked whole.
const AllKeys = "*"

// Model is a sequential specification of the system under test: what each
// operation, taken alone, would do to a state. A history is linearizable
// if its operations can be put in one order, consistent with real time,
// in which every step is allowed.
type Model struct {
	// Name names the model in messages: "kv".
	Name string
	// Contract, if set, says whether op is one the model describes (its
	// method and path), whatever came of it; ContractText says which in
	// words ("GET, PUT and DELETE of /kv/{key}"). An operation outside
	// the contract is ignored and counted as such, so that a typo in a
	// path shows. Nil: every operation Keep leaves out is ignored.
	Contract     func(op Op) bool
	ContractText string
	// Past, if set, lets a history start from what the run did before it
	// rather than from Init: for an operation it returns the key the
	// operation acts on (AllKeys for every key) and whether it writes,
	// that is, sets the key to a state that does not depend on the one
	// before (a PUT, a DELETE); an operation that does not write must
	// leave the state as it was (a GET). See CheckAfter. Nil: every
	// history starts from Init.
	Past func(op Op) (key string, writes bool)
	// Keep says which operations the model judges; the others (a redirect,
	// a GET of /cluster/info) are left out. Nil keeps every operation.
	Keep func(op Op) bool
	// Partition, if set, gives each kept operation a key: operations with
	// different keys are independent, so each key's are checked alone,
	// which is much faster. AllKeys makes the whole history one partition.
	Partition func(op Op) string
	// Simplify, if set, drops kept operations that cannot change the
	// verdict (an unknown write of a value that no read saw), which
	// shortens the search.
	Simplify func(ops []Op) []Op
	// Bound, if set, gives for some unknown operations of ops (by index)
	// the latest time at which each can have taken effect, when the model
	// can tell: a write of a value that only it wrote took effect before
	// the first read that saw the value completed. The others stay open
	// until the end of the history. Either way the verdict is the same;
	// bounds only spare the search.
	Bound func(ops []Op) map[int]time.Duration
	// Init returns the initial state.
	Init func() any
	// Step says whether op can take effect in state, and returns the state
	// after it. The response of an Unknown operation says nothing, so Step
	// must not look at it.
	Step func(state any, op Op) (bool, any)
	// Equal compares states; nil compares them with ==.
	Equal func(a, b any) bool
	// Hash, if set, hashes a state; equal states must hash the same.
	Hash func(state any) uint64
	// DescribeState shows a state in the visualization; nil uses %v.
	DescribeState func(state any) string
	// Source, if set, says whether write could have produced what read
	// saw. A smallest set of operations that cannot be ordered then keeps,
	// for each read it holds, one write it could have seen (when the
	// history has one), so that it reads "wrote 1, wrote 2, then read 1"
	// rather than "read 1".
	Source func(read, write Op) bool
}

// Verdict is the outcome of a check.
type Verdict string

// The verdicts of a check.
const (
	// Linearizable: the operations can be ordered.
	Linearizable Verdict = "linearizable"
	// NotLinearizable: no order of the operations explains what the
	// clients saw.
	NotLinearizable Verdict = "not linearizable"
	// Undecided: the check ran out of time before it could tell.
	Undecided Verdict = "undecided"
	// NothingChecked: no operation of the history completed in a way the
	// model can judge, so there was nothing to order (see Result.Why).
	NothingChecked Verdict = "nothing to check"
)

// Result is what Check found.
type Result struct {
	Verdict Verdict
	// Model is the model's name.
	Model string
	// Total is how many operations the history has. Ignored is how many
	// of them lie outside the model's contract (another path or method),
	// and NotApplied how many the model left out because they say
	// nothing (a redirect, a 400, a read without an answer).
	Total, Ignored, NotApplied int
	// Checked is how many operations the model judged, and Unknown how many
	// of those were left open until the end of the history because their
	// outcome is unknown (and no read bounds them). Earlier is how many of
	// the checked ones came from before the history or from outside it
	// (see CheckAfter).
	Checked, Unknown, Earlier int
	// IgnoredExample is one of the ignored operations, to show.
	IgnoredExample *Op
	// Notes explain, for a result that is not linearizable, the reads of
	// the smallest set whose values only operations outside the history
	// wrote: "\"v-7\" was written at 5.860s by client 3 in test …".
	Notes []string
	// Key is the partition that cannot be ordered ("" when the model does
	// not partition).
	Key string
	// Minimal is a smallest set of operations, found within the time the
	// check had left, that cannot be ordered on their own; ordered by
	// invocation.
	Minimal []Op
	// Duration is how long the check took.
	Duration time.Duration

	model porcupine.Model
	info  porcupine.LinearizationInfo
	// outside holds the operations of Minimal that are not the history's.
	outside map[Op]bool
	// contract is the model's ContractText, for Why.
	contract string
	// open counts the kept operations of the history whose outcome is
	// unknown, for Why.
	open int
}

// Check checks the operations of h against m, from the model's initial
// state. An Unknown operation is left open until the end of the history:
// it may take effect at any time after its invocation, or never. timeout
// bounds the search (0: no bound); when it runs out before a verdict, the
// result is Undecided. A history with no completed operation that the
// model judges gets NothingChecked.
func Check(h History, m Model, timeout time.Duration) Result {
	return CheckAfter(nil, h, m, timeout)
}

// CheckAfter is Check for a history that is part of a run: other holds
// the run's operations that are not h's. For a model with Past, the
// check starts where those left the keys that h's operations name: the
// writes of other on those keys that h's operations can still see are
// checked with h's, with their own times and outcomes, so that an
// acknowledged write before h is a candidate for the state h began from
// and an unknown one may still land while h runs. Reads outside h, and
// writes that another acknowledged write overwrote before h began, are
// left out: they cannot change what h's operations may see.
func CheckAfter(other []Op, h History, m Model, timeout time.Duration) Result {
	start := time.Now()
	res := Result{Model: m.Name, Total: len(h.Ops), contract: m.ContractText}
	var ops []Op
	completed := 0
	for _, op := range h.Ops {
		switch {
		case m.Contract != nil && !m.Contract(op), m.Contract == nil && m.Keep != nil && !m.Keep(op):
			res.Ignored++
			if res.IgnoredExample == nil {
				res.IgnoredExample = &op
			}
		case m.Keep != nil && !m.Keep(op):
			res.NotApplied++
		default:
			ops = append(ops, op)
			if op.Outcome != Unknown {
				completed++
			} else {
				res.open++
			}
		}
	}
	if completed == 0 {
		res.Verdict = NothingChecked
		res.Duration = time.Since(start)
		return res
	}
	p := pastOf(m, other, ops)
	ops = append(ops, p.kept...)
	if m.Simplify != nil {
		ops = m.Simplify(ops)
	}
	for _, op := range ops {
		if p.outside[op] {
			res.Earlier++
		}
	}
	res.Checked = len(ops) - res.Earlier
	ops, keys := p.spread(m, ops)
	var bounds map[int]time.Duration
	if m.Bound != nil {
		bounds = m.Bound(ops)
	}
	pops := toPorcupine(ops, bounds, &res.Unknown)
	res.model = porcupineModel(m, ops, keys)
	// The verdict first, which stops at the first key that cannot be
	// ordered; the details only for that key.
	switch porcupine.CheckOperationsTimeout(res.model, pops, timeout) {
	case porcupine.Ok:
		res.Verdict = Linearizable
	case porcupine.Unknown:
		res.Verdict = Undecided
	default:
		res.Verdict = NotLinearizable
		left := time.Duration(0)
		if timeout > 0 {
			left = timeout - time.Since(start)
		}
		var bad []porcupine.Operation
		res.Key, bad, res.Minimal = minimal(m, res.model, ops, keys, pops, left)
		res.outside = map[Op]bool{}
		for _, op := range res.Minimal {
			if p.outside[op] {
				res.outside[op] = true
			}
		}
		res.Notes = p.notes(m, res.Minimal, ops)
		// The visualization shows the key that cannot be ordered, with
		// the longest orders of it that the search found.
		single := res.model
		single.Partition = nil
		_, res.info = porcupine.CheckOperationsVerbose(single, bad, max(left/4, time.Second))
		res.info.AddAnnotations(annotations(h.Events))
	}
	res.Duration = time.Since(start)
	return res
}

// Visualize writes porcupine's interactive view of a history that is not
// linearizable to path: every client's operations on the key that cannot
// be ordered on a time line, the longest orders the search found, and the
// faults of the history's events.
func (r Result) Visualize(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := porcupine.VisualizePath(r.model, r.info, path); err != nil {
		return fmt.Errorf("write the visualization: %w", err)
	}
	return nil
}

// toPorcupine turns operations into porcupine's, each with its index in
// ops as input. An unknown operation returns at its bound, if it has one,
// or else only after everything else has, which leaves it free to take
// effect at any point after its call.
func toPorcupine(ops []Op, bounds map[int]time.Duration, unknown *int) []porcupine.Operation {
	var horizon time.Duration
	for _, op := range ops {
		horizon = max(horizon, op.Complete, op.Invoke)
	}
	horizon += time.Millisecond
	ids := clients(ops)
	out := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		ret := op.Complete
		if op.Outcome == Unknown {
			ret = horizon
			if b, ok := bounds[i]; ok {
				ret = b
			} else {
				*unknown++
			}
		}
		out[i] = porcupine.Operation{
			ClientId: ids[client{op.Test, op.Client}],
			Input:    i,
			Call:     int64(op.Invoke),
			Return:   int64(max(ret, op.Invoke)),
			Metadata: op.String(),
		}
	}
	return out
}

// client is who made an operation: a client of one test.
type client struct {
	test string
	id   int
}

// clients numbers the clients of ops from 0, as porcupine's visualization
// wants: by test in the order they first appear, and in each test by
// number, the test's own requests last.
func clients(ops []Op) map[client]int {
	var tests []string
	for _, op := range ops {
		if !slices.Contains(tests, op.Test) {
			tests = append(tests, op.Test)
		}
	}
	slices.SortStableFunc(tests, func(a, b string) int {
		return cmp.Compare(firstInvoke(ops, a), firstInvoke(ops, b))
	})
	var seen []client
	for _, op := range ops {
		if c := (client{op.Test, op.Client}); !slices.Contains(seen, c) {
			seen = append(seen, c)
		}
	}
	slices.SortFunc(seen, func(a, b client) int {
		if c := cmp.Compare(slices.Index(tests, a.test), slices.Index(tests, b.test)); c != 0 {
			return c
		}
		// NoClient is -1: the test's own requests go last.
		return cmp.Compare(uint(a.id), uint(b.id))
	})
	ids := make(map[client]int, len(seen))
	for i, c := range seen {
		ids[c] = i
	}
	return ids
}

// firstInvoke is when the first operation of test in ops was invoked.
func firstInvoke(ops []Op, test string) time.Duration {
	for _, op := range ops {
		if op.Test == test {
			return op.Invoke
		}
	}
	return 0
}

// annotations shows the history's events in the visualization, on a line
// of their own below the clients.
func annotations(events []Event) []porcupine.Annotation {
	out := make([]porcupine.Annotation, 0, len(events))
	for _, e := range events {
		who := e.Node
		if who == "" {
			who = "cluster"
		}
		out = append(out, porcupine.Annotation{
			Tag:             "faults",
			Start:           int64(e.Time),
			End:             int64(e.Time),
			Description:     who + " " + e.Text,
			Details:         stamp(e.Time) + " " + who + " " + e.Text,
			BackgroundColor: "#f6c8c8",
		})
	}
	return out
}

// porcupineModel adapts m to porcupine: an input is an index into ops,
// whose partition key is the same index of keys.
func porcupineModel(m Model, ops []Op, keys []string) porcupine.Model {
	pm := porcupine.Model{
		Init: m.Init,
		Step: func(state, input, _ any) (bool, any) {
			return m.Step(state, ops[input.(int)])
		},
		Equal: m.Equal,
		Hash:  m.Hash,
		DescribeOperation: func(input, _ any) string {
			op := ops[input.(int)]
			return describe(op)
		},
		DescribeState: m.DescribeState,
	}
	if m.Partition != nil {
		pm.Partition = func(h []porcupine.Operation) [][]porcupine.Operation {
			return partition(keys, h)
		}
	}
	return pm
}

// partition groups porcupine's operations by their keys, in the order
// keys first appear; an operation of AllKeys makes one group.
func partition(opKeys []string, h []porcupine.Operation) [][]porcupine.Operation {
	var keys []string
	groups := map[string][]porcupine.Operation{}
	for _, p := range h {
		k := opKeys[p.Input.(int)]
		if k == AllKeys {
			return [][]porcupine.Operation{h}
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], p)
	}
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = groups[k]
	}
	return out
}

// describe is an operation as the visualization labels it: "PUT /kv/x "1"
// → 200".
func describe(op Op) string {
	s := op.Method + " " + op.Path
	if op.Body != "" {
		s += " " + quote(op.Body)
	}
	switch op.Outcome {
	case Unknown:
		return s + " → ?"
	}
	s += fmt.Sprintf(" → %d", op.Status)
	if op.Response != "" && op.Method == "GET" {
		s += " " + quote(op.Response)
	}
	return s
}

// minimalBudget bounds the search for a smallest set of operations that
// cannot be ordered; the verdict does not depend on it.
const minimalBudget = 5 * time.Second

// minimal finds the key whose operations cannot be ordered (returning its
// operations) and, within budget, a smallest subset of them that still
// cannot: each operation left in it is needed for the contradiction.
func minimal(m Model, pm porcupine.Model, ops []Op, keys []string, pops []porcupine.Operation, budget time.Duration) (string, []porcupine.Operation, []Op) {
	if budget <= 0 {
		budget = 4 * minimalBudget
	}
	deadline := time.Now().Add(min(budget/4, minimalBudget))
	groups := [][]porcupine.Operation{pops}
	if pm.Partition != nil {
		groups = pm.Partition(pops)
	}
	single := pm
	single.Partition = nil
	sourced := func(h []porcupine.Operation) bool { return true }
	if m.Source != nil {
		sourced = func(h []porcupine.Operation) bool {
			return everyReadSourced(m.Source, ops, pops, h)
		}
	}
	illegal := func(h []porcupine.Operation) bool {
		left := time.Until(deadline)
		if left <= 0 || !sourced(h) {
			return false
		}
		return porcupine.CheckOperationsTimeout(single, h, left) == porcupine.Illegal
	}
	var bad []porcupine.Operation
	for _, g := range groups {
		if porcupine.CheckOperationsTimeout(single, g, 0) == porcupine.Illegal {
			bad = g
			break
		}
	}
	if bad == nil {
		return "", nil, nil
	}
	key := ""
	if m.Partition != nil {
		key = keys[bad[0].Input.(int)]
	}
	small := ddmin(shortestPrefix(bad, illegal), illegal)
	out := make([]Op, len(small))
	for i, p := range small {
		out[i] = ops[p.Input.(int)]
	}
	slices.SortStableFunc(out, func(a, b Op) int { return int(a.Invoke - b.Invoke) })
	return key, bad, out
}

// shortestPrefix returns the shortest prefix of h, in invocation order,
// for which fails holds (h itself if it cannot tell): the contradiction
// lies within it, and the rest need not be searched.
func shortestPrefix(h []porcupine.Operation, fails func([]porcupine.Operation) bool) []porcupine.Operation {
	h = slices.Clone(h)
	slices.SortStableFunc(h, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	lo, hi := 1, len(h) // fails(h[:hi]) is assumed
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(h[:mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return h[:hi]
}

// everyReadSourced says whether each read in h that some write of all
// could have produced has such a write in h too.
func everyReadSourced(source func(read, write Op) bool, ops []Op, all, h []porcupine.Operation) bool {
	for _, r := range h {
		read := ops[r.Input.(int)]
		inAll, inH := false, false
		for _, w := range all {
			if w.Input == r.Input || !source(read, ops[w.Input.(int)]) {
				continue
			}
			inAll = true
			if slices.ContainsFunc(h, func(x porcupine.Operation) bool { return x.Input == w.Input }) {
				inH = true
				break
			}
		}
		if inAll && !inH {
			return false
		}
	}
	return true
}

// ddmin shrinks h while fails holds, removing chunks and then single
// operations (delta debugging); what it returns still fails, and if fails
// never gave up for lack of time, removing any one operation makes it
// pass.
func ddmin(h []porcupine.Operation, fails func([]porcupine.Operation) bool) []porcupine.Operation {
	n := 2
	for len(h) >= 2 {
		chunk := (len(h) + n - 1) / n
		shrunk := false
		for start := 0; start < len(h); start += chunk {
			end := min(start+chunk, len(h))
			rest := append(slices.Clone(h[:start]), h[end:]...)
			if len(rest) > 0 && fails(rest) {
				h = rest
				n = max(n-1, 2)
				shrunk = true
				break
			}
		}
		if !shrunk {
			if chunk == 1 {
				break
			}
			n = min(n*2, len(h))
		}
	}
	return h
}
