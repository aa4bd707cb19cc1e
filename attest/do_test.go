package attest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// kv is a store that survives restarts (it lives outside the handlers),
// served by every node.
func kv() *attesttest.Runtime {
	var mu sync.Mutex
	data := map[string]string{}
	return runtime(func(node string, w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/kv/")
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			data[key] = string(b)
		case http.MethodGet:
			v, ok := data[key]
			if !ok {
				http.Error(w, "key not found", http.StatusNotFound)
				return
			}
			io.WriteString(w, v)
		}
	})
}

func TestNodeLifecycle(t *testing.T) {
	tests := []struct {
		name   string
		body   func(do *Do)
		events []string // after the cluster is ready and the test started
	}{
		{"stop and start", func(do *Do) {
			do.Stop("n1")
			if do.Running("n1") {
				do.Failf("n1 running after Stop")
			}
			do.Start("n1")
		}, []string{"n1 STOP", "n1 START"}},
		{"kill and start", func(do *Do) { do.Kill("n1"); do.Start("n1") }, []string{"n1 KILL", "n1 START"}},
		{"restart", func(do *Do) { do.Restart("n1") }, []string{"n1 RESTART: TERM", "n1 STOP", "n1 START"}},
		{"restart with SIGTERM", func(do *Do) { do.Restart("n1", syscall.SIGTERM) },
			[]string{"n1 RESTART: TERM", "n1 STOP", "n1 START"}},
		{"restart with SIGKILL", func(do *Do) { do.Restart("n1", syscall.SIGKILL) },
			[]string{"n1 RESTART: KILL", "n1 KILL", "n1 START"}},
		{"start a running node", func(do *Do) { do.Start("n1") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := suite(1).Test(tc.name, func(do *Do) {
				do.PUT(Node("n1"), "/kv/key", "value").Status(Is(200)).Run()
				tc.body(do)
				do.GET(Node("n1"), "/kv/key").Status(Is(200)).Body(Is("value")).Run()
			})
			res, events := run(t, s, kv())
			passes(t, res)
			got := eventTexts(events)
			i := slices.Index(got, "** TEST: "+tc.name)
			if i < 0 || !slices.Equal(got[i+1:], tc.events) {
				t.Errorf("events %q, want %q after the TEST event", got, tc.events)
			}
		})
	}
}

func TestNodeManagementFailures(t *testing.T) {
	tests := []struct {
		name string
		body func(do *Do)
		want string
	}{
		{"unknown node", func(do *Do) { do.Kill("n9") }, `kill n9: no node named "n9" in this cluster (nodes: n1, n2)`},
		{"restart with SIGINT", func(do *Do) { do.Restart("n1", syscall.SIGINT) },
			"restart n1: signal interrupt: restart supports SIGTERM (graceful) and SIGKILL (crash)"},
		{"restart with two signals", func(do *Do) { do.Restart("n1", syscall.SIGKILL, syscall.SIGTERM) }, "at most one signal"},
		{"partition unknown", func(do *Do) { do.Partition([]string{"n1"}, []string{"n3"}) }, `partition n1 | n3: no node named "n3"`},
		{"partition twice", func(do *Do) { do.Partition([]string{"n1"}, []string{"n1"}) }, "more than one group"},
		{"impair nothing", func(do *Do) { do.Impair(do.AllNodes()) }, "no impairment given"},
		{"impair bad loss", func(do *Do) { do.Impair(Node("n1"), Loss(150)) }, "impair n1: loss 150%: percentage must be between 0 and 100"},
		{"reorder without delay", func(do *Do) { do.Impair(Node("n1"), Reorder(10)) }, "reorder needs a delay"},
		{"impair unknown", func(do *Do) { do.Impair(Node("n7"), Delay(time.Millisecond)) }, `no node named "n7"`},
		{"repair unknown", func(do *Do) { do.Repair(Node("n7")) }, `repair n7: no node named "n7"`},
		{"fetch unknown", func(do *Do) { do.Fetch("n7", "/") }, `fetch / from n7: no node named "n7"`},
		{"names unknown", func(do *Do) { do.Names(do.ExceptNodes("n7")) }, `no node named "n7"`},
		{"addr unknown", func(do *Do) { do.Addr("n7") }, `addr n7: no node named "n7"`},
		{"negative concurrently", func(do *Do) { do.Concurrently(-1, func(int) {}) }, "cannot be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, events := run(t, suite(2).Test(tc.name, tc.body), kv())
			f := failure(t, res)
			contains(t, "failure", f.Error(), "do_test.go:", tc.want)
			// Mistakes in the suite say nothing about the target.
			if res.Verdict() != engine.VerdictError {
				t.Errorf("verdict %v, want VerdictError", res.Verdict())
			}
			for _, e := range eventTexts(events) {
				if strings.Contains(e, "IMPAIRED") || strings.Contains(e, "PARTITIONED") {
					t.Errorf("the runtime was asked to act: %s", e)
				}
			}
		})
	}
}

