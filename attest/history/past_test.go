package history

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// in names the test that made ops.
func in(test string, ops ...Op) []Op {
	out := slices.Clone(ops)
	for i := range out {
		out[i].Test = test
	}
	return out
}

func TestCheckAfterStartsWhereTheRunLeftTheKeys(t *testing.T) {
	tests := []struct {
		name   string
		before []Op // the run's operations outside the history
		h      []Op
		want   Verdict
		// explain holds what the failure's explanation must say.
		explain []string
	}{
		{"a read of a value acknowledged before", in("first", put(3, "k1", "v-5392", 200, 0, 10)),
			in("second", get(0, "k1", 200, "v-5392", 80, 90)), Linearizable, nil},
		{"a 404 after an acknowledged write before", in("first", put(3, "k1", "v-1", 200, 0, 10)),
			in("second", get(0, "k1", 404, "key not found", 80, 90)), NotLinearizable,
			[]string{`PUT /kv/k1 "v-1" → 200 [0.000s–0.010s, ok] (test "first", not in this history)`}},
		{"a read of a value overwritten before", in("first", put(3, "k1", "v-1", 200, 0, 10), put(2, "k1", "v-2", 200, 20, 30)),
			in("second", get(0, "k1", 200, "v-1", 80, 90)), NotLinearizable,
			[]string{`"v-1" was written at 0.000s by client 3 in test "first", before this history began, and overwritten before it began by client 2's PUT /kv/k1, acknowledged at 0.030s ("v-2").`}},
		{"a read of a value written before, after the history overwrote it", in("first", put(3, "k1", "v-1", 200, 0, 10)),
			in("second", put(0, "k1", "v-2", 200, 50, 60), get(1, "k1", 200, "v-1", 80, 90)), NotLinearizable,
			[]string{`"v-1" was written at 0.000s by client 3 in test "first", before this history began.`}},
		{"either of two concurrent writes before", in("first", put(3, "k1", "v-1", 200, 0, 10), put(2, "k1", "v-2", 200, 5, 30)),
			in("second", get(0, "k1", 200, "v-1", 80, 90)), Linearizable, nil},
		{"an unknown write before may land during the history", in("first", put(3, "k1", "v-1", 200, 0, 10), put(2, "k1", "v-2", 0, 20, 30)),
			in("second", get(0, "k1", 200, "v-1", 80, 90), get(0, "k1", 200, "v-2", 100, 110)), Linearizable, nil},
		{"a failed write before never lands", in("first", put(3, "k1", "v-1", 200, 0, 10), put(2, "k1", "v-2", 307, 20, 30)),
			in("second", get(0, "k1", 200, "v-2", 100, 110)), NotLinearizable, nil},
		{"reads before do not count", in("first", put(3, "k1", "v-1", 200, 0, 10), get(2, "k1", 200, "bogus", 20, 30)),
			in("second", get(0, "k1", 200, "v-1", 80, 90)), Linearizable, nil},
		{"a clear before empties the history's keys", in("first", put(3, "k1", "v-1", 200, 0, 10), put(3, "k2", "v-2", 200, 0, 10), del(3, "/clear", 200, 20, 30)),
			in("second", get(0, "k1", 404, "key not found", 80, 90), get(0, "k2", 404, "key not found", 80, 90)), Linearizable, nil},
		{"a write after a clear before", in("first", del(3, "/clear", 200, 0, 10), put(3, "k2", "v-2", 200, 20, 30)),
			in("second", get(0, "k1", 404, "key not found", 80, 90), get(0, "k2", 200, "v-2", 80, 90)), Linearizable, nil},
		{"a write of another test while the history runs", in("other", put(3, "k1", "v-9", 200, 50, 60)),
			in("second", put(0, "k1", "v-1", 200, 10, 20), get(1, "k1", 200, "v-9", 80, 90)), Linearizable, nil},
		{"other keys do not matter", in("first", put(3, "k9", "v-1", 200, 0, 10)),
			in("second", get(0, "k1", 404, "key not found", 80, 90)), Linearizable, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckAfter(tc.before, History{Ops: tc.h}, KV(), 5*time.Second)
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s\n%s", res.Verdict, tc.want, res.Explain(nil))
			}
			got := res.Explain(nil)
			for _, want := range tc.explain {
				if !strings.Contains(got, want) {
					t.Errorf("the explanation lacks %q:\n%s", want, got)
				}
			}
		})
	}
}

