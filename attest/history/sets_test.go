package history

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// ms10 is a time of a hand-made history, in tens of milliseconds.
func ms10(n int) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

// bcast is POST /broadcast of message m on node, from..to.
func bcast(node string, m int, status, from, to int) Op {
	return Op{Client: 0, Node: node, Method: "POST", Path: "/broadcast", Body: fmt.Sprintf(`{"message": %d}`, m),
		Status: status, Invoke: ms10(from), Complete: ms10(to), Outcome: OutcomeOf(status)}
}

// readSet is GET /read on node answering the messages ms, from..to.
func readSet(node string, from, to int, ms ...int) Op {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprint(m)
	}
	return Op{Client: 1, Node: node, Method: "GET", Path: "/read", Status: 200,
		Response: `{"messages": [` + strings.Join(parts, ",") + `]}`, Invoke: ms10(from), Complete: ms10(to), Outcome: OK}
}

func TestCheckSet(t *testing.T) {
	tests := []struct {
		name    string
		earlier []Op
		ops     []Op
		within  time.Duration
		valid   bool
		count   func(SetResult) int // the list that must hold one element
		explain []string            // what the explanation must say
	}{
		{name: "every node shows every message", valid: true, ops: []Op{
			bcast("n1", 1, 200, 0, 1), bcast("n2", 2, 200, 1, 2),
			readSet("n1", 3, 4, 1), readSet("n2", 3, 4, 1, 2),
			readSet("n1", 10, 11, 1, 2), readSet("n2", 10, 11, 2, 1),
		}},
		{name: "a message acknowledged and never shown is lost", ops: []Op{
			bcast("n1", 1, 200, 0, 1), bcast("n2", 2, 200, 1, 2),
			readSet("n1", 10, 11, 1), readSet("n2", 10, 11, 1),
		}, count: func(r SetResult) int { return len(r.Lost) },
			explain: []string{"1 message lost", "message 2, acknowledged by n2 at 0.020s", "n1 (read at 0.110s), n2 (read at 0.110s)"}},
		{name: "a message on some nodes only is stale", ops: []Op{
			bcast("n1", 1, 200, 0, 1),
			readSet("n1", 10, 11, 1), readSet("n2", 10, 11), readSet("n3", 10, 11, 1),
		}, count: func(r SetResult) int { return len(r.Stale) },
			explain: []string{"shown by n1 n3, missing from the last read of n2 (read at 0.110s)"}},
		{name: "a message that comes and goes is unstable", ops: []Op{
			bcast("n1", 1, 200, 0, 1),
			readSet("n1", 2, 3, 1), readSet("n1", 4, 5), readSet("n1", 10, 11, 1),
		}, count: func(r SetResult) int { return len(r.Unstable) },
			explain: []string{"n1 showed it at 0.030s, then its read at 0.050s did not"}},
		{name: "concurrent reads may disagree", valid: true, ops: []Op{
			bcast("n1", 1, 200, 0, 1),
			readSet("n1", 2, 6, 1), readSet("n1", 3, 4), readSet("n1", 10, 11, 1),
		}},
		{name: "a message no one broadcast is unexpected", ops: []Op{
			bcast("n1", 1, 200, 0, 1),
			readSet("n1", 10, 11, 1, 99),
		}, count: func(r SetResult) int { return len(r.Unexpected) },
			explain: []string{"message 99: shown by n1"}},
		{name: "a refused broadcast must not show", ops: []Op{
			bcast("n1", 1, 200, 0, 1), bcast("n1", 7, 400, 0, 1),
			readSet("n1", 10, 11, 1, 7),
		}, count: func(r SetResult) int { return len(r.Unexpected) },
			explain: []string{"its add was refused"}},
		{name: "earlier messages may show", valid: true, earlier: []Op{bcast("n1", 7, 200, 0, 1)}, ops: []Op{
			bcast("n1", 1, 200, 2, 3),
			readSet("n1", 10, 11, 1, 7),
		}},
		{name: "an earlier message must still show", earlier: []Op{{Test: "first", Node: "n1", Method: "POST", Path: "/broadcast", Body: `{"message": 7}`, Status: 200, Complete: ms10(1), Outcome: OK}}, ops: []Op{
			bcast("n1", 1, 200, 2, 3),
			readSet("n1", 10, 11, 1, 7), readSet("n2", 10, 11, 1),
		}, count: func(r SetResult) int { return len(r.Stale) },
			explain: []string{`message 7, acknowledged by n1 at 0.010s (in test "first", before this history): shown by n1, missing from the last read of n2`}},
		{name: "a broadcast without an answer may or may not land", valid: true, ops: []Op{
			bcast("n1", 1, 200, 0, 1), bcast("n1", 2, 0, 0, 50), bcast("n1", 3, 503, 0, 1),
			readSet("n1", 10, 11, 1, 3), readSet("n2", 10, 11, 1, 3),
		}},
		{name: "a broadcast without an answer that one node showed must reach all", ops: []Op{
			bcast("n1", 1, 200, 0, 1), bcast("n1", 3, 503, 0, 1),
			readSet("n1", 10, 11, 1, 3), readSet("n2", 10, 11, 1),
		}, count: func(r SetResult) int { return len(r.Stale) },
			explain: []string{"message 3, whose add on n1 (0.000s) had no answer but which a read showed"}},
		{name: "a message acknowledged after the last read is never read", valid: true, ops: []Op{
			bcast("n1", 1, 200, 0, 1), readSet("n1", 10, 11, 1), bcast("n1", 2, 200, 20, 21),
		}, count: func(r SetResult) int { return len(r.NeverRead) }},
		{name: "a slow message is late", within: 50 * time.Millisecond, ops: []Op{
			bcast("n1", 1, 200, 0, 1),
			readSet("n1", 1, 2, 1), readSet("n2", 2, 3), readSet("n2", 20, 21, 1),
		}, count: func(r SetResult) int { return len(r.Late) },
			explain: []string{"slower than 50ms", "on every node only 200ms later"}},
		{name: "an answer that is not a list of messages", ops: []Op{
			bcast("n1", 1, 200, 0, 1), readSet("n1", 10, 11, 1),
			{Node: "n2", Method: "GET", Path: "/read", Status: 200, Response: `{"messages": "1"}`, Invoke: ms10(10), Complete: ms10(11), Outcome: OK},
		}, count: func(r SetResult) int { return len(r.Malformed) },
			explain: []string{`field "messages" is not a list of integers`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckSet(tc.earlier, History{Ops: tc.ops}, Broadcast, tc.within)
			if res.Valid() != tc.valid {
				t.Fatalf("valid = %v, want %v:\n%s", res.Valid(), tc.valid, res.Explain(Broadcast))
			}
			if tc.count != nil && tc.count(res) != 1 {
				t.Errorf("want one element in the case's list: %s", res.Summary())
			}
			text := res.Explain(Broadcast)
			for _, want := range tc.explain {
				if !strings.Contains(text, want) {
					t.Errorf("the explanation does not say %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestCheckSetLatency(t *testing.T) {
	var (
		all []int
		ops []Op
	)
	for m := range 20 {
		all = append(all, m)
		// Message m shows on n1 as it is acknowledged, on n2 m×10ms later.
		ops = append(ops, bcast("n1", m, 200, m, m+1), readSet("n1", m+1, m+1, all...), readSet("n2", 2*m+1, 2*m+1, all...))
	}
	ops = append(ops, readSet("n1", 100, 100, all...), readSet("n2", 100, 100, all...))
	res := CheckSet(nil, History{Ops: ops}, Broadcast, 0)
	if !res.Valid() || res.Stable != 20 {
		t.Fatalf("%s\n%s", res.Summary(), res.Explain(Broadcast))
	}
	if l := res.Latency; l.Median != ms10(10) || l.Max != ms10(19) || l.Slowest != 19 || l.N != 20 {
		t.Errorf("latency %+v; want median 100ms, max 190ms for message 19", l)
	}
	if s := res.Summary(); !strings.Contains(s, "max 190ms (message 19)") {
		t.Errorf("summary %q", s)
	}
}

func TestScanInts(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{in: `{"messages": [1, 2, -3]}`, want: "[1 2 -3]"},
		{in: "{\"messages\":[]}\n", want: "[]"},
		{in: `{ "messages" : [ 42 ] }`, want: "[42]"},
		// The slow path: other fields, floats that are integers.
		{in: `{"type": "read_ok", "messages": [1, 2]}`, want: "[1 2]"},
		{in: `{"messages": [1.5]}`, err: true},
		{in: `{"messages": null}`, want: "[]"},
		{in: `{"msgs": [1]}`, err: true},
		{in: `[1, 2]`, err: true},
		{in: `{"messages": [1, 2]} trailing`, err: true},
		{in: `{"messages": [123456789012345678901234]}`, err: true},
	}
	for _, tc := range tests {
		got, err := jsonInts(tc.in, "messages")
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && fmt.Sprint(got) != tc.want {
			t.Errorf("%s: %v, want %s", tc.in, got, tc.want)
		}
	}
}

// gossipHistory simulates broadcasts and reads on nodes: each message
// reaches each node after a random delay; one in lostEvery messages (0:
// none) never reaches n2.
func gossipHistory(rng *rand.Rand, reads, nodes, messages, lostEvery int) History {
	var h History
	arrive := make([][]time.Duration, nodes)
	step := 10 * time.Millisecond
	for m := range messages {
		at := time.Duration(m) * step
		h.Ops = append(h.Ops, Op{Node: "n1", Method: "POST", Path: "/broadcast", Body: fmt.Sprintf(`{"message": %d}`, m),
			Status: 200, Invoke: at, Complete: at + time.Millisecond, Outcome: OK})
		for n := range nodes {
			d := at + time.Duration(rng.IntN(200))*time.Millisecond
			if lostEvery > 0 && n == 1 && m%lostEvery == 0 {
				d = time.Hour
			}
			arrive[n] = append(arrive[n], d)
		}
	}
	end := time.Duration(messages)*step + time.Second
	for i := range reads {
		n := i % nodes
		at := end * time.Duration(i) / time.Duration(reads)
		if i >= reads-nodes {
			at = end
		}
		var b strings.Builder
		b.WriteString(`{"messages": [`)
		first := true
		for m, a := range arrive[n] {
			if a < at {
				if !first {
					b.WriteByte(',')
				}
				first = false
				fmt.Fprint(&b, m)
			}
		}
		b.WriteString("]}")
		h.Ops = append(h.Ops, Op{Node: fmt.Sprintf("n%d", n+1), Method: "GET", Path: "/read", Status: 200,
			Response: b.String(), Invoke: at, Complete: at + time.Millisecond, Outcome: OK})
	}
	h.Sort()
	return h
}

func TestCheckSetOnSimulatedGossip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	res := CheckSet(nil, gossipHistory(rng, 2000, 5, 300, 0), Broadcast, 0)
	if !res.Valid() || res.Stable != 300 {
		t.Fatalf("%s", res.Explain(Broadcast))
	}
	res = CheckSet(nil, gossipHistory(rng, 2000, 5, 300, 50), Broadcast, 0)
	if res.Valid() || len(res.Stale) != 6 {
		t.Fatalf("want 6 stale messages: %s", res.Summary())
	}
	if text := res.Explain(Broadcast); !strings.Contains(text, "missing from the last read of n2") {
		t.Errorf("explanation:\n%s", text)
	}
}

// BenchmarkCheckSet checks a history of 100 000 reads of five nodes, each
// answering up to 200 messages, as a gossip stage's clients would make.
func BenchmarkCheckSet(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := gossipHistory(rng, 100_000, 5, 200, 0)
	b.ResetTimer()
	for b.Loop() {
		if res := CheckSet(nil, h, Broadcast, 0); !res.Valid() {
			b.Fatal(res.Summary())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
	b.ReportMetric(100_000, "reads")
}

// TestCheckSetLongReads checks that the reads of a set too large for 8 KiB
// are kept whole by a recorder, and judged, until the run's budget of long
// bodies is spent; past it the check says why it cannot read them.
func TestCheckSetLongReads(t *testing.T) {
	var all []int
	for m := range 3000 {
		all = append(all, 1_000_000+m)
	}
	r := NewRecorder()
	keep := func(op Op) Op {
		op.Response = r.Keep(op.Response)
		return op
	}
	judge := func() SetResult {
		var ops []Op
		for _, m := range all {
			ops = append(ops, bcast("n1", m, 200, 0, 1))
		}
		ops = append(ops, keep(readSet("n1", 2, 3, all...)), keep(readSet("n2", 2, 3, all...)))
		return CheckSet(nil, History{Ops: ops}, Broadcast, 0)
	}
	if long := len(readSet("n1", 0, 0, all...).Response); long <= clipAt {
		t.Fatalf("a read of %d bytes: the test needs one over %d", long, clipAt)
	}
	if res := judge(); !res.Valid() || res.Stable != len(all) {
		t.Fatalf("reads kept whole: %s\n%s", res.Summary(), res.Explain(Broadcast))
	}

	r.long.Store(0) // the run's budget is spent
	res := judge()
	if res.Valid() || len(res.Malformed) != 2 || !strings.Contains(res.Explain(Broadcast), "64 MiB") {
		t.Fatalf("reads clipped: %s\n%s", res.Summary(), res.Explain(Broadcast))
	}
	if r.Keep("short") != "short" {
		t.Error("a short body is clipped once the budget is spent")
	}
}
