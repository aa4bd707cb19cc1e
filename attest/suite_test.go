package attest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

func statuses(res *engine.Result) []string {
	var out []string
	for _, t := range res.Tests {
		out = append(out, t.Name+"="+t.Status.String())
	}
	return out
}

func TestRunOrderAndFirstFailureStops(t *testing.T) {
	var order []string
	rep := &recordingReporter{}
	s := suite(1).
		Setup(func(do *Do) { order = append(order, "setup1") }).
		Setup(func(do *Do) { order = append(order, "setup2") }).
		Test("a", func(do *Do) { order = append(order, "a") }).
		Test("b", func(do *Do) {
			order = append(order, "b")
			do.GET(Node("n1"), "/x").Status(Is(500)).Run()
			order = append(order, "after the failure")
		}).
		Test("c", func(do *Do) { order = append(order, "c") })
	res, events := run(t, s, runtime(echo()), func(o *engine.RunOptions) { o.Reporter = rep })
	if want := []string{"setup1", "setup2", "a", "b"}; !slices.Equal(order, want) {
		t.Errorf("ran %v, want %v", order, want)
	}
	if got, want := statuses(res), []string{"a=passed", "b=failed", "c=not run"}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if res.Err != nil || res.Verdict() != engine.VerdictFail || res.Verdict().String() != "fail" || res.Passed() {
		t.Errorf("Err, Verdict, Passed = %v, %v, %v", res.Err, res.Verdict(), res.Passed())
	}
	if res.Tests[1].Duration <= 0 || res.Duration < res.Tests[1].Duration {
		t.Errorf("durations: test %v, run %v", res.Tests[1].Duration, res.Duration)
	}
	want := []string{"n1 START", "** CLUSTER READY", "** TEST: a", "** TEST: b"}
	if got := eventTexts(events); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	wantRep := []string{"step starting 1 node(s)", "step waiting for GET /health", "step setup", "step setup",
		"start a", "finish a passed", "start b", "finish b failed", "step closing the cluster"}
	if !slices.Equal(rep.log, wantRep) {
		t.Errorf("reported %q, want %q", rep.log, wantRep)
	}
}

