package attest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// counter answers /count with its status for the nth request (from 1).
func counter(n *atomic.Int32, status func(n int32) int) handlerFunc {
	return func(node string, w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.WriteHeader(status(i))
		fmt.Fprintf(w, "attempt %d", i)
	}
}

// TestEventuallyFirstAttemptIsImmediate: with a poll interval of an hour,
// only an immediate first attempt lets the run finish.
func TestEventuallyFirstAttemptIsImmediate(t *testing.T) {
	var n atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt := runtime(counter(&n, func(int32) int { return 200 }))
	res := suite(1, WithPollInterval(time.Hour), WithRetryTimeout(time.Hour)).Test("now", func(do *Do) {
		do.GET(Node("n1"), "/count").Eventually().Status(Is(200)).Run()
	}).Run(ctx, engine.RunOptions{Runtime: rt})
	passes(t, res)
	if got := n.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestEventuallyPassesOnceTheNodeChanges(t *testing.T) {
	var n atomic.Int32
	rt := runtime(counter(&n, func(i int32) int {
		if i < 4 {
			return 503
		}
		return 200
	}))
	var waits []engine.Wait
	rep := &recordingReporter{onWait: func(w engine.Wait) { waits = append(waits, w) }}
	res, _ := run(t, suite(1).Test("changes", func(do *Do) {
		do.GET(Node("n1"), "/count").Eventually(5 * time.Second).Status(Is(200)).Body(Is("attempt 4")).Run()
	}), rt, func(o *engine.RunOptions) { o.Reporter = rep })
	passes(t, res)
	if len(waits) != 3 {
		t.Fatalf("%d waits reported, want 3 (one after each failed attempt)", len(waits))
	}
	w := waits[2]
	if w.Test != "changes" || w.Timing != engine.TimingEventually || w.What != "GET /count on n1" ||
		w.Timeout != 5*time.Second || w.Left() <= 0 || w.Last == nil {
		t.Errorf("last wait = %+v", w)
	}
	if !(waits[0].Elapsed <= waits[1].Elapsed && waits[1].Elapsed <= waits[2].Elapsed) {
		t.Errorf("elapsed times go backwards: %v %v %v", waits[0].Elapsed, waits[1].Elapsed, waits[2].Elapsed)
	}
}

func TestEventuallyTimesOutWithTheLastFailure(t *testing.T) {
	var n atomic.Int32
	rt := runtime(counter(&n, func(int32) int { return 503 }))
	res, _ := run(t, suite(1).Test("never", func(do *Do) {
		do.GET(Node("n1"), "/count").Eventually(200 * time.Millisecond).Status(Is(200)).Hint("start faster").Run()
	}), rt)
	f := failure(t, res)
	if f.Timing != engine.TimingEventually || f.Timeout != 200*time.Millisecond {
		t.Errorf("Timing, Timeout = %v, %v", f.Timing, f.Timeout)
	}
	contains(t, "failure", f.Error(), "did not pass within 200ms; last: expected status is 200, got 503")
	last := fmt.Sprintf("attempt %d", n.Load())
	if n.Load() < 2 || f.Nodes[0].Body != last {
		t.Errorf("failure shows body %q after %d attempts; want the last attempt's", f.Nodes[0].Body, n.Load())
	}
	if f.Hint != "start faster" {
		t.Errorf("Hint = %q", f.Hint)
	}
}

func TestConsistently(t *testing.T) {
	tests := []struct {
		name   string
		status func(int32) int
		pass   bool
	}{
		{"holds", func(int32) int { return 200 }, true},
		{"fails midway", func(i int32) int {
			if i <= 3 {
				return 200
			}
			return 500
		}, false},
		{"fails at once", func(int32) int { return 500 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			timeout := 300 * time.Millisecond
			res, _ := run(t, suite(1).Test(tc.name, func(do *Do) {
				do.GET(Node("n1"), "/count").Consistently(timeout).Status(Is(200)).Run()
			}), runtime(counter(&n, tc.status)))
			if tc.pass {
				passes(t, res)
				if n.Load() < 2 {
					t.Errorf("%d attempts in %v", n.Load(), timeout)
				}
				return
			}
			f := failure(t, res)
			if f.Timing != engine.TimingConsistently || f.Held >= timeout {
				t.Errorf("Timing, Held = %v, %v", f.Timing, f.Held)
			}
			contains(t, "failure", f.Error(), "held for", "of 300ms; last: expected status is 200, got 500")
		})
	}
}

func TestFunctionEventually(t *testing.T) {
	var calls atomic.Int32
	var n atomic.Int32
	rt := runtime(counter(&n, func(i int32) int {
		if i < 3 {
			return 503
		}
		return 200
	}))
	res, _ := run(t, suite(1).Test("fn", func(do *Do) {
		do.Eventually(func() error {
			calls.Add(1)
			do.GET(Node("n1"), "/count").Status(Is(200)).Run() // panics until it passes
			return nil
		}, 2*time.Second)
	}), rt)
	passes(t, res)
	if calls.Load() != 3 {
		t.Errorf("fn called %d times, want 3", calls.Load())
	}
}

func TestFunctionRetries(t *testing.T) {
	notYet := errors.New("not yet")
	tests := []struct {
		name     string
		body     func(do *Do, calls *atomic.Int32)
		maxCalls int32  // at most this many calls (0: no bound)
		minCalls int32  // at least
		problem  string // "" when it passes
	}{
		{"error until it passes", func(do *Do, calls *atomic.Int32) {
			do.Eventually(func() error {
				if calls.Add(1) < 3 {
					return notYet
				}
				return nil
			})
		}, 3, 3, ""},
		{"times out with the last failure", func(do *Do, calls *atomic.Int32) {
			do.Eventually(func() error {
				calls.Add(1)
				do.GET(Node("n1"), "/count").Status(Is(201)).Run()
				return nil
			}, 100*time.Millisecond)
		}, 0, 2, "eventually: did not pass within 100ms; last: timing_test.go:"},
		{"permanent stops at once", func(do *Do, calls *atomic.Int32) {
			do.Eventually(func() error {
				calls.Add(1)
				return engine.Permanent(errors.New("give up"))
			})
		}, 1, 1, "eventually: give up"},
		{"a mistake in the suite stops at once", func(do *Do, calls *atomic.Int32) {
			do.Eventually(func() error {
				calls.Add(1)
				return do.Ops("x.star:1").Start("n9")
			})
		}, 1, 1, `x.star:1: start n9: no node named "n9"`},
		{"consistently holds", func(do *Do, calls *atomic.Int32) {
			do.Consistently(func() error {
				calls.Add(1)
				do.GET(Node("n1"), "/count").Status(Is(200)).Run()
				return nil
			}, 100*time.Millisecond)
		}, 0, 2, ""},
		{"consistently fails", func(do *Do, calls *atomic.Int32) {
			do.Consistently(func() error {
				if calls.Add(1) == 3 {
					return errors.New("changed")
				}
				return nil
			}, time.Second)
		}, 3, 3, "consistently: held for"},
		{"bad timeout", func(do *Do, calls *atomic.Int32) {
			do.Eventually(func() error { return nil }, -time.Second)
		}, 0, 0, "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls, n atomic.Int32
			rt := runtime(counter(&n, func(int32) int { return 200 }))
			res, _ := run(t, suite(1).Test(tc.name, func(do *Do) { tc.body(do, &calls) }), rt)
			if tc.problem == "" {
				passes(t, res)
			} else {
				contains(t, "failure", failure(t, res).Error(), tc.problem)
			}
			if c := calls.Load(); c < tc.minCalls || tc.maxCalls > 0 && c > tc.maxCalls {
				t.Errorf("fn called %d times, want %d to %d", c, tc.minCalls, tc.maxCalls)
			}
		})
	}
}

