package clustertest

import (
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// cases are the conformance cases, in the order they run. Each starts on
// a healthy cluster of n1, n2, n3 with no fault in force. Counting
// traffic comes first, while the nodes have sent each other nothing: the
// cases that cut connections halfway leave TCP retransmitting for a
// minute after them.
var cases = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{"traffic counted or refused", countTraffic},
	{"nodes, URL and Addr", nodesURLAndAddr},
	{"stop then start", func(t *testing.T, s *suite) { haltThenStart(t, s, "STOP") }},
	{"kill then start", func(t *testing.T, s *suite) { haltThenStart(t, s, "KILL") }},
	{"pause and resume", pauseAndResume},
	{"stop a paused node", func(t *testing.T, s *suite) { haltPaused(t, s, "STOP") }},
	{"kill a paused node", func(t *testing.T, s *suite) { haltPaused(t, s, "KILL") }},
	{"pause a stopped node", pauseStopped},
	{"partition and heal", partitionAndHeal},
	{"cut one way", cutOneWay},
	{"cut both ways", cutBothWays},
	{"impair and repair", impairAndRepair},
	{"invalid arguments", invalidArguments},
}

func nodesURLAndAddr(t *testing.T, s *suite) {
	c := s.c
	if got, want := c.Nodes(), []string{"n1", "n2", "n3"}; !slices.Equal(got, want) {
		t.Fatalf("Nodes() = %q, want %q", got, want)
	}
	urls, addrs := map[string]bool{}, map[string]bool{}
	for _, name := range c.Nodes() {
		u, err := c.URL(name)
		if err != nil {
			t.Fatalf("URL(%s): %v", name, err)
		}
		if p, err := url.Parse(u); err != nil || p.Scheme != "http" || p.Host == "" || p.Path != "" {
			t.Errorf("URL(%s) = %q: want http://host:port", name, u)
		}
		a, err := c.Addr(name)
		if err != nil {
			t.Fatalf("Addr(%s): %v", name, err)
		}
		if _, err := netip.ParseAddrPort(a); err != nil {
			t.Errorf("Addr(%s) = %q: %v", name, a, err)
		}
		urls[u], addrs[a] = true, true
		if !c.Running(name) || c.Paused(name) {
			t.Errorf("%s: running %v, paused %v; want running, not paused", name, c.Running(name), c.Paused(name))
		}
	}
	if len(urls) != 3 || len(addrs) != 3 {
		t.Errorf("URLs %v and addresses %v are not one per node", urls, addrs)
	}
	// Each node reaches the others at their Addr.
	s.reaches(t, "n1", "n2")
	s.reaches(t, "n3", "n1")
	if _, err := c.URL("n9"); !unknown(err) {
		t.Errorf("URL(n9): %v, want an unknown node", err)
	}
	if _, err := c.Addr("n9"); !unknown(err) {
		t.Errorf("Addr(n9): %v, want an unknown node", err)
	}
	if c.Running("n9") || c.Paused("n9") {
		t.Error("n9, which does not exist, is running or paused")
	}
	s.wantEvents(t)
}