// TestCheckAfterNeverFailsALinearizableRun cuts simulated runs of a
// correct store, with lost answers, into a history and what came before
// and beside it: the history must check as linearizable, and a history
// that reads what only the rest of the run wrote must fail without it.
func TestCheckAfterNeverFailsALinearizableRun(t *testing.T) {
	failsAlone := 0
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 11))
		ops := simulate(rng, 400, 6, 2, 0.1)
		cut := ops[len(ops)/2].Invoke
		var h, other []Op
		for _, op := range ops {
			// The history is the second half of clients 0 … 3; the rest
			// of the run is before it and, for clients 4 and 5, beside it.
			if op.Invoke >= cut && op.Client < 4 {
				h = append(h, op)
			} else {
				other = append(other, op)
			}
		}
		if res := CheckAfter(other, History{Ops: h}, KV(), 10*time.Second); res.Verdict != Linearizable {
			t.Fatalf("seed %d: %s\n%s", seed, res.Verdict, res.Explain(nil))
		}
		if Check(History{Ops: h}, KV(), 10*time.Second).Verdict == NotLinearizable {
			failsAlone++
		}
	}
	if failsAlone == 0 {
		t.Errorf("no history failed alone: the runs never read what came before them, so this test shows nothing")
	}
}

func TestNothingToCheck(t *testing.T) {
	typo := func(c int) Op { return op(c, http.MethodGet, "/kvv/k1", "", 404, "not found", c*10, c*10+5) }
	tests := []struct {
		name string
		ops  []Op
		why  []string
	}{
		{"empty", nil, []string{"no operations"}},
		{"every path outside the contract", []Op{typo(0), typo(1), typo(2), typo(3), typo(4), typo(5)},
			[]string{"6 operations", "6 outside the model's contract (such as GET /kvv/k1): model kv judges GET, PUT and DELETE of /kv/{key}, and DELETE /clear"}},
		{"nothing applied or answered", []Op{put(0, "k", "1", 307, 0, 5), get(1, "k", 0, "", 0, 5), put(2, "k", "2", 503, 0, 5)},
			[]string{"3 operations", "2 not applied", "1 without a known outcome"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(History{Ops: tc.ops}, KV(), time.Second)
			if res.Verdict != NothingChecked {
				t.Fatalf("verdict %s, want %s", res.Verdict, NothingChecked)
			}
			for _, want := range tc.why {
				if !strings.Contains(res.Why(), want) {
					t.Errorf("Why() lacks %q: %s", want, res.Why())
				}
			}
		})
	}
}

func TestIgnoredOperationsAreCounted(t *testing.T) {
	ops := []Op{
		put(0, "k", "1", 200, 0, 5), get(1, "k", 200, "1", 10, 15),
		op(1, http.MethodGet, "/kvv/k", "", 404, "", 20, 25), op(1, http.MethodGet, "/kvv/k", "", 404, "", 30, 35),
	}
	res := Check(History{Ops: ops}, KV(), time.Second)
	if res.Verdict != Linearizable || res.Ignored != 2 {
		t.Fatalf("verdict %s, %d ignored; want linearizable, 2 ignored", res.Verdict, res.Ignored)
	}
	if want := "2 ignored, outside the model's contract (GET /kvv/k, …)"; !strings.Contains(res.Summary(), want) {
		t.Errorf("the summary lacks %q: %s", want, res.Summary())
	}
	ops = append(ops, get(1, "k", 200, "2", 40, 45))
	if res := Check(History{Ops: ops}, KV(), time.Second); !strings.Contains(res.Explain(nil), "2 ignored") {
		t.Errorf("the explanation does not count the ignored operations:\n%s", res.Explain(nil))
	}
}

func TestRegisterStartsFromItsPathsPast(t *testing.T) {
	w := func(c int, path, v string, from, to int) Op { return op(c, http.MethodPut, path, v, 200, "", from, to) }
	r := func(c int, path string, status int, v string, from, to int) Op {
		return op(c, http.MethodGet, path, "", status, v, from, to)
	}
	before := []Op{w(0, "/r", "a", 0, 5), w(0, "/other", "b", 10, 15), op(0, http.MethodDelete, "/r2", "", 200, "", 0, 5)}
	for _, tc := range []struct {
		name string
		h    []Op
		want Verdict
	}{
		{"its own path", []Op{r(1, "/r", 200, "a", 20, 25)}, Linearizable},
		{"another path's write does not count", []Op{r(1, "/r", 200, "b", 20, 25)}, NotLinearizable},
		{"a delete empties it", []Op{r(1, "/r2", 404, "", 20, 25)}, Linearizable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckAfter(before, History{Ops: tc.h}, Register(), time.Second).Verdict; got != tc.want {
				t.Fatalf("verdict %s, want %s", got, tc.want)
			}
		})
	}
}