func TestFunctionEventuallyLetsRealPanicsThrough(t *testing.T) {
	var calls atomic.Int32
	res, _ := run(t, suite(1).Test("panic", func(do *Do) {
		do.Eventually(func() error {
			calls.Add(1)
			var m map[string]int
			m["x"] = 1
			return nil
		})
	}), runtime(echo()))
	f := failure(t, res)
	var pe *engine.PanicError
	if !errors.As(f, &pe) {
		t.Fatalf("failure %v is not a panic", f)
	}
	if calls.Load() != 1 {
		t.Errorf("a real panic was retried: %d calls", calls.Load())
	}
	if !strings.HasPrefix(f.Pos, "timing_test.go:") {
		t.Errorf("Pos = %q, want the line that panicked", f.Pos)
	}
}

// recordingReporter records what a run reports.
type recordingReporter struct {
	mu     sync.Mutex // guards log
	log    []string
	onWait func(engine.Wait)
}

func (r *recordingReporter) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *recordingReporter) Step(text string)        { r.add("step " + text) }
func (r *recordingReporter) TestStarted(name string) { r.add("start " + name) }
func (r *recordingReporter) TestFinished(tr engine.TestResult) {
	r.add(fmt.Sprintf("finish %s %v", tr.Name, tr.Status))
}
func (r *recordingReporter) Waiting(w engine.Wait) {
	if r.onWait != nil {
		r.onWait(w)
	}
}

var _ engine.Reporter = (*recordingReporter)(nil)