// TestStartWaitsForHealth: after a restart the node answers 503 to its
// first health checks; Start returns only once it answers 200.
func TestStartWaitsForHealth(t *testing.T) {
	var checks atomic.Int32
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		var seen atomic.Int32
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				checks.Add(1)
				if seen.Add(1) <= 5 {
					w.WriteHeader(503)
				}
				return
			}
			if seen.Load() <= 5 {
				w.WriteHeader(503) // not ready
			}
		})
	})
	res, _ := run(t, suite(1).Test("restart", func(do *Do) {
		do.Restart("n1", syscall.SIGKILL)
		do.GET(Node("n1"), "/").Status(Is(200)).Run()
	}), rt)
	passes(t, res)
	if c := checks.Load(); c != 12 {
		t.Errorf("%d health checks, want 12 (6 at each start)", c)
	}
}

func TestStartHealthTimeout(t *testing.T) {
	var builds atomic.Int32
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		if builds.Add(1) == 1 {
			return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		}
		n.Logf("corrupt log, refusing to serve")
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	})
	res, _ := run(t, suite(1, WithNodeStartTimeout(200*time.Millisecond)).Test("t", func(do *Do) {
		do.Restart("n1", syscall.SIGKILL)
	}), rt)
	f := failure(t, res)
	var te *cluster.TargetError
	if !errors.As(f, &te) || res.Verdict() != engine.VerdictFail {
		t.Errorf("failure %v is no target error (verdict %v)", f, res.Verdict())
	}
	contains(t, "failure", f.Error(), "do_test.go:", "restart n1 with SIGKILL: node n1 did not answer GET /health with 200 within 200ms (last attempt: 500 Internal Server Error)")
	var b strings.Builder
	f.Format(&b, false)
	contains(t, "formatted failure", b.String(), "last log lines of n1:\n    corrupt log, refusing to serve")
}

func TestFaults(t *testing.T) {
	rt := kv()
	var blocked, unblocked bool
	var impaired, repaired, repairedAll string
	settle := 50 * time.Millisecond
	var took time.Duration
	res, events := run(t, suite(3, WithSettle(settle)).Test("faults", func(do *Do) {
		c := rt.Last()
		start := time.Now()
		do.Partition([]string{"n1"}, []string{"n2", "n3"})
		took = time.Since(start)
		blocked = c.Blocked("n1", "n2") && !c.Blocked("n2", "n3")
		do.Heal()
		unblocked = !c.Blocked("n1", "n2")
		do.Impair(do.AllNodes(), Delay(100*time.Millisecond, 20*time.Millisecond), Loss(10))
		impaired = c.Impairments("n3").String()
		do.Repair(Node("n3"))
		repaired = c.Impairments("n3").String() + "|" + c.Impairments("n1").String()
		do.Kill("n2")
		do.Repair()
		repairedAll = c.Impairments("n1").String() + "|" + c.Impairments("n2").String()
	}), rt)
	passes(t, res)
	if !blocked || !unblocked {
		t.Errorf("partition blocked %v, heal unblocked %v", blocked, unblocked)
	}
	if impaired != "delay 100ms ±20ms, loss 10%" {
		t.Errorf("n3 impaired with %q", impaired)
	}
	if repaired != "|delay 100ms ±20ms, loss 10%" {
		t.Errorf("after Repair(n3): %q", repaired)
	}
	// Repair() repairs the running nodes; n2 was killed.
	if repairedAll != "|delay 100ms ±20ms, loss 10%" {
		t.Errorf("after Repair(): %q", repairedAll)
	}
	if took < settle {
		t.Errorf("Partition returned after %v, before the settle time %v", took, settle)
	}
	got := eventTexts(events)
	for _, want := range []string{"n1 PARTITIONED FROM: n2, n3", "** PARTITION HEALED",
		"n1 IMPAIRED: delay 100ms ±20ms, loss 10%", "n3 REPAIRED"} {
		if !slices.Contains(got, want) {
			t.Errorf("no event %q in %q", want, got)
		}
	}
}

