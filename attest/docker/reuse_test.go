package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

// TestReuseSandboxes checks that a runtime reusing sandboxes hands a
// closed cluster's sandboxes to the next cluster of its size with nothing
// of the old run left in them — fresh data, no partition, no impairment,
// no traffic counters —
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
		cs, err := rt.cli.ContainerList(ctx, container.ListOptions{Filters: f})
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
	_, err = first.Traffic(ctx)
	must(t, err)
	must(t, first.Close(ctx))
	if got := count(first.run, "node"); got != 0 {
		t.Errorf("after close: %d node containers running; want 0", got)
	}
	if got := count(first.run, "sandbox"); got != 3 {
		t.Errorf("after close: %d sandboxes kept; want 3", got)
	}

	// As in a pause between two runs, the next run's containers are made.
	rt.pool.mu.Lock()
	kept := rt.pool.kept
	rt.pool.mu.Unlock()
	kept.wait()
	created := time.Now()
	second := create(3)
	if !slices.Equal(sandboxes(second), sandboxes(first)) {
		t.Errorf("second cluster's sandboxes %v; want the first's %v", sandboxes(second), sandboxes(first))
	}
	getJSON(t, second, "n1", "/info", &info)
	if info.Previous != "first" || info.Starts != 1 {
		t.Errorf("n1 of the second cluster: previous %q, starts %d; want a fresh DATA_DIR (first, 1)", info.Previous, info.Starts)
	}
	// Its containers were made while the sandboxes waited.
	for _, n := range second.nodes {
		info, err := rt.cli.ContainerInspect(ctx, n.containerID)
		must(t, err)
		if at, err := time.Parse(time.RFC3339Nano, info.Created); err != nil || !at.Before(created) {
			t.Errorf("%s's container was created at %s, after the cluster was asked for at %s; want it made ahead", n.name, info.Created, created.Format(time.RFC3339Nano))
		}
	}
	// The old run's traffic counters are gone with it.
	if _, err := second.netctl(ctx, second.nodes[0], netd.Request{Op: "traffic"}); err == nil || !strings.Contains(err.Error(), "not being counted") {
		t.Errorf("a kept sandbox's counters: %v; want none", err)
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

// TestReuseAfterRebuild checks that a rerun of a rebuilt target runs the
// new build, not the containers made ahead from the old one, and that the
// old build's image goes once they are gone: for a binary, whose tag
// follows its content, and for a directory, whose tag stays.
func TestReuseAfterRebuild(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	data, err := os.ReadFile(testnodeBin)
	must(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, "node")
	nonce := fmt.Sprint(time.Now().UnixNano())
	write := func(suffix string) {
		t.Helper()
		// A new file in the old one's place, as a linker writes it.
		must(t, os.WriteFile(bin+".new", append(slices.Clone(data), ("reuse-"+suffix+nonce)...), 0o755))
		must(t, os.Rename(bin+".new", bin))
	}
	must(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY node /node\nENTRYPOINT [\"/node\"]\n"), 0o644))

	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"binary", Options{Binary: bin, ReuseSandboxes: true}},
		{"dockerfile", Options{Dir: dir, ReuseSandboxes: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.name + "-first")
			rt, err := New(ctx, tc.opts)
			must(t, err)
			closed := false
			defer func() {
				if !closed {
					rt.Close()
				}
			}()
			imageOf := func(c *dockerCluster) string {
				t.Helper()
				info, err := rt.cli.ContainerInspect(ctx, c.nodes[0].containerID)
				must(t, err)
				return info.Image
			}
			run := func() (*dockerCluster, string) {
				t.Helper()
				c, err := rt.Create(ctx, cluster.Spec{Nodes: 2, ShutdownTimeout: 2 * time.Second, Events: cluster.NewEventLog(nil)})
				must(t, err)
				dc := c.(*dockerCluster)
				for _, name := range c.Nodes() {
					waitHealthy(t, dc, name)
				}
				img := imageOf(dc)
				must(t, c.Close(ctx))
				return dc, img
			}
			first, old := run()
			write(tc.name + "-second")
			second, img := run()
			if second.run != first.run {
				t.Fatalf("the rerun did not reuse the sandboxes (run %s, then %s)", first.run, second.run)
			}
			if img == old {
				t.Errorf("the rerun of a rebuilt target runs the old image %s", old)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, err := rt.cli.ImageInspect(ctx, old)
				if client.IsErrNotFound(err) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("the old build's image %s is still there 20s after the rerun (%v)", old, err)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			closed = true
			must(t, rt.Close())
			t.Cleanup(func() {
				if cli, err := Connect(context.Background()); err == nil {
					cli.ImageRemove(context.Background(), img, image.RemoveOptions{Force: true, PruneChildren: true})
					cli.Close()
				}
			})
		})
	}
}
