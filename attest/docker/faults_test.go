package docker

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// eventTexts returns the events as "node TEXT" lines.
func eventTexts(events *cluster.EventLog) []string {
	var out []string
	for _, e := range events.Events() {
		out = append(out, e.Node+" "+e.Text())
	}
	return out
}

func wantEvents(t *testing.T, events *cluster.EventLog, want ...string) {
	t.Helper()
	got := eventTexts(events)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("event %q missing from %q", w, got)
		}
	}
}

// tcpFailures has node from make n requests to to, each within timeout,
// and returns how many failed.
func tcpFailures(t *testing.T, c *dockerCluster, from, to string, n int, timeout time.Duration) int {
	t.Helper()
	addr, _ := c.Addr(to)
	var s struct {
		Failed int `json:"failed"`
	}
	getJSON(t, c, from, fmt.Sprintf("/probe/tcp?peer=%s&n=%d&timeout=%s", addr, n, timeout), &s)
	return s.Failed
}

func TestPauseFreezesTheNodeWithoutRestartingIt(t *testing.T) {
	c, events := testCluster(t, 3, Options{})
	ctx := context.Background()
	var before nodeInfo
	getJSON(t, c, "n1", "/info", &before)
	var pid struct {
		PID int `json:"pid"`
	}
	getJSON(t, c, "n1", "/info", &pid)
	if f := tcpFailures(t, c, "n2", "n1", 3, time.Second); f != 0 {
		t.Fatalf("before the pause n2 failed %d of 3 requests to n1", f)
	}

	must(t, c.Pause(ctx, "n1"))
	if !c.Paused("n1") || !c.Running("n1") {
		t.Fatalf("after Pause: paused %v, running %v; want both", c.Paused("n1"), c.Running("n1"))
	}
	// The runner hears nothing.
	u, _ := c.URL("n1")
	quick := &http.Client{Timeout: 500 * time.Millisecond}
	if resp, err := quick.Get(u + "/health"); err == nil {
		resp.Body.Close()
		t.Fatalf("a paused node answered the runner: %s", resp.Status)
	}
	// Nor does a peer: its requests time out, its datagrams get no echo,
	// yet its connection is accepted by the kernel, not reset.
	if f := tcpFailures(t, c, "n2", "n1", 2, 500*time.Millisecond); f != 2 {
		t.Errorf("n2 got %d of 2 requests through to the paused n1", 2-f)
	}
	r := reach{}
	getJSON(t, c, "n2", "/probe", &r)
	if addr, _ := c.Addr("n1"); r[addr].UDP || !r[addr].TCP {
		t.Errorf("from n2 the paused n1 answers UDP %v, accepts TCP %v; want silence over UDP and a connection accepted, not reset", r[addr].UDP, r[addr].TCP)
	}

	must(t, c.Resume(ctx, "n1"))
	if c.Paused("n1") {
		t.Fatal("still paused after Resume")
	}
	if f := tcpFailures(t, c, "n2", "n1", 3, time.Second); f != 0 {
		t.Errorf("after Resume n2 failed %d of 3 requests to n1", f)
	}
	var after nodeInfo
	getJSON(t, c, "n1", "/info", &after)
	var pidAfter struct {
		PID int `json:"pid"`
	}
	getJSON(t, c, "n1", "/info", &pidAfter)
	if after.Starts != before.Starts || pidAfter.PID != pid.PID {
		t.Errorf("after Resume: start %d, pid %d; before the pause start %d, pid %d: the process restarted", after.Starts, pidAfter.PID, before.Starts, pid.PID)
	}

	// A paused node can be killed and comes back unpaused.
	must(t, c.Pause(ctx, "n1"))
	start := time.Now()
	must(t, c.Kill(ctx, "n1"))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("killing a paused node took %v", d)
	}
	must(t, c.Start(ctx, "n1"))
	waitHealthy(t, c, "n1")
	if c.Paused("n1") {
		t.Error("paused after a restart")
	}
	var restarted nodeInfo
	getJSON(t, c, "n1", "/info", &restarted)
	if restarted.Starts != before.Starts+1 || restarted.Previous != "killed" {
		t.Errorf("after kill and start: start %d, previous %q; want %d, killed", restarted.Starts, restarted.Previous, before.Starts+1)
	}
	// …and stopped gracefully: the SIGTERM waits for the thaw.
	must(t, c.Pause(ctx, "n1"))
	must(t, c.Stop(ctx, "n1"))
	must(t, c.Start(ctx, "n1"))
	waitHealthy(t, c, "n1")
	getJSON(t, c, "n1", "/info", &restarted)
	if restarted.Previous != "sigterm" {
		t.Errorf("a paused node stopped: previous run ended %q, want sigterm", restarted.Previous)
	}
	wantEvents(t, events, "n1 PAUSE", "n1 RESUME", "n1 KILL", "n1 STOP")
	if err := c.Pause(ctx, "n9"); err == nil {
		t.Error("pausing an unknown node worked")
	}
	// A node left paused is removed with the rest (the cleanup checks).
	must(t, c.Pause(ctx, "n3"))
}