func TestFilter(t *testing.T) {
	var ran []string
	s := suite(1).
		Setup(func(do *Do) { ran = append(ran, "setup") }).
		Test("alpha", func(do *Do) { ran = append(ran, "alpha") }).
		Test("beta", func(do *Do) { ran = append(ran, "beta") }).
		Test("bravo", func(do *Do) { ran = append(ran, "bravo") })
	res, _ := run(t, s, runtime(echo()), func(o *engine.RunOptions) { o.Filter = regexp.MustCompile("^b") })
	passes(t, res)
	if want := []string{"setup", "beta", "bravo"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if got, want := statuses(res), []string{"alpha=skipped", "beta=passed", "bravo=passed"}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func TestSetupFailureStopsTheRun(t *testing.T) {
	s := suite(1).
		Setup(func(do *Do) { do.Failf("no data") }).
		Test("a", func(do *Do) { t.Error("a test ran after a failed setup") })
	res, _ := run(t, s, runtime(echo()))
	var f *engine.Failure
	if !errors.As(res.Err, &f) || f.Test != "setup" {
		t.Fatalf("Err = %v, want a setup failure", res.Err)
	}
	contains(t, "error", res.Err.Error(), "setup: suite_test.go:", "no data")
	if res.Tests[0].Status != engine.TestNotRun || res.Verdict() != engine.VerdictFail {
		t.Errorf("status %v, verdict %v", res.Tests[0].Status, res.Verdict())
	}
}

func TestPanicsBecomeFailures(t *testing.T) {
	tests := []struct {
		name    string
		body    func(do *Do)
		verbose bool
		want    []string
		stack   bool
	}{
		{"nil map", func(do *Do) {
			var m map[string]int
			m["x"] = 1
		}, false, []string{"suite_test.go:", "panic: assignment to entry in nil map"}, false},
		{"string, as the seed does", func(do *Do) {
			panic("n1 is down")
		}, false, []string{"panic: n1 is down"}, false},
		{"verbose adds a stack", func(do *Do) {
			var p *engine.Response
			_ = p.Body
		}, true, []string{"nil pointer dereference"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := run(t, suite(1).Test(tc.name, tc.body).Test("next", func(*Do) {}), runtime(echo()),
				func(o *engine.RunOptions) { o.Verbose = tc.verbose })
			f := failure(t, res)
			var pe *engine.PanicError
			if !errors.As(f, &pe) {
				t.Fatalf("failure %v is not a *PanicError", f)
			}
			contains(t, "failure", f.Error(), tc.want...)
			if (pe.Stack != "") != tc.stack {
				t.Errorf("stack recorded: %v, want %v", pe.Stack != "", tc.stack)
			}
			if res.Tests[1].Status != engine.TestNotRun || res.Verdict() != engine.VerdictFail {
				t.Errorf("next test %v, verdict %v", res.Tests[1].Status, res.Verdict())
			}
		})
	}
}

func TestCancellationInterruptsAndCleansUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := runtime(func(node string, w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	s := suite(2, WithRetryTimeout(time.Minute)).
		Test("waits", func(do *Do) {
			timer := time.AfterFunc(50*time.Millisecond, cancel)
			defer timer.Stop()
			do.GET(do.AllNodes(), "/x").Eventually().Status(Is(200)).Run()
		}).
		Test("next", func(do *Do) {})
	start := time.Now()
	res := s.Run(ctx, engine.RunOptions{Runtime: rt})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the run took %v after cancellation", d)
	}
	if c := rt.Last().Closes(); c != 1 {
		t.Errorf("cluster closed %d times", c)
	}
	if res.Err == nil || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("Err = %v, want an interruption", res.Err)
	}
	contains(t, "error", res.Err.Error(), "run interrupted")
	if res.Verdict() != engine.VerdictError {
		t.Errorf("verdict %v, want VerdictError", res.Verdict())
	}
	if got, want := statuses(res), []string{"waits=failed", "next=not run"}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rt := runtime(echo())
	res := suite(1).Test("a", func(do *Do) {}).Run(ctx, engine.RunOptions{Runtime: rt})
	if res.Err == nil || res.Verdict() != engine.VerdictError {
		t.Errorf("Err, Verdict = %v, %v", res.Err, res.Verdict())
	}
}

func TestHealthTimeout(t *testing.T) {
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		if n.Name == "n2" {
			n.Logf("loading snapshot")
			n.Logf("panic: cannot open data dir")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Name == "n2" {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
	})
	ran := false
	res, _ := run(t, suite(3, WithNodeStartTimeout(300*time.Millisecond)).Test("a", func(do *Do) { ran = true }), rt)
	if ran {
		t.Error("a test ran on an unhealthy cluster")
	}
	var te *cluster.TargetError
	if !errors.As(res.Err, &te) {
		t.Fatalf("Err = %T %v, want a *cluster.TargetError", res.Err, res.Err)
	}
	msg := res.Err.Error()
	contains(t, "error", msg,
		"node n2 did not answer GET /health with 200 within 300ms (last attempt: 503 Service Unavailable)",
		"last log lines of n2:\n    loading snapshot\n    panic: cannot open data dir")
	if strings.Contains(msg, "n1") || strings.Contains(msg, "n3") {
		t.Errorf("healthy nodes are named in %q", msg)
	}
	if res.Verdict() != engine.VerdictFail {
		t.Errorf("verdict %v, want VerdictFail", res.Verdict())
	}
}

func TestHealthWaitsForEveryNodeInParallel(t *testing.T) {
	// A node becomes healthy only once every node has been asked: waiting
	// for one node after the other never gets there.
	const n = 5
	var mu sync.Mutex
	asked := map[string]bool{}
	rt := attesttest.New(func(node *attesttest.Node) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked[node.Name] = true
			all := len(asked) == n
			mu.Unlock()
			if !all {
				w.WriteHeader(503)
			}
		})
	})
	res, _ := run(t, suite(n).Test("a", func(do *Do) {}), rt)
	passes(t, res)
}

func TestRuntimeErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		failOp  string
		target  bool
		body    func(do *Do)
		verdict engine.Verdict
		check   func(t *testing.T, res *engine.Result)
	}{
		{"create fails", "create", false, func(do *Do) {}, engine.VerdictError, func(t *testing.T, res *engine.Result) {
			contains(t, "error", res.Err.Error(), "create cluster: boom")
		}},
		{"create fails for the target", "create", true, func(do *Do) {}, engine.VerdictFail, nil},
		{"close fails", "close", false, func(do *Do) { do.Failf("first") }, engine.VerdictFail, func(t *testing.T, res *engine.Result) {
			if !errors.Is(res.CleanupErr, boom) {
				t.Errorf("CleanupErr = %v", res.CleanupErr)
			}
			contains(t, "first error", res.FirstError().Error(), "first")
		}},
		{"close fails after a pass", "close", false, func(do *Do) {}, engine.VerdictPass, func(t *testing.T, res *engine.Result) {
			if res.CleanupErr == nil || !res.Passed() {
				t.Errorf("CleanupErr, Passed = %v, %v", res.CleanupErr, res.Passed())
			}
		}},
		{"kill fails", "kill", false, func(do *Do) { do.Kill("n1") }, engine.VerdictError, func(t *testing.T, res *engine.Result) {
			contains(t, "error", res.FirstError().Error(), "suite_test.go:", "kill n1: boom")
		}},
		{"start fails for the target", "start", true, func(do *Do) { do.Stop("n1"); do.Start("n1") }, engine.VerdictFail, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := runtime(echo())
			rt.Fail = func(op, node string) error {
				if op != tc.failOp {
					return nil
				}
				if tc.target {
					return &cluster.TargetError{Err: boom}
				}
				return boom
			}
			res := suite(1).Test(tc.name, tc.body).Run(context.Background(), engine.RunOptions{Runtime: rt})
			if c := rt.Last(); c != nil && c.Closes() != 1 {
				t.Errorf("closed %d times", c.Closes())
			}
			if res.Verdict() != tc.verdict {
				t.Errorf("verdict %v, want %v (first error %v)", res.Verdict(), tc.verdict, res.FirstError())
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		s    *Suite
		opts engine.RunOptions
		want string
	}{
		{"no nodes", New(WithCluster(0)), engine.RunOptions{Runtime: runtime(echo())}, "need at least one node"},
		{"negative timeout", New(WithRetryTimeout(-1)), engine.RunOptions{Runtime: runtime(echo())}, "retry timeout"},
		{"no limit", New(WithConcurrencyLimit(0)), engine.RunOptions{Runtime: runtime(echo())}, "concurrency limit"},
		{"no runtime", New(), engine.RunOptions{}, "no runtime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.s.Run(context.Background(), tc.opts)
			if res.Err == nil || res.Verdict() != engine.VerdictError {
				t.Fatalf("Err, Verdict = %v, %v", res.Err, res.Verdict())
			}
			contains(t, "error", res.Err.Error(), tc.want)
		})
	}
}

