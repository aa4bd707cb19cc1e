package docker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// TestReuseSandboxes checks that a runtime reusing sandboxes hands a
// closed cluster's sandboxes to the next cluster of its size with nothing
// of the old run left in them — fresh data, no partition, no impairment —
// and removes them when the size changes and when the runtime closes.
func TestReuseSandboxes(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin, ReuseSandboxes: true})
	must(t, err)
	closed := false
	defer func() {
		if !closed {
			rt.Close()
		}
	}()
	create := func(n int) *dockerCluster {
		t.Helper()
		c, err := rt.Create(ctx, cluster.Spec{Nodes: n, ShutdownTimeout: 2 * time.Second, Events: cluster.NewEventLog(nil)})
		must(t, err)
		for _, name := range c.Nodes() {
			waitHealthy(t, c, name)
		}
		return c.(*dockerCluster)
	}
	sandboxes := func(c *dockerCluster) []string {
		var ids []string
		for _, n := range c.nodes {
			ids = append(ids, n.sandboxID)
		}
		return ids
	}
	count := func(run, role string) int {
		t.Helper()
		f := filters.NewArgs(filters.Arg("label", LabelRun+"="+run), filters.Arg("label", LabelRole+"="+role))
		cs, err := rt.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		must(t, err)
		return len(cs)
	}

	first := create(3)
	var info nodeInfo
	getJSON(t, first, "n1", "/info", &info)
	if info.Previous != "first" {
		t.Fatalf("n1 of a fresh cluster: previous run %q; want first", info.Previous)
	}
	must(t, first.Partition(ctx, [][]string{{"n1"}, {"n2", "n3"}}))
	must(t, first.Impair(ctx, []string{"n2"}, []cluster.Impairment{{Kind: cluster.KindDelay, Delay: 300 * time.Millisecond}}))
	must(t, first.Close(ctx))
	if got := count(first.run, "node"); got != 0 {
		t.Errorf("after close: %d node containers left; want 0", got)
	}
	if got := count(first.run, "sandbox"); got != 3 {
		t.Errorf("after close: %d sandboxes kept; want 3", got)
	}

	second := create(3)
	if !slices.Equal(sandboxes(second), sandboxes(first)) {
		t.Errorf("second cluster's sandboxes %v; want the first's %v", sandboxes(second), sandboxes(first))
	}
	getJSON(t, second, "n1", "/info", &info)
	if info.Previous != "first" || info.Starts != 1 {
		t.Errorf("n1 of the second cluster: previous %q, starts %d; want a fresh DATA_DIR (first, 1)", info.Previous, info.Starts)
	}
	if got, want := fmtReach(reachability(t, second)), fmtReach(map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1", "n3"}, "n3": {"n1", "n2"}}); got != want {
		t.Errorf("second cluster reaches %s; want %s (the old partition healed)", got, want)
	}
	u, err := second.URL("n2")
	must(t, err)
	var took []time.Duration
	for range 5 {
		start := time.Now()
		resp, err := httpClient.Get(u + "/health")
		must(t, err)
		resp.Body.Close()
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	if took[2] >= 300*time.Millisecond {
		t.Errorf("n2 answers in %v (median); the old 300ms delay was not repaired", took[2])
	}
	must(t, second.Close(ctx))

	third := create(2)
	if slices.Contains(sandboxes(third), sandboxes(first)[0]) {
		t.Error("a 2-node cluster got the 3-node cluster's sandboxes")
	}
	assertNothingLeft(t, rt, first.run)
	must(t, third.Close(ctx))
	if got := count(third.run, "sandbox"); got != 2 {
		t.Errorf("after close: %d sandboxes kept; want 2", got)
	}
	closed = true
	must(t, rt.Close())
	rt2, err := New(ctx, Options{Binary: testnodeBin})
	must(t, err)
	defer rt2.Close()
	assertNothingLeft(t, rt2, third.run)
}