// haltThenStart stops (or kills) n1, checks it is down and that a second
// halt does nothing, then starts it, twice, and checks it answers.
func haltThenStart(t *testing.T, s *suite, how string) {
	c, ctx := s.c, t.Context()
	halt := c.Stop
	if how == "KILL" {
		halt = c.Kill
	}
	if err := halt(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if c.Running("n1") || c.Paused("n1") {
		t.Errorf("after %s: running %v, paused %v", how, c.Running("n1"), c.Paused("n1"))
	}
	s.silent(t, "n1", "after "+how)
	s.cutOff(t, "n2", "n1")
	if err := halt(ctx, "n1"); err != nil {
		t.Errorf("%s of a stopped node: %v, want nothing done", how, err)
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if !c.Running("n1") {
		t.Error("not running after Start")
	}
	s.waitHealthy(t, "n1")
	if err := c.Start(ctx, "n1"); err != nil {
		t.Errorf("Start of a running node: %v, want nothing done", err)
	}
	s.reaches(t, "n2", "n1")
	s.wantEvents(t, "n1 "+how, "n1 START")
}

func pauseAndResume(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	if err := c.Pause(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if !c.Paused("n2") || !c.Running("n2") {
		t.Errorf("after Pause: paused %v, running %v; want both", c.Paused("n2"), c.Running("n2"))
	}
	s.silent(t, "n2", "while paused")
	if err := c.Pause(ctx, "n2"); err != nil {
		t.Errorf("Pause of a paused node: %v, want nothing done", err)
	}
	if err := c.Resume(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if c.Paused("n2") || !c.Running("n2") {
		t.Errorf("after Resume: paused %v, running %v", c.Paused("n2"), c.Running("n2"))
	}
	s.waitHealthy(t, "n2")
	if err := c.Resume(ctx, "n2"); err != nil {
		t.Errorf("Resume of a node not paused: %v, want nothing done", err)
	}
	s.wantEvents(t, "n2 PAUSE", "n2 RESUME")
}

// haltPaused stops (or kills) a paused node: the pause ends with the
// process, and the node starts again unpaused.
func haltPaused(t *testing.T, s *suite, how string) {
	c, ctx := s.c, t.Context()
	halt := c.Stop
	if how == "KILL" {
		halt = c.Kill
	}
	if err := c.Pause(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if err := halt(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if c.Running("n2") || c.Paused("n2") {
		t.Errorf("after %s of a paused node: running %v, paused %v; want neither", how, c.Running("n2"), c.Paused("n2"))
	}
	if err := c.Start(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if c.Paused("n2") {
		t.Error("paused after a restart")
	}
	s.waitHealthy(t, "n2")
	s.wantEvents(t, "n2 PAUSE", "n2 RESUME", "n2 "+how, "n2 START")
}

func pauseStopped(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	if err := c.Stop(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	err := c.Pause(ctx, "n3")
	var stopped *cluster.ErrNotRunning
	if !errors.As(err, &stopped) {
		t.Errorf("Pause of a stopped node: %v, want an *ErrNotRunning", err)
	} else if want := "pause n3: the node is not running; start it first"; err.Error() != want {
		t.Errorf("Pause of a stopped node: %q, want %q", err, want)
	}
	if c.Paused("n3") {
		t.Error("a stopped node is paused")
	}
	if err := c.Resume(ctx, "n3"); err != nil {
		t.Errorf("Resume of a stopped node: %v, want nothing done", err)
	}
	s.wantEvents(t, "n3 STOP")
}

func partitionAndHeal(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	if err := c.Partition(ctx, [][]string{{"n1"}, {"n2", "n3"}}); err != nil {
		t.Fatal(err)
	}
	s.cutOff(t, "n1", "n2")
	s.cutOff(t, "n3", "n1")
	s.reaches(t, "n2", "n3")
	// The runner still reaches every node.
	s.waitHealthy(t, "n1")
	s.wantEvents(t, "n1 PARTITIONED FROM", "n2 PARTITIONED FROM", "n3 PARTITIONED FROM")

	// A partition outlives a restart of the node it cuts off.
	s.since()
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	s.waitHealthy(t, "n1")
	s.cutOff(t, "n2", "n1")

	// A new partition replaces the old one.
	if err := c.Partition(ctx, [][]string{{"n1", "n2"}, {"n3"}}); err != nil {
		t.Fatal(err)
	}
	s.reaches(t, "n1", "n2")
	s.cutOff(t, "n2", "n3")
	s.wantEvents(t, "n1 KILL", "n1 START", "n1 PARTITIONED FROM", "n2 PARTITIONED FROM", "n3 PARTITIONED FROM")

	s.since()
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	s.reaches(t, "n3", "n1")
	s.reaches(t, "n2", "n3")
	s.wantEvents(t, cluster.ClusterWide+" PARTITION HEALED")
}

func cutOneWay(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	if err := c.Cut(ctx, []string{"n1"}, []string{"n2"}); err != nil {
		t.Fatal(err)
	}
	s.oneWay(t, "n1", "n2", false, true)
	// A connection needs both ways.
	s.cutOff(t, "n1", "n2")
	s.reaches(t, "n1", "n3")
	s.reaches(t, "n3", "n2")
	// The same cut again adds nothing, and says nothing.
	if err := c.Cut(ctx, []string{"n1"}, []string{"n2", "n1"}); err != nil {
		t.Fatal(err)
	}
	s.wantEvents(t, "n1 CUT TO")
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	s.oneWay(t, "n1", "n2", true, true)
}

func cutBothWays(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	if err := c.Cut(ctx, []string{"n1"}, []string{"n3"}); err != nil {
		t.Fatal(err)
	}
	// A node named twice is cut, and logged, once.
	if err := c.Cut(ctx, []string{"n3", "n3"}, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	s.oneWay(t, "n1", "n3", false, false)
	s.cutOff(t, "n3", "n1")
	s.reaches(t, "n2", "n1")
	s.reaches(t, "n2", "n3")
	// Cuts add to a partition, and a new partition leaves them in force.
	if err := c.Partition(ctx, [][]string{{"n1"}, {"n2"}}); err != nil {
		t.Fatal(err)
	}
	s.cutOff(t, "n2", "n1")
	s.cutOff(t, "n1", "n3")
	s.reaches(t, "n2", "n3")
	s.wantEvents(t, "n1 CUT TO", "n3 CUT TO", "n1 PARTITIONED FROM", "n2 PARTITIONED FROM")
}

// impairAndRepair uses a loss of 100%, which every runtime and kernel can
// apply (loss needs no netem): a node whose answers are all lost cannot
// be connected to.
func impairAndRepair(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	t.Cleanup(func() { c.Repair(ctx, c.Nodes()) })
	lost := []cluster.Impairment{{Kind: cluster.KindLoss, Percent: 100}}
	if err := c.ImpairTowards(ctx, []string{"n1"}, []string{"n2"}, lost); err != nil {
		t.Fatal(err)
	}
	s.cutOff(t, "n2", "n1")
	s.reaches(t, "n3", "n1")
	// Impairments are on the traffic between nodes, not the runner's.
	s.waitHealthy(t, "n1")
	// A plain impairment replaces it and applies to every peer.
	if err := c.Impair(ctx, []string{"n1"}, lost); err != nil {
		t.Fatal(err)
	}
	s.cutOff(t, "n3", "n1")
	// A partition or a heal leaves impairments alone.
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	s.cutOff(t, "n2", "n1")
	if err := c.Repair(ctx, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	s.reaches(t, "n2", "n1")
	s.reaches(t, "n3", "n1")
	s.wantEvents(t, "n1 IMPAIRED TOWARDS n2", "n1 IMPAIRED", cluster.ClusterWide+" PARTITION HEALED", "n1 REPAIRED")
}

// invalidArguments checks that each runtime refuses the same mistakes with
// the same kind of error, and does nothing: no event, no change.
func invalidArguments(t *testing.T, s *suite) {
	c, ctx := s.c, t.Context()
	loss := func(pct float64) []cluster.Impairment {
		return []cluster.Impairment{{Kind: cluster.KindLoss, Percent: pct}}
	}
	reorder := []cluster.Impairment{{Kind: cluster.KindReorder, Percent: 10}}
	tests := []struct {
		name    string
		call    func() error
		unknown bool // an unknown node, rather than an *ErrInvalidFault
	}{
		{"start n9", func() error { return c.Start(ctx, "n9") }, true},
		{"stop n9", func() error { return c.Stop(ctx, "n9") }, true},
		{"kill n9", func() error { return c.Kill(ctx, "n9") }, true},
		{"pause n9", func() error { return c.Pause(ctx, "n9") }, true},
		{"resume n9", func() error { return c.Resume(ctx, "n9") }, true},
		{"partition with n9", func() error { return c.Partition(ctx, [][]string{{"n1"}, {"n9"}}) }, true},
		{"partition with a node in two groups", func() error { return c.Partition(ctx, [][]string{{"n1"}, {"n1", "n2"}}) }, false},
		{"partition with an empty group", func() error { return c.Partition(ctx, [][]string{{"n1"}, {}}) }, false},
		{"cut from n9", func() error { return c.Cut(ctx, []string{"n9"}, []string{"n1"}) }, true},
		{"cut to n9", func() error { return c.Cut(ctx, []string{"n1"}, []string{"n9"}) }, true},
		{"cut of a node from itself", func() error { return c.Cut(ctx, []string{"n1"}, []string{"n1"}) }, false},
		{"cut from no node", func() error { return c.Cut(ctx, nil, []string{"n1"}) }, false},
		{"cut to no node", func() error { return c.Cut(ctx, []string{"n1"}, nil) }, false},
		{"impair n9", func() error { return c.Impair(ctx, []string{"n9"}, loss(10)) }, true},
		{"impair towards n9", func() error { return c.ImpairTowards(ctx, []string{"n1"}, []string{"n9"}, loss(10)) }, true},
		{"impair no node", func() error { return c.Impair(ctx, nil, loss(10)) }, false},
		{"impair with nothing", func() error { return c.Impair(ctx, []string{"n1"}, nil) }, false},
		{"impair with a loss of 150%", func() error { return c.Impair(ctx, []string{"n1"}, loss(150)) }, false},
		{"impair with a reorder and no delay", func() error { return c.Impair(ctx, []string{"n1"}, reorder) }, false},
		{"repair n9", func() error { return c.Repair(ctx, []string{"n9"}) }, true},
	}
	for _, tc := range tests {
		err := tc.call()
		var bad *cluster.ErrInvalidFault
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.unknown && !unknown(err):
			t.Errorf("%s: %v, want an unknown node (*cluster.ErrUnknownNode)", tc.name, err)
		case !tc.unknown && !errors.As(err, &bad):
			t.Errorf("%s: %v, want an *cluster.ErrInvalidFault", tc.name, err)
		}
	}
	for _, name := range c.Nodes() {
		if !c.Running(name) || c.Paused(name) {
			t.Errorf("%s: running %v, paused %v after refused calls", name, c.Running(name), c.Paused(name))
		}
	}
	s.reaches(t, "n1", "n2")
	s.reaches(t, "n2", "n3")
	s.wantEvents(t)
}

func unknown(err error) bool {
	var u *cluster.ErrUnknownNode
	return errors.As(err, &u)
}

// countTraffic checks that a runtime that counts traffic counts what
// nodes send each other, exactly, and none of the runner's requests; a
// runtime that cannot count says so with cluster.ErrNoTraffic, and never
// gives a number.
func countTraffic(t *testing.T, s *suite) {
	tc, ok := s.c.(cluster.TrafficCounter)
	if !ok {
		t.Skipf("%T counts no traffic", s.c)
	}
	ctx := t.Context()
	start, err := tc.Traffic(ctx)
	if errors.Is(err, cluster.ErrNoTraffic) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	at := s.received(t, "n2")
	s.send(t, "n1", "n2", n)
	deadline := time.Now().Add(timeout)
	for s.received(t, "n2")-at < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	now, err := tc.Traffic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := now.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 6 {
		t.Errorf("%d pairs counted, want the 6 ordered pairs of 3 nodes: %v", len(d), d)
	}
	for p, c := range d {
		want := uint64(0)
		if p == (cluster.Pair{From: "n1", To: "n2"}) {
			want = n
		}
		if c.Packets != want || (want > 0) != (c.Bytes > 0) {
			t.Errorf("%s sent %s %v, want %d packets", p.From, p.To, c, want)
		}
	}
	s.wantEvents(t)
}
