package attest_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

func TestConcurrentlyCallsEveryIndexOnce(t *testing.T) {
	const n = 200
	var mu sync.Mutex
	seen := map[int]int{}
	res, _ := run(t, suite(1).Test("all", func(do *Do) {
		do.Concurrently(n, func(i int) {
			mu.Lock()
			seen[i]++
			mu.Unlock()
		})
	}), runtime(echo()))
	passes(t, res)
	for i := 1; i <= n; i++ {
		if seen[i] != 1 {
			t.Errorf("index %d called %d times", i, seen[i])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct indexes, want %d (1…%d)", len(seen), n, n)
	}
}

// TestConcurrentlyRespectsTheLimit measures the requests in flight on the
// server.
func TestConcurrentlyRespectsTheLimit(t *testing.T) {
	const limit = 4
	var inFlight, most atomic.Int32
	h := func(node string, w http.ResponseWriter, r *http.Request) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	res, _ := run(t, suite(1, WithConcurrencyLimit(limit)).Test("bounded", func(do *Do) {
		do.Concurrently(40, func(i int) {
			do.PUT(Node("n1"), fmt.Sprintf("/kv/k%d", i), "v").Status(Is(200)).Run()
		})
	}), runtime(h))
	passes(t, res)
	if m := most.Load(); m > limit || m < 2 {
		t.Errorf("at most %d requests in flight, want 2…%d", m, limit)
	}
}

func TestConcurrentlyRaisesTheFirstFailure(t *testing.T) {
	tests := []struct {
		name    string
		fn      func(do *Do) func(i int)
		panics  bool
		problem string
	}{
		{"failed check", func(do *Do) func(int) {
			return func(i int) {
				path := "/ok"
				if i == 7 {
					path = "/fail"
				}
				do.GET(Node("n1"), path).JSON("path", Is("/ok")).Run()
			}
		}, false, `GET /fail on n1: expected JSON "path" is "/ok", got "/fail"`},
		{"panic in a goroutine", func(do *Do) func(int) {
			return func(i int) {
				if i == 3 {
					var p *engine.Response
					_ = p.Status // nil dereference
				}
			}
		}, true, "concurrency_test.go:"},
		{"Fail in a goroutine", func(do *Do) func(int) {
			return func(i int) {
				if i == 5 {
					do.Failf("call %d gave up", i)
				}
			}
		}, false, "call 5 gave up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			after := false
			res, _ := run(t, suite(1).Test(tc.name, func(do *Do) {
				do.Concurrently(20, tc.fn(do))
				after = true
			}), runtime(echo()))
			f := failure(t, res)
			contains(t, "failure", f.Error(), tc.problem)
			var pe *engine.PanicError
			if got := errors.As(f, &pe); got != tc.panics {
				t.Errorf("failure is a panic: %v, want %v", got, tc.panics)
			}
			if after {
				t.Error("the test went on after Concurrently failed")
			}
		})
	}
}

// TestConcurrentlyStopsStartingCalls: with one call at a time, a failure
// of the first call means no other call starts.
func TestConcurrentlyStopsStartingCalls(t *testing.T) {
	var calls atomic.Int32
	res, _ := run(t, suite(1, WithConcurrencyLimit(1)).Test("stop", func(do *Do) {
		do.Concurrently(50, func(i int) {
			calls.Add(1)
			do.Failf("no")
		})
	}), runtime(echo()))
	failure(t, res)
	if c := calls.Load(); c != 1 {
		t.Errorf("%d calls after the first failed, want 1", c)
	}
}

func TestConcurrentlyLogsLatencies(t *testing.T) {
	res, events := run(t, suite(2).Test("log", func(do *Do) {
		do.Concurrently(10, func(i int) {
			do.GET(do.AllNodes(), "/x").Run()
			// Nested calls count towards the outer line.
			do.Concurrently(2, func(int) { do.GET(Node("n1"), "/y").Run() })
		})
		do.Concurrently(3, func(int) {})
	}), runtime(echo()))
	passes(t, res)
	var lines []string
	for _, e := range eventTexts(events) {
		if strings.Contains(e, "CONCURRENTLY") {
			lines = append(lines, e)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("CONCURRENTLY events = %q, want 4 (all, n1, n2, and the empty one)", lines)
	}
	for i, want := range []string{
		"** CONCURRENTLY: 40 req, 0.00% err · p50 ",
		"n1 CONCURRENTLY: 30 req, 0.00% err · p50 ",
		"n2 CONCURRENTLY: 10 req, 0.00% err · p50 ",
		"** CONCURRENTLY: 3 calls, 0 req",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("event %d = %q, want it to start with %q", i, lines[i], want)
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, " max ") }) {
		t.Errorf("no max latency in %q", lines)
	}
}

func TestConcurrentlyCountsErrors(t *testing.T) {
	res, events := run(t, suite(2).Test("errors", func(do *Do) {
		do.Kill("n2")
		do.Concurrently(4, func(i int) {
			do.GET(do.AllNodes("n1", "n2"), "/x").Exec() // n2 is down; ignore
		})
	}), runtime(echo()))
	passes(t, res)
	texts := eventTexts(events)
	for _, want := range []string{
		"** CONCURRENTLY: 8 req, 50.00% err · p50",
		"n2 CONCURRENTLY: 4 req, 100.00% err",
	} {
		if !slices.ContainsFunc(texts, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("no event starting %q in %q", want, texts)
		}
	}
}