func TestFetch(t *testing.T) {
	var got *FetchResponse
	var down *FetchResponse
	res, _ := run(t, suite(2).Test("fetch", func(do *Do) {
		do.PUT(Node("n1"), "/kv/info", `{"role":"leader","term":3}`).Run()
		got = do.Fetch("n1", "/kv/info")
		do.Kill("n2")
		down = do.Fetch("n2", "/kv/info")
	}), kv())
	passes(t, res)
	if got == nil || got.Status != 200 || got.JSON("role") != "leader" || got.JSON("term") != "3" ||
		got.JSON("nope") != "" || got.Header.Get("Content-Type") == "" {
		t.Errorf("Fetch = %+v", got)
	}
	if down != nil {
		t.Errorf("Fetch of a killed node = %+v, want nil", down)
	}
}

func TestLogAndAddr(t *testing.T) {
	var addr string
	rt := kv()
	res, events := run(t, suite(1).Test("log", func(do *Do) {
		do.Log("leader is %s", "n1")
		addr = do.Addr("n1")
	}), rt)
	passes(t, res)
	if !slices.Contains(eventTexts(events), "** LOG: leader is n1") {
		t.Errorf("no LOG event in %q", eventTexts(events))
	}
	if want, _ := rt.Last().Addr("n1"); addr != want || addr == "" {
		t.Errorf("Addr(n1) = %q, want %q", addr, want)
	}
}

func TestOpsReturnErrors(t *testing.T) {
	var errs []error
	res, _ := run(t, suite(1).Test("ops", func(do *Do) {
		o := do.Ops("stage.star:12:5")
		errs = append(errs, o.Kill("n5"), o.Concurrently(3, func(i int) error {
			if i == 2 {
				return io.EOF
			}
			return nil
		}))
		_, err := o.Names(Node("zz"))
		errs = append(errs, err, o.Kill("n1"), o.Start("n1"))
	}), kv())
	passes(t, res)
	want := []string{
		`stage.star:12:5: kill n5: no node named "n5"`,
		"stage.star:12:5: concurrently call 2: EOF",
		`stage.star:12:5: select node("zz"): no node named "zz"`,
		"", "",
	}
	for i, w := range want {
		got := ""
		if errs[i] != nil {
			got = errs[i].Error()
		}
		if !strings.HasPrefix(got, w) || (w == "") != (got == "") {
			t.Errorf("error %d = %q, want %q", i, got, w)
		}
	}
}

// TestClusterSettleDuration checks that WithClusterSettleDuration pauses
// after Partition and Heal, as in the original attest, and not after Impair
// and Repair.
func TestClusterSettleDuration(t *testing.T) {
	settle := 300 * time.Millisecond
	var partition, heal, impair, repair time.Duration
	timed := func(fn func()) time.Duration {
		start := time.Now()
		fn()
		return time.Since(start)
	}
	res, _ := run(t, suite(2, WithClusterSettleDuration(settle)).Test("faults", func(do *Do) {
		partition = timed(func() { do.Partition([]string{"n1"}, []string{"n2"}) })
		heal = timed(func() { do.Heal() })
		impair = timed(func() { do.Impair(do.AllNodes(), Loss(10)) })
		repair = timed(func() { do.Repair() })
	}), kv())
	passes(t, res)
	if partition < settle || heal < settle {
		t.Errorf("Partition took %v and Heal %v, want at least the cluster settle duration %v", partition, heal, settle)
	}
	if impair >= settle || repair >= settle {
		t.Errorf("Impair took %v and Repair %v, want no cluster settle pause (%v)", impair, repair, settle)
	}
	if err := New(WithClusterSettleDuration(-time.Second)).Config().Validate(); err == nil {
		t.Error("a negative cluster settle duration is valid")
	}
}

