package history

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// op builds an operation for hand-made histories: times in milliseconds,
// outcome from the status (0: no answer).
func op(client int, method, path, body string, status int, response string, invoke, complete int) Op {
	return Op{
		Client: client, Node: fmt.Sprintf("n%d", client+1),
		Method: method, Path: path, Body: body,
		Status: status, Response: response,
		Invoke:   time.Duration(invoke) * time.Millisecond,
		Complete: time.Duration(complete) * time.Millisecond,
		Outcome:  OutcomeOf(status),
	}
}

func put(c int, key, v string, status, from, to int) Op {
	return op(c, http.MethodPut, "/kv/"+key, v, status, "", from, to)
}

func get(c int, key string, status int, v string, from, to int) Op {
	return op(c, http.MethodGet, "/kv/"+key, "", status, v, from, to)
}

func del(c int, path string, status, from, to int) Op {
	return op(c, http.MethodDelete, path, "", status, "", from, to)
}

func TestCheckKV(t *testing.T) {
	tests := []struct {
		name    string
		ops     []Op
		want    Verdict
		minimal int // size of the minimal set when not linearizable
	}{
		{"empty", nil, NothingChecked, 0},
		{"read after write", []Op{put(0, "x", "1", 200, 0, 10), get(1, "x", 200, "1", 20, 30)}, Linearizable, 0},
		{"stale read after acknowledged write", []Op{
			put(0, "x", "1", 200, 0, 10), put(0, "x", "2", 200, 11, 20), get(1, "x", 200, "1", 30, 40),
		}, NotLinearizable, 3},
		{"concurrent read may see either", []Op{
			put(0, "x", "1", 200, 0, 10), put(0, "x", "2", 200, 11, 50), get(1, "x", 200, "1", 20, 30),
		}, Linearizable, 0},
		{"read of absent key is a 404", []Op{get(1, "x", 404, "key not found", 0, 5), put(0, "x", "1", 200, 10, 20)}, Linearizable, 0},
		{"404 after acknowledged write", []Op{put(0, "x", "1", 200, 0, 10), get(1, "x", 404, "key not found", 20, 30)}, NotLinearizable, 2},
		{"value never written", []Op{get(1, "x", 200, "7", 0, 5)}, NotLinearizable, 1},
		{"redirected write did not happen", []Op{
			put(0, "x", "1", 307, 0, 10), get(1, "x", 404, "", 20, 30),
		}, Linearizable, 0},
		{"write seen despite a redirect is not explained", []Op{
			put(0, "x", "1", 307, 0, 10), get(1, "x", 200, "1", 20, 30),
		}, NotLinearizable, 1},
		// An unknown write may take effect after it timed out: a read long
		// after it may still see its value for the first time.
		{"unknown write applied late", []Op{
			put(0, "x", "1", 0, 0, 10), get(1, "x", 404, "", 20, 30), get(1, "x", 200, "1", 40, 50),
		}, Linearizable, 0},
		{"unknown write (503) applied late", []Op{
			put(0, "x", "1", 503, 0, 10), get(1, "x", 404, "", 20, 30), get(1, "x", 200, "1", 40, 50),
		}, Linearizable, 0},
		// Whatever the unknown write did, the reads contradict each other.
		{"not linearizable whatever the unknowns do", []Op{
			put(0, "x", "1", 200, 0, 10), put(2, "x", "3", 0, 0, 10),
			get(1, "x", 200, "2", 20, 30),
		}, NotLinearizable, 1},
		{"value flips back", []Op{
			put(0, "x", "1", 200, 0, 10), put(0, "x", "2", 200, 20, 30), put(2, "x", "9", 0, 0, 5),
			get(1, "x", 200, "2", 40, 50), get(1, "x", 200, "1", 60, 70),
		}, NotLinearizable, 3},
		{"keys are independent", []Op{
			put(0, "x", "1", 200, 0, 10), put(0, "y", "1", 200, 0, 10), get(1, "y", 200, "1", 20, 30), get(1, "x", 200, "1", 20, 30),
		}, Linearizable, 0},
		{"delete then read", []Op{
			put(0, "x", "1", 200, 0, 10), del(0, "/kv/x", 200, 20, 30), get(1, "x", 200, "1", 40, 50),
		}, NotLinearizable, 3},
		{"clear empties every key", []Op{
			put(0, "x", "1", 200, 0, 10), put(0, "y", "2", 200, 0, 10), del(0, "/clear", 200, 20, 30),
			get(1, "x", 404, "", 40, 50), get(1, "y", 404, "", 40, 50),
		}, Linearizable, 0},
		{"read after clear", []Op{
			put(0, "x", "1", 200, 0, 10), del(0, "/clear", 200, 20, 30), get(1, "x", 200, "1", 40, 50),
		}, NotLinearizable, 3},
		{"other paths are left out", []Op{
			op(0, http.MethodGet, "/cluster/info", "", 200, `{"role":"leader"}`, 0, 5), put(0, "x", "1", 200, 10, 20),
		}, Linearizable, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(History{Ops: tc.ops}, KV(), time.Second)
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s", res.Verdict, tc.want)
			}
			if tc.want == NotLinearizable && len(res.Minimal) != tc.minimal {
				t.Errorf("minimal set has %d operations, want %d:\n%s", len(res.Minimal), tc.minimal, res.Explain(nil))
			}
		})
	}
}

