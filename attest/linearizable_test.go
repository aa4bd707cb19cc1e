package attest_test

import (
	"fmt"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// TestCheckLinearizableStartsFromTheRunsPast checks a second history on
// the keys of a first: its reads see what the first test and the test's
// own requests wrote, which a check from an empty store would call
// values from nowhere.
func TestCheckLinearizableStartsFromTheRunsPast(t *testing.T) {
	res, events := run(t, suite(3).
		Test("writes", func(do *Do) {
			h := do.Clients(3, func(do *Do, i int) {
				do.Send("PUT", "n1", fmt.Sprintf("/kv/k%d", i), fmt.Sprintf("w-%d-%d", i, do.Rand().Int()))
			}, ClientOptions{Ops: 5})
			do.CheckLinearizable(h, history.KV(), 0)
		}).
		Test("reads", func(do *Do) {
			do.Send("PUT", "n2", "/kv/k0", "the test's own")
			h := do.Clients(3, func(do *Do, i int) {
				do.Fetch(fmt.Sprintf("n%d", i+1), fmt.Sprintf("/kv/k%d", i))
			}, ClientOptions{Ops: 5})
			for _, op := range h.Ops {
				if op.Status != 200 {
					t.Errorf("read %s: want what the run wrote before", op)
				}
			}
			do.CheckLinearizable(h, history.KV(), 0)
		}), replicated(0))
	passes(t, res)
	contains(t, "events", fmt.Sprint(events), "+3 earlier writes")
}

// TestCheckLinearizableWithNothingToCheck checks that a history the model
// cannot judge is the suite's error (exit status 2), saying why.
func TestCheckLinearizableWithNothingToCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(do *Do, i int)
		want string
	}{
		{"empty", func(*Do, int) {}, "the history has no operations"},
		{"a typo in the path", func(do *Do, i int) { do.Fetch("n1", "/kvv/k1") },
			"the history has 6 operations and none completed in a way model kv can judge: 6 outside the model's contract (such as GET /kvv/k1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := run(t, suite(1).Test("nothing", func(do *Do) {
				h := do.Clients(2, tc.fn, ClientOptions{Ops: 3, Duration: time.Second})
				do.CheckLinearizable(h, history.KV(), 0)
			}), replicated(0))
			if v := res.Verdict(); v != engine.VerdictError {
				t.Fatalf("verdict %v, want %v", v, engine.VerdictError)
			}
			contains(t, "error", res.FirstError().Error(), "nothing to check: "+tc.want)
		})
	}
}