// TestPauseThenHaltOverAndOver pauses a node and stops or kills it, again
// and again: a node that exits while it is being thawed has reached the
// state asked for, and neither call fails.
func TestPauseThenHaltOverAndOver(t *testing.T) {
	c, events := testCluster(t, 1, Options{})
	ctx := context.Background()
	const cycles = 15
	for i := range cycles {
		halt, name := c.Kill, "kill"
		if i%2 == 1 {
			halt, name = c.Stop, "stop"
		}
		must(t, c.Pause(ctx, "n1"))
		if err := halt(ctx, "n1"); err != nil {
			t.Fatalf("cycle %d: pause, then %s: %v", i+1, name, err)
		}
		if c.Running("n1") || c.Paused("n1") {
			t.Fatalf("cycle %d: after %s: running %v, paused %v; want neither", i+1, name, c.Running("n1"), c.Paused("n1"))
		}
		must(t, c.Start(ctx, "n1"))
		waitHealthy(t, c, "n1")
	}
	var halts int
	for _, e := range eventTexts(events) {
		if e == "n1 KILL" || e == "n1 STOP" {
			halts++
		}
	}
	if halts != cycles {
		t.Errorf("%d KILL or STOP events; want %d", halts, cycles)
	}
}

// sendOneWay has node from send n one-way datagrams to to.
func sendOneWay(t *testing.T, c *dockerCluster, from, to string, n int) {
	t.Helper()
	sendDatagrams(t, c, from, to, n, 0)
}

// sendDatagrams has node from send n one-way datagrams of size bytes (of
// the test node's choice for 0) to to.
func sendDatagrams(t *testing.T, c *dockerCluster, from, to string, n, size int) {
	t.Helper()
	addr, _ := c.Addr(to)
	var s struct {
		Failed int `json:"failed"`
	}
	path := fmt.Sprintf("/probe/send?peer=%s&n=%d&interval=1ms", addr, n)
	if size > 0 {
		path += fmt.Sprintf("&size=%d", size)
	}
	getJSON(t, c, from, path, &s)
	if s.Failed > 0 {
		t.Errorf("%s: %d sends to %s failed; a dropped packet must vanish silently", from, s.Failed, to)
	}
}

// received returns how many one-way datagrams node has received from each
// node, by name.
func received(t *testing.T, c *dockerCluster, node string) map[string]int {
	t.Helper()
	// Datagrams still on the way arrive within a few milliseconds.
	time.Sleep(100 * time.Millisecond)
	var byIP map[string]int
	getJSON(t, c, node, "/received", &byIP)
	out := map[string]int{}
	for _, n := range c.nodes {
		out[n.name] = byIP[n.ip.String()]
	}
	return out
}

func TestCutDropsOneDirectionOnly(t *testing.T) {
	c, events := testCluster(t, 3, Options{})
	ctx := context.Background()
	const n = 50
	must(t, c.Cut(ctx, []string{"n1"}, []string{"n2"}))
	sendOneWay(t, c, "n1", "n2", n)
	sendOneWay(t, c, "n3", "n2", n)
	sendOneWay(t, c, "n2", "n1", n)
	at2, at1 := received(t, c, "n2"), received(t, c, "n1")
	if at2["n1"] != 0 || at2["n3"] != n || at1["n2"] != n {
		t.Fatalf("cut n1->n2: n2 got %d from n1 (want 0) and %d from n3 (want %d); n1 got %d from n2 (want %d)",
			at2["n1"], at2["n3"], n, at1["n2"], n)
	}

	// The cut holds across a restart of the receiver, and composes with
	// a partition: n3 is cut off from n1 both ways, n2 -> n1 still flows.
	must(t, c.Kill(ctx, "n2"))
	must(t, c.Start(ctx, "n2"))
	waitHealthy(t, c, "n2")
	must(t, c.Partition(ctx, [][]string{{"n1"}, {"n3"}}))
	sendOneWay(t, c, "n1", "n2", n)
	sendOneWay(t, c, "n3", "n1", n)
	sendOneWay(t, c, "n2", "n1", n)
	at2, at1 = received(t, c, "n2"), received(t, c, "n1")
	if at2["n1"] != 0 || at1["n3"] != 0 || at1["n2"] != 2*n {
		t.Fatalf("cut and partition: n2 got %d from n1 (want 0); n1 got %d from n3 (want 0) and %d from n2 in all (want %d)",
			at2["n1"], at1["n3"], at1["n2"], 2*n)
	}

	// A new partition keeps the cut; heal removes both.
	must(t, c.Partition(ctx, [][]string{{"n1", "n2"}, {"n3"}}))
	sendOneWay(t, c, "n1", "n2", n)
	if got := received(t, c, "n2")["n1"]; got != 0 {
		t.Fatalf("after a new partition n2 got %d from n1; the cut should hold", got)
	}
	must(t, c.Heal(ctx))
	sendOneWay(t, c, "n1", "n2", n)
	sendOneWay(t, c, "n3", "n1", n)
	if got := received(t, c, "n2")["n1"]; got != n {
		t.Errorf("after heal n2 got %d from n1, want %d", got, n)
	}
	if got := received(t, c, "n1")["n3"]; got != n {
		t.Errorf("after heal n1 got %d from n3, want %d", got, n)
	}
	wantEvents(t, events, "n1 CUT TO: n2", "n1 PARTITIONED FROM: n3", " PARTITION HEALED")
}

