package history

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// CounterContract says which operations of a history add to a counter and
// which read it.
type CounterContract struct {
	// Name names the contract in messages: "counter".
	Name string
	// Describe says in a few words what the contract judges.
	Describe string
	// Add returns the delta an operation adds, and whether it is an add.
	Add func(Op) (int64, bool)
	// Read reports whether an operation reads the counter; for a read
	// with a 2xx answer it also returns the value, or why the answer
	// cannot be read.
	Read func(Op) (isRead bool, value int64, err error)
}

// Counter is the contract of the gossip challenge's counter stages: POST
// /add with {"delta": n} adds n (negative to subtract), GET /counter
// answers {"value": n}.
var Counter = CounterContract{
	Name:     "counter",
	Describe: `POST /add {"delta": n} and GET /counter → {"value": n}`,
	Add: func(op Op) (int64, bool) {
		if op.Method != "POST" || op.Path != "/add" {
			return 0, false
		}
		n, err := jsonInt(op.Body, "delta")
		return n, err == nil
	},
	Read: func(op Op) (bool, int64, error) {
		if op.Method != "GET" || op.Path != "/counter" {
			return false, 0, nil
		}
		if op.Outcome != OK {
			return true, 0, nil
		}
		n, err := jsonInt(op.Response, "value")
		if err != nil {
			return true, 0, fmt.Errorf(`the answer is not {"value": <integer>}: %v`, err)
		}
		return true, n, nil
	},
}

// CounterResult is what CheckCounter found.
type CounterResult struct {
	Contract string
	// Adds counts the adds of the history and of the run before it by
	// outcome; Reads the reads with a readable 2xx answer.
	Adds  map[Outcome]int
	Reads int
	// Sum is the sum of the acknowledged deltas; Low and High bound what
	// the adds of unknown outcome may add to it (Low ≤ Sum ≤ High).
	Sum, Low, High int64
	// Unknown are the adds of unknown outcome.
	Unknown []*Op
	// Decrements counts the adds with a negative delta.
	Decrements int
	// Final is the last read of each node invoked after every add had
	// completed: the reads that must agree on a value in [Low, High].
	Final []CounterRead
	// Wrong are the final reads outside [Low, High]; Disagree is true
	// when the final reads are in range but not all equal.
	Wrong    []CounterRead
	Disagree bool
	// Impossible are reads, final or not, whose value no set of the adds
	// invoked before they completed could make.
	Impossible []ImpossibleRead
	// Malformed are 2xx reads whose answer could not be read.
	Malformed []Malformed
	// Behind are the nodes read during the history but not after its
	// last add completed: they are not judged.
	Behind   []string
	Duration time.Duration
}

// CounterRead is one read of a counter.
type CounterRead struct {
	Op    *Op
	Value int64
}

// ImpossibleRead is a read outside every sum that the adds invoked before
// it completed could make: [Low, High].
type ImpossibleRead struct {
	CounterRead
	Low, High int64
}

// Checked reports whether the history had something to judge: a final
// read.
func (r CounterResult) Checked() bool { return len(r.Final) > 0 }

// Valid reports whether the counter converged on a value the adds allow
// and no read was impossible.
func (r CounterResult) Valid() bool {
	return len(r.Wrong)+len(r.Impossible)+len(r.Malformed) == 0 && !r.Disagree
}

// CheckCounter checks h as a counter under contract c: once every add has
// completed, every node's last read must show the sum of the acknowledged
// deltas plus any of the deltas of unknown outcome, all nodes the same
// value; and no read may show more (or less) than the adds invoked before
// it completed could make. earlier are operations of the run before h:
// their adds count, as the counter holds them.
func CheckCounter(earlier []Op, h History, c CounterContract) CounterResult {
	start := time.Now()
	res := CounterResult{Contract: c.Name, Adds: map[Outcome]int{}}
	type add struct {
		op    *Op
		delta int64
	}
	var (
		adds    []add
		lastAdd time.Duration
	)
	collect := func(ops []Op, own bool) {
		for i := range ops {
			d, ok := c.Add(ops[i])
			if !ok {
				continue
			}
			op := &ops[i]
			res.Adds[op.Outcome]++
			if d < 0 {
				res.Decrements++
			}
			switch op.Outcome {
			case OK:
				res.Sum += d
			case Unknown:
				res.Unknown = append(res.Unknown, op)
				if d < 0 {
					res.Low += d
				} else {
					res.High += d
				}
			default:
				continue
			}
			adds = append(adds, add{op, d})
			if own {
				// An add of unknown outcome may still land at any time:
				// its invocation is what a final read must follow.
				lastAdd = max(lastAdd, op.Complete)
			}
		}
	}
	collect(earlier, false)
	collect(h.Ops, true)
	res.Low += res.Sum
	res.High += res.Sum

	var reads []CounterRead
	for i := range h.Ops {
		op := &h.Ops[i]
		v, ok := contractRead(op, c.Read, &res.Malformed)
		if !ok {
			continue
		}
		res.Reads++
		reads = append(reads, CounterRead{op, v})
	}

	// The bounds of a read: any add invoked before it completed may be
	// in it, an add invoked later may not.
	slices.SortFunc(adds, func(a, b add) int { return cmp.Compare(a.op.Invoke, b.op.Invoke) })
	slices.SortStableFunc(reads, func(a, b CounterRead) int { return cmp.Compare(a.Op.Complete, b.Op.Complete) })
	var low, high int64
	next := 0
	for _, r := range reads {
		for next < len(adds) && adds[next].op.Invoke < r.Op.Complete {
			if d := adds[next].delta; d < 0 {
				low += d
			} else {
				high += d
			}
			next++
		}
		if r.Value < low || r.Value > high {
			res.Impossible = append(res.Impossible, ImpossibleRead{r, low, high})
		}
	}

	last := map[string]CounterRead{}
	for _, r := range reads {
		if l, ok := last[r.Op.Node]; !ok || r.Op.Invoke >= l.Op.Invoke {
			last[r.Op.Node] = r
		}
	}
	for n, r := range last {
		if r.Op.Invoke < lastAdd {
			res.Behind = append(res.Behind, n)
			continue
		}
		res.Final = append(res.Final, r)
		if r.Value < res.Low || r.Value > res.High {
			res.Wrong = append(res.Wrong, r)
		}
	}
	slices.SortFunc(res.Behind, compareNodes)
	byNode := func(a, b CounterRead) int { return compareNodes(a.Op.Node, b.Op.Node) }
	slices.SortFunc(res.Final, byNode)
	slices.SortFunc(res.Wrong, byNode)
	for _, r := range res.Final {
		if r.Value != res.Final[0].Value {
			res.Disagree = true
		}
	}
	res.Duration = time.Since(start)
	return res
}