// TestNodeStartupTimeout checks the original attest's name of
// WithNodeStartTimeout.
func TestNodeStartupTimeout(t *testing.T) {
	if got := New(WithNodeStartupTimeout(42 * time.Second)).Config().NodeStartTimeout; got != 42*time.Second {
		t.Errorf("NodeStartTimeout = %v, want 42s", got)
	}
}

// TestFetchBodyBytes checks that FetchResponse.Body is the body as bytes,
// as the original attest's was.
func TestFetchBodyBytes(t *testing.T) {
	var info struct {
		Role string `json:"role"`
		Term int    `json:"term"`
	}
	var text string
	res, _ := run(t, suite(1).Test("fetch", func(do *Do) {
		do.PUT(Node("n1"), "/kv/info", `{"role":"leader","term":3}`).Run()
		r := do.Fetch("n1", "/kv/info")
		if err := json.Unmarshal(r.Body, &info); err != nil {
			do.Fail(err)
		}
		text = string(r.Body)
	}), kv())
	passes(t, res)
	if info.Role != "leader" || info.Term != 3 || text != `{"role":"leader","term":3}` {
		t.Errorf("decoded %+v from %q", info, text)
	}
}

func TestPauseCutAndImpairTowards(t *testing.T) {
	rt := kv()
	var all, afterResume []string
	var paused *FetchResponse
	var pausedTook time.Duration
	var cut, reverse, healed bool
	var towards []string
	res, events := run(t, suite(3, WithRequestTimeout(200*time.Millisecond), WithSettle(time.Millisecond)).Test("faults", func(do *Do) {
		c := rt.Last()
		do.PUT(Node("n1"), "/kv/k", "v").Status(Is(200)).Run()
		do.Pause(Node("n2"))
		all = do.Names(do.AllNodes())
		start := time.Now()
		paused = do.Fetch("n2", "/kv/k")
		pausedTook = time.Since(start)
		do.Resume()
		afterResume = do.Names(do.AllNodes())
		do.GET(Node("n2"), "/kv/k").Status(Is(200)).Body(Is("v")).Run()

		do.Cut(Node("n1"), do.AllNodes("n2", "n3"))
		cut = c.IsCut("n1", "n2") && c.IsCut("n1", "n3")
		reverse = c.IsCut("n2", "n1")
		do.Heal()
		healed = !c.IsCut("n1", "n2")

		do.ImpairTowards(Node("n1"), Node("n3"), Delay(50*time.Millisecond))
		towards = c.Towards("n1")
	}), rt)
	passes(t, res)
	if !slices.Equal(all, []string{"n1", "n3"}) {
		t.Errorf("AllNodes() with n2 paused = %v, want [n1 n3]", all)
	}
	if paused != nil || pausedTook < 200*time.Millisecond {
		t.Errorf("Fetch of a paused node = %+v after %v, want nil after the 200ms request timeout", paused, pausedTook)
	}
	if !slices.Equal(afterResume, []string{"n1", "n2", "n3"}) {
		t.Errorf("AllNodes() after Resume() = %v", afterResume)
	}
	if !cut || reverse || !healed {
		t.Errorf("cut n1->n2,n3: %v; n2->n1 cut too: %v; healed: %v", cut, reverse, healed)
	}
	if !slices.Equal(towards, []string{"n3"}) {
		t.Errorf("n1 impaired towards %v, want [n3]", towards)
	}
	got := eventTexts(events)
	for _, want := range []string{"n2 PAUSE", "n2 RESUME", "n1 CUT TO: n2, n3", "** PARTITION HEALED",
		"n1 IMPAIRED TOWARDS n3: delay 50ms"} {
		if !slices.Contains(got, want) {
			t.Errorf("no event %q in %q", want, got)
		}
	}
}

func TestPausedNodeStopsAndStartsUnpaused(t *testing.T) {
	rt := kv()
	var pausedAfter bool
	res, events := run(t, suite(2, WithRequestTimeout(200*time.Millisecond)).Test("restart paused", func(do *Do) {
		do.PUT(Node("n1"), "/kv/k", "v").Run()
		do.Pause(Node("n1"))
		do.Restart("n1", syscall.SIGKILL)
		pausedAfter = do.Paused("n1")
		do.GET(Node("n1"), "/kv/k").Status(Is(200)).Run()
	}), rt)
	passes(t, res)
	if pausedAfter {
		t.Error("n1 still paused after a restart")
	}
	got := eventTexts(events)
	i := slices.Index(got, "n1 PAUSE")
	if i < 0 || !slices.Equal(got[i:i+4], []string{"n1 PAUSE", "n1 RESTART: KILL", "n1 RESUME", "n1 KILL"}) {
		t.Errorf("events %q", got)
	}
}