func TestImpairTowardsOnlyTheNamedPeers(t *testing.T) {
	c, events := testCluster(t, 3, Options{})
	ctx := context.Background()
	must(t, c.ImpairTowards(ctx, []string{"n1"}, []string{"n2"}, []cluster.Impairment{delay(100*time.Millisecond, 0)}))
	// n1's echoes carry its impairment: those to n2 are late, those to
	// n3 are not.
	to2 := probeUDP(t, c, "n2", "n1", 100)
	to3 := probeUDP(t, c, "n3", "n1", 100)
	t.Logf("n1 -> n2: %v; n1 -> n3: %v", to2, to3)
	// Lower bounds only: on a loaded machine the shaper releases late,
	// never early (TestImpairments measures accuracy).
	if p50 := quantile(to2.RTT, .5); p50 < 95 || p50 > 300 {
		t.Errorf("n1's replies to n2: median %.1fms, want 100ms", p50)
	}
	if p50 := quantile(to3.RTT, .5); p50 > 10 {
		t.Errorf("n1's replies to n3: median %.1fms, want them unimpaired", p50)
	}
	// The runner's requests are not towards a node: they flow as before.
	u, _ := c.URL("n1")
	start := time.Now()
	resp, err := httpClient.Get(u + "/health")
	must(t, err)
	resp.Body.Close()
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("the runner's request to n1 took %v", d)
	}
	// A plain impairment replaces it and applies to every peer.
	must(t, c.Impair(ctx, []string{"n1"}, []cluster.Impairment{delay(50*time.Millisecond, 0)}))
	if p50 := quantile(probeUDP(t, c, "n3", "n1", 50).RTT, .5); p50 < 45 || p50 > 200 {
		t.Errorf("after a plain impair, n1's replies to n3: median %.1fms, want 50ms", p50)
	}
	must(t, c.Repair(ctx, []string{"n1"}))
	if p50 := quantile(probeUDP(t, c, "n2", "n1", 50).RTT, .5); p50 > 10 {
		t.Errorf("after repair, n1's replies to n2: median %.1fms", p50)
	}
	wantEvents(t, events, "n1 IMPAIRED TOWARDS n2: delay 100ms (nftables+nfqueue)", "n1 REPAIRED")
}

// inParallel runs fn for each node and waits.
func inParallel(b *testing.B, names []string, fn func(string) error) {
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() { must(b, fn(name)) })
	}
	wg.Wait()
}

// BenchmarkPauseResume measures pausing the five nodes of a cluster at
// once and resuming them, against one inspect of a container in the same
// run (the cheapest Docker round trip) as a baseline.
func BenchmarkPauseResume(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
	must(b, err)
	defer c.Close(ctx)
	dc := c.(*dockerCluster)
	var pause, resume, inspect time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, err := rt.cli.ContainerInspect(ctx, dc.nodes[0].containerID)
		must(b, err)
		inspect += time.Since(start)
		start = time.Now()
		inParallel(b, c.Nodes(), func(n string) error { return c.Pause(ctx, n) })
		pause += time.Since(start)
		start = time.Now()
		inParallel(b, c.Nodes(), func(n string) error { return c.Resume(ctx, n) })
		resume += time.Since(start)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(pause), "pause-5-ms")
	b.ReportMetric(ms(resume), "resume-5-ms")
	b.ReportMetric(ms(pause)/ms(inspect), "pause/inspect")
	b.ReportMetric(ms(resume)/ms(inspect), "resume/inspect")
}

// BenchmarkCutHeal measures cutting two nodes of five off from the other
// three one way and healing it, against a 2|3 partition and heal in the
// same run.
func BenchmarkCutHeal(b *testing.B) {
	dockerOrSkip(b)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(b, err)
	defer rt.Close()
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 5})
	must(b, err)
	defer c.Close(ctx)
	var cut, heal, part time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		must(b, c.Cut(ctx, []string{"n1", "n2"}, []string{"n3", "n4", "n5"}))
		cut += time.Since(start)
		start = time.Now()
		must(b, c.Heal(ctx))
		heal += time.Since(start)
		start = time.Now()
		must(b, c.Partition(ctx, [][]string{{"n1", "n2"}, {"n3", "n4", "n5"}}))
		must(b, c.Heal(ctx))
		part += time.Since(start)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(cut), "cut-ms")
	b.ReportMetric(ms(heal), "heal-ms")
	b.ReportMetric(ms(cut+heal), "cut+heal-ms")
	b.ReportMetric(ms(cut+heal)/ms(part), "cut+heal/partition+heal")
}