func TestConfigAndNames(t *testing.T) {
	s := New(WithCluster(5), WithSettle(time.Second), WithNodeStartTimeout(30*time.Second)).
		Test("one", func(*Do) {}).Test("two", func(*Do) {})
	want := engine.DefaultConfig()
	want.Nodes, want.Settle, want.NodeStartTimeout = 5, time.Second, 30*time.Second
	if got := s.Config(); got != want {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
	if got := s.TestNames(); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("TestNames() = %v", got)
	}
	d := engine.DefaultConfig()
	if d.Nodes != 1 || d.NodeStartTimeout != 10*time.Second || d.NodeShutdownTimeout != 5*time.Second ||
		d.RetryTimeout != 5*time.Second || d.RequestTimeout != 5*time.Second || d.Settle != 0 ||
		d.PollInterval != 100*time.Millisecond || d.ConcurrencyLimit != 64 {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

// TestRunsDoNotShareState runs two suites at once on one runtime.
func TestRunsDoNotShareState(t *testing.T) {
	var hits atomic.Int32
	rt := runtime(func(node string, w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	})
	results := make(chan *engine.Result, 2)
	for range 2 {
		go func() {
			results <- suite(2).Test("a", func(do *Do) {
				do.Concurrently(20, func(int) { do.GET(do.AllNodes(), "/").Body(Is("ok")).Run() })
			}).Run(context.Background(), engine.RunOptions{Runtime: rt})
		}()
	}
	for range 2 {
		passes(t, <-results)
	}
	if hits.Load() != 80 {
		t.Errorf("%d requests, want 80", hits.Load())
	}
	for _, c := range rt.Clusters() {
		if c.Closes() != 1 {
			t.Errorf("a cluster closed %d times", c.Closes())
		}
	}
}

func TestVerbosePanicStackIsShort(t *testing.T) {
	res, _ := run(t, suite(1).Test("deref", func(do *Do) { derefNil() }), runtime(echo()),
		func(o *engine.RunOptions) { o.Verbose = true })
	var pe *engine.PanicError
	if !errors.As(failure(t, res), &pe) {
		t.Fatal("not a panic")
	}
	lines := strings.Split(pe.Stack, "\n")
	if len(lines) < 4 || !strings.Contains(lines[0], "attest_test.derefNil(") ||
		!strings.Contains(lines[2], "attest_test.TestVerbosePanicStackIsShort.func") {
		t.Errorf("stack does not start at the panic and its caller:\n%s", pe.Stack)
	}
	for _, unwanted := range []string{"runtime/debug", "runtime.gopanic", "runBody", "goroutine "} {
		if strings.Contains(pe.Stack, unwanted) {
			t.Errorf("stack shows %q:\n%s", unwanted, pe.Stack)
		}
	}
}

//go:noinline
func derefNil() {
	var p *engine.Response
	_ = p.Body
}

// panickyReporter panics when a test starts, outside any test body.
type panickyReporter struct{ recordingReporter }

func (*panickyReporter) TestStarted(string) { panic("reporter bug") }

func TestPanicOutsideTestsDoesNotEscape(t *testing.T) {
	res, _ := run(t, suite(1).Test("a", func(do *Do) {}), runtime(echo()),
		func(o *engine.RunOptions) { o.Reporter = &panickyReporter{} })
	if res.Err == nil || res.Verdict() != engine.VerdictError {
		t.Fatalf("Err, Verdict = %v, %v", res.Err, res.Verdict())
	}
	contains(t, "error", res.Err.Error(), "internal error: reporter bug")
}
