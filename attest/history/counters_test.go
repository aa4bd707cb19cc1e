package history

import (
	"fmt"
	"strings"
	"testing"
)

// addOp is POST /add of delta on node, from..to.
func addOp(node string, delta int, status, from, to int) Op {
	return Op{Node: node, Method: "POST", Path: "/add", Body: fmt.Sprintf(`{"delta": %d}`, delta),
		Status: status, Invoke: ms10(from), Complete: ms10(to), Outcome: OutcomeOf(status)}
}

// readCounter is GET /counter on node answering v, from..to.
func readCounter(node string, v int, from, to int) Op {
	return Op{Node: node, Method: "GET", Path: "/counter", Status: 200, Response: fmt.Sprintf(`{"value": %d}`, v),
		Invoke: ms10(from), Complete: ms10(to), Outcome: OK}
}

func TestCheckCounter(t *testing.T) {
	tests := []struct {
		name    string
		earlier []Op
		ops     []Op
		valid   bool
		explain []string
	}{
		{name: "every node reads the sum", valid: true, ops: []Op{
			addOp("n1", 3, 200, 0, 1), addOp("n2", 4, 200, 0, 1), addOp("n3", -2, 200, 0, 1),
			readCounter("n1", 3, 1, 2), readCounter("n2", 0, 1, 2),
			readCounter("n1", 5, 10, 11), readCounter("n2", 5, 10, 11), readCounter("n3", 5, 10, 11),
		}},
		{name: "a node short of an acknowledged add", ops: []Op{
			addOp("n1", 3, 200, 0, 1), addOp("n2", 4, 200, 0, 1),
			readCounter("n1", 7, 10, 11), readCounter("n2", 4, 10, 11),
		}, explain: []string{"n2 reads 4 at 0.110s, after every add completed; want 7: some acknowledged adds are missing"}},
		{name: "a node that counts an add twice", ops: []Op{
			addOp("n1", 3, 200, 0, 1), addOp("n2", 4, 200, 0, 1),
			readCounter("n1", 10, 10, 11), readCounter("n2", 7, 10, 11),
		}, explain: []string{"n1 reads 10", "more than every add together, as if some were counted twice"}},
		{name: "a read too high during the adds", ops: []Op{
			addOp("n1", 3, 200, 0, 1), readCounter("n2", 9, 2, 3), readCounter("n2", 3, 10, 11),
		}, explain: []string{"n2 read 9 at 0.030s, which no set of the adds invoked by then can make (0 … 3)"}},
		{name: "adds of unknown outcome widen the range", valid: true, ops: []Op{
			addOp("n1", 3, 200, 0, 1), addOp("n2", 4, 0, 0, 5), addOp("n2", -1, 503, 0, 1),
			readCounter("n1", 6, 10, 11), readCounter("n2", 6, 10, 11),
		}},
		{name: "nodes in range must still agree", ops: []Op{
			addOp("n1", 3, 200, 0, 1), addOp("n2", 4, 0, 0, 5),
			readCounter("n1", 3, 10, 11), readCounter("n2", 7, 10, 11),
		}, explain: []string{"the nodes disagree after every add completed: n1=3 n2=7"}},
		{name: "a lost decrement", ops: []Op{
			addOp("n1", 5, 200, 0, 1), addOp("n2", -2, 200, 0, 1),
			readCounter("n1", 5, 10, 11), readCounter("n2", 3, 10, 11),
		}, explain: []string{"n1 reads 5", "want 3: too high, as if some decrements were missing or some increments counted twice"}},
		{name: "refused adds do not count", valid: true, ops: []Op{
			addOp("n1", 5, 200, 0, 1), addOp("n2", 9, 400, 0, 1),
			readCounter("n1", 5, 10, 11),
		}},
		{name: "earlier adds count", valid: true, earlier: []Op{addOp("n1", 10, 200, 0, 1)}, ops: []Op{
			addOp("n1", 5, 200, 2, 3), readCounter("n1", 15, 10, 11),
		}},
		{name: "a read during the adds may lag", valid: true, ops: []Op{
			addOp("n1", 5, 200, 0, 1), readCounter("n2", 0, 2, 3), readCounter("n2", 5, 10, 11),
		}},
		{name: "a read ahead of every add is impossible", ops: []Op{
			readCounter("n1", 5, 0, 1), addOp("n1", 5, 200, 2, 3), readCounter("n1", 5, 10, 11),
		}, explain: []string{"n1 read 5 at 0.010s, which no set of the adds invoked by then can make (0 … 0)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckCounter(tc.earlier, History{Ops: tc.ops}, Counter)
			if !res.Checked() {
				t.Fatalf("nothing checked: %s", res.Why(Counter))
			}
			if res.Valid() != tc.valid {
				t.Fatalf("valid = %v, want %v:\n%s", res.Valid(), tc.valid, res.Explain())
			}
			text := res.Explain()
			for _, want := range tc.explain {
				if !strings.Contains(text, want) {
					t.Errorf("the explanation does not say %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestCheckCounterNeedsAFinalRead(t *testing.T) {
	res := CheckCounter(nil, History{Ops: []Op{readCounter("n1", 0, 0, 1), addOp("n1", 5, 200, 2, 3)}}, Counter)
	if res.Checked() {
		t.Fatalf("checked: %s", res.Summary())
	}
	if why := res.Why(Counter); !strings.Contains(why, "no node was read after the last add completed (n1 read only before)") {
		t.Errorf("why: %s", why)
	}
	res = CheckCounter(nil, History{Ops: []Op{addOp("n1", 5, 200, 2, 3)}}, Counter)
	if why := res.Why(Counter); !strings.Contains(why, "no read with a 2xx answer") {
		t.Errorf("why: %s", why)
	}
}
