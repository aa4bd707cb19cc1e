package history

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// simulate returns a history of n operations by clients concurrent
// clients on keys keys of a linearizable store: each operation takes
// effect at a random point between its invocation and completion, reads
// return what the store held then, and a fraction lost of the answers
// never arrive (the operation is unknown; a lost write took effect half
// of the time).
func simulate(rng *rand.Rand, n, clients, keys int, lost float64) []Op {
	type pending struct {
		op    Op
		point time.Duration
		apply bool
	}
	var ps []pending
	clock := make([]time.Duration, clients)
	for i := range n {
		c := i % clients
		invoke := clock[c] + time.Duration(rng.IntN(200))*time.Microsecond
		complete := invoke + time.Duration(100+rng.IntN(2000))*time.Microsecond
		clock[c] = complete
		key := fmt.Sprintf("/kv/k%d", rng.IntN(keys))
		op := Op{Client: c, Node: "n1", Path: key, Invoke: invoke, Complete: complete}
		if rng.IntN(2) == 0 {
			op.Method, op.Body = "PUT", fmt.Sprintf("v%d", i)
		} else {
			op.Method = "GET"
		}
		point := invoke + time.Duration(rng.Int64N(int64(complete-invoke)+1))
		apply := true
		if rng.Float64() < lost {
			op.Outcome = Unknown
			apply = rng.IntN(2) == 0
		}
		ps = append(ps, pending{op, point, apply})
	}
	slices.SortFunc(ps, func(a, b pending) int { return cmp.Compare(a.point, b.point) })
	store := map[string]string{}
	ops := make([]Op, 0, n)
	for _, p := range ps {
		op := p.op
		switch {
		case op.Method == "PUT" && p.apply:
			store[op.Path] = op.Body
		case op.Method == "GET":
			v, ok := store[op.Path]
			op.Status, op.Response = 200, v
			if !ok {
				op.Status, op.Response = 404, "key not found"
			}
		}
		if op.Outcome == Unknown {
			op.Status, op.Response = 0, ""
		} else {
			if op.Status == 0 {
				op.Status = 200
			}
			op.Outcome = OutcomeOf(op.Status)
		}
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b Op) int { return cmp.Compare(a.Invoke, b.Invoke) })
	return ops
}

// BenchmarkCheckKV checks simulated histories of a correct store, 10
// clients, 5 % of answers lost. The goal: 10 000 operations over 10 keys
// in under a second.
func BenchmarkCheckKV(b *testing.B) {
	for _, tc := range []struct{ ops, keys int }{
		{10_000, 10}, {100_000, 10}, {300_000, 10}, {1_000_000, 10}, {1_000_000, 100},
		{3_000, 1}, {5_000, 1}, {10_000, 1},
	} {
		b.Run(fmt.Sprintf("ops=%d/keys=%d", tc.ops, tc.keys), func(b *testing.B) {
			h := History{Ops: simulate(rand.New(rand.NewPCG(1, uint64(tc.ops))), tc.ops, 10, tc.keys, 0.05)}
			cpu := cpuTime()
			for b.Loop() {
				if res := Check(h, KV(), time.Minute); res.Verdict != Linearizable {
					b.Fatalf("verdict %s on a correct store's history", res.Verdict)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/check")
		})
	}
}

// BenchmarkCheckKVAfter checks the last 10 000 operations of a simulated
// run of a correct store after the run's earlier ones, as a history of a
// later test is checked. The goal is BenchmarkCheckKV's for 10 000
// operations: whatever came before, under a second.
func BenchmarkCheckKVAfter(b *testing.B) {
	for _, before := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("before=%d/ops=10000/keys=10", before), func(b *testing.B) {
			ops := simulate(rand.New(rand.NewPCG(2, uint64(before))), before+10_000, 10, 10, 0.05)
			other, h := ops[:before], History{Ops: ops[before:]}
			cpu := cpuTime()
			for b.Loop() {
				if res := CheckAfter(other, h, KV(), time.Minute); res.Verdict != Linearizable {
					b.Fatalf("verdict %s on a correct store's history", res.Verdict)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/check")
		})
	}
}

func TestSimulatedHistoriesAreLinearizable(t *testing.T) {
	for seed := range uint64(5) {
		ops := simulate(rand.New(rand.NewPCG(seed, 7)), 500, 8, 3, 0.1)
		if res := Check(History{Ops: ops}, KV(), 10*time.Second); res.Verdict != Linearizable {
			t.Fatalf("seed %d: %s\n%s", seed, res.Verdict, res.Explain(nil))
		}
		// A read that returns the value before the last write it follows
		// in real time breaks it.
		for i := len(ops) - 1; i > 0; i-- {
			if ops[i].Method == "GET" && ops[i].Status == 200 {
				ops[i].Response = "never written"
				break
			}
		}
		if res := Check(History{Ops: ops}, KV(), 10*time.Second); res.Verdict != NotLinearizable {
			t.Fatalf("seed %d: a read of a value never written passes: %s", seed, res.Verdict)
		}
	}
}