// TestInterrupt checks that Do.Interrupt ends a wait of the engine at once
// (here the settle after Heal, a minute long), that the interrupted
// operation fails with the cause, and that no later test runs.
func TestInterrupt(t *testing.T) {
	cause := errors.New("stopped from outside")
	var took time.Duration
	var opErr error
	res, _ := run(t, suite(2, WithSettle(time.Minute)).
		Test("waits", func(do *Do) {
			stop := time.AfterFunc(200*time.Millisecond, func() { do.Interrupt(cause) })
			defer stop.Stop()
			start := time.Now()
			opErr = do.Ops("waits.go:1").Heal()
			took = time.Since(start)
			do.Fail(opErr)
		}).
		Test("after", func(do *Do) { t.Error("a test ran after the run was interrupted") }), kv())
	if took > 5*time.Second {
		t.Errorf("Heal returned %v after it began; want at once after the interruption", took)
	}
	if !errors.Is(opErr, cause) {
		t.Errorf("Heal failed with %v; want the cause %v", opErr, cause)
	}
	if res.Tests[0].Status != engine.TestFailed || res.Tests[1].Status == engine.TestPassed {
		t.Errorf("tests %v, %v; want the first failed and the second not run", res.Tests[0].Status, res.Tests[1].Status)
	}
	if res.Err != nil {
		t.Errorf("the run's error %v; want none beyond the test's failure", res.Err)
	}
}

// TestResendOnClosedIdleConnection: a node that closes a kept-alive
// connection just as a request arrives on it (its idle timeout, say) never
// saw the request; a PUT or DELETE is sent again on another connection, and
// the test passes, while a POST is not repeated and is reported.
func TestResendOnClosedIdleConnection(t *testing.T) {
	var mu sync.Mutex
	served := map[string]bool{} // connections (by client address) that answered a request
	var got []string
	rt := runtime(func(node string, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reused := served[r.RemoteAddr]
		served[r.RemoteAddr] = true
		mu.Unlock()
		if reused && r.URL.Path != "/hello" {
			// Close without an answer, as a server timing the connection out.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
	})
	var post *FetchResponse
	res, _ := run(t, suite(1).Test("resend", func(do *Do) {
		do.GET(Node("n1"), "/hello").Status(Is(200)).Run()
		do.PUT(Node("n1"), "/kv/a", "1").Status(Is(200)).Run()
		do.GET(Node("n1"), "/hello").Status(Is(200)).Run()
		do.DELETE(Node("n1"), "/kv/a").Status(Is(200)).Run()
		do.GET(Node("n1"), "/hello").Status(Is(200)).Run()
		post, _ = do.Ops("").Send(http.MethodPost, "n1", "/kv/b", []byte("2"), nil, 0)
	}), rt)
	passes(t, res)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET /hello ", "PUT /kv/a 1", "GET /hello ", "DELETE /kv/a ", "GET /hello "}
	if !slices.Equal(got, want) {
		t.Errorf("the node served %q, want %q", got, want)
	}
	if post != nil {
		t.Errorf("a POST on a connection the node closed = %+v, want no answer (nil)", post)
	}
}

// TestResentFailureIsUnknown: a request sent again may have taken effect
// the first time, so an answer that says it failed leaves it unknown in the
// history; an answer that it succeeded stays a success.
func TestResentFailureIsUnknown(t *testing.T) {
	for _, c := range []struct {
		status int
		resent bool
		want   history.Outcome
	}{
		{409, false, history.Fail},
		{409, true, history.Unknown},
		{200, true, history.OK},
	} {
		resp := &engine.Response{Node: "n1", Method: "PUT", Status: c.status}
		if got := RecordedOutcome(resp, c.resent); got != c.want {
			t.Errorf("status %d, resent %v: outcome %q, want %q", c.status, c.resent, got, c.want)
		}
	}
}