func TestCheckRegister(t *testing.T) {
	w := func(c int, v string, status, from, to int) Op {
		return op(c, http.MethodPut, "/register", v, status, "", from, to)
	}
	r := func(c int, status int, v string, from, to int) Op {
		return op(c, http.MethodGet, "/register", "", status, v, from, to)
	}
	tests := []struct {
		name string
		ops  []Op
		want Verdict
	}{
		{"nothing written reads 404", []Op{r(0, 404, "", 0, 1)}, Linearizable},
		{"read sees last write", []Op{w(0, "a", 200, 0, 1), w(0, "b", 200, 2, 3), r(1, 200, "b", 4, 5)}, Linearizable},
		{"stale read", []Op{w(0, "a", 200, 0, 1), w(0, "b", 200, 2, 3), r(1, 200, "a", 4, 5)}, NotLinearizable},
		{"unknown write may land late", []Op{w(0, "a", 200, 0, 1), w(2, "b", 504, 2, 3), r(1, 200, "a", 4, 5), r(1, 200, "b", 6, 7)}, Linearizable},
		{"failed write never lands", []Op{w(0, "a", 200, 0, 1), w(2, "b", 400, 2, 3), r(1, 200, "b", 6, 7)}, NotLinearizable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Check(History{Ops: tc.ops}, Register(), time.Second).Verdict; got != tc.want {
				t.Fatalf("verdict %s, want %s", got, tc.want)
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	for status, want := range map[int]Outcome{0: Unknown, 200: OK, 204: OK, 307: Fail, 404: Fail, 500: Unknown, 503: Unknown} {
		if got := OutcomeOf(status); got != want {
			t.Errorf("OutcomeOf(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestExplainNamesTheOperationsAndTheFaults(t *testing.T) {
	ops := []Op{put(0, "x", "1", 200, 0, 10), put(0, "x", "2", 200, 11, 20), get(1, "x", 200, "1", 30, 40)}
	events := []Event{{Time: 25 * time.Millisecond, Node: "n1", Text: "KILL"}, {Time: time.Second, Text: "PARTITION HEALED"}}
	res := Check(History{Ops: ops, Events: events}, KV(), time.Second)
	got := res.Explain(events)
	for _, want := range []string{`key "x"`, `client 0 on n1: PUT /kv/x "2" → 200 [0.011s–0.020s, ok]`, `client 1 on n2: GET /kv/x → 200 "1" [0.030s–0.040s, ok]`, "meanwhile:\n  0.025s n1 KILL"} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "HEALED") {
		t.Errorf("explanation shows an event outside the operations' time:\n%s", got)
	}
	path := t.TempDir() + "/v.html"
	if err := res.Visualize(path); err != nil {
		t.Fatal(err)
	}
}

// TestSimplifyKeepsTheVerdict checks on random histories of a real
// linearizable store, with some answers lost, that leaving out the unknown
// writes nobody saw, and bounding those somebody saw, never changes the
// verdict.
func TestSimplifyKeepsTheVerdict(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		ops := randomHistory(rng, 12, round%3 == 0)
		full := KV()
		full.Simplify, full.Bound = nil, nil
		a := Check(History{Ops: ops}, full, 5*time.Second).Verdict
		b := Check(History{Ops: ops}, KV(), 5*time.Second).Verdict
		if a != b {
			t.Fatalf("round %d: %s in full, %s simplified:\n%v", round, a, b, ops)
		}
	}
}

// randomHistory simulates clients of one linearizable register at key "x"
// whose answers are sometimes lost; with corrupt, one read returns a value
// from the past.
func randomHistory(rng *rand.Rand, n int, corrupt bool) []Op {
	var ops []Op
	value, set := "", false
	var old []string
	t := 0
	for i := range n {
		c := rng.IntN(3)
		from := t
		t += 1 + rng.IntN(5)
		to := t
		if rng.IntN(2) == 0 {
			v := fmt.Sprint(i)
			status := 200
			switch rng.IntN(4) {
			case 0:
				status = 0
				if rng.IntN(2) == 0 { // lost before it was applied
					ops = append(ops, put(c, "x", v, status, from, to))
					continue
				}
			}
			if set {
				old = append(old, value)
			}
			value, set = v, true
			ops = append(ops, put(c, "x", v, status, from, to))
			continue
		}
		if corrupt && len(old) > 0 && rng.IntN(3) == 0 {
			ops = append(ops, get(c, "x", 200, old[rng.IntN(len(old))], from, to))
			continue
		}
		if !set {
			ops = append(ops, get(c, "x", 404, "", from, to))
			continue
		}
		ops = append(ops, get(c, "x", 200, value, from, to))
	}
	return ops
}

func TestRecorderKeepsEveryOperationInOrder(t *testing.T) {
	r := NewRecorder()
	const n = 3*chunkLen + 7
	for i := range n {
		r.Add(Op{Client: i % 3, Invoke: time.Duration(n - i)})
	}
	if r.Len() != n {
		t.Fatalf("Len %d, want %d", r.Len(), n)
	}
	h := r.History(func(op Op) bool { return op.Client == 1 }, nil)
	if len(h.Ops) != n/3 {
		t.Fatalf("%d operations of client 1, want %d", len(h.Ops), n/3)
	}
	for i := 1; i < len(h.Ops); i++ {
		if h.Ops[i].Invoke < h.Ops[i-1].Invoke {
			t.Fatalf("operation %d invoked before the one before it", i)
		}
	}
	ops := r.Ops(func(op Op) bool { return op.Client == 1 })
	if len(ops) != n/3 || ops[0].Invoke != time.Duration(n-1) {
		t.Fatalf("Ops: %d operations of client 1, the first invoked at %d; want %d, in the order recorded", len(ops), ops[0].Invoke, n/3)
	}
}
