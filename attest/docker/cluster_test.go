package docker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

func TestNodesGetTheContract(t *testing.T) {
	c, _ := testCluster(t, 3, Options{})
	// 10.0.42.0/24 unless another run holds it; the host part is fixed.
	ip := func(i int) string { return nodeIP(c.subnet, i).String() + ":8080" }
	if c.subnet.String() == DefaultSubnet && ip(1) != "10.0.42.101:8080" {
		t.Fatalf("n1 is %s, want 10.0.42.101:8080", ip(1))
	}
	want := map[string]nodeInfo{
		"n1": {Addr: ip(1), Peers: []string{ip(2), ip(3)}},
		"n2": {Addr: ip(2), Peers: []string{ip(1), ip(3)}},
		"n3": {Addr: ip(3), Peers: []string{ip(1), ip(2)}},
	}
	for _, name := range c.Nodes() {
		var got nodeInfo
		getJSON(t, c, name, "/info", &got)
		w := want[name]
		if got.Addr != w.Addr || !reflect.DeepEqual(got.Peers, w.Peers) || got.DataDir != "/app/data" {
			t.Errorf("%s: got ADDR=%s PEERS=%v DATA_DIR=%s, want %s %v /app/data", name, got.Addr, got.Peers, got.DataDir, w.Addr, w.Peers)
		}
		if addr, _ := c.Addr(name); addr != w.Addr {
			t.Errorf("Addr(%s) = %s, want %s", name, addr, w.Addr)
		}
		if u, _ := c.URL(name); !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("URL(%s) = %s, want a port on 127.0.0.1", name, u)
		}
	}
}

func TestStopKillAndRestartAreRealSignals(t *testing.T) {
	c, events := testCluster(t, 1, Options{})
	ctx := context.Background()
	expect := func(previous string, starts int) {
		t.Helper()
		waitHealthy(t, c, "n1")
		var got nodeInfo
		getJSON(t, c, "n1", "/info", &got)
		if got.Previous != previous || got.Starts != starts {
			t.Fatalf("after restart: previous run ended %q, start %d; want %q, start %d", got.Previous, got.Starts, previous, starts)
		}
	}
	expect("first", 1)

	// Restart (SIGTERM): stop, then start.
	must(t, c.Stop(ctx, "n1"))
	if c.Running("n1") {
		t.Fatal("n1 still running after Stop")
	}
	must(t, c.Start(ctx, "n1"))
	expect("sigterm", 2)

	// Restart with SIGKILL: kill, then start.
	must(t, c.Kill(ctx, "n1"))
	must(t, c.Start(ctx, "n1"))
	expect("killed", 3) // the start count also proves DATA_DIR survived

	// Plain stop and kill, each followed by a later start.
	must(t, c.Kill(ctx, "n1"))
	must(t, c.Start(ctx, "n1"))
	expect("killed", 4)
	must(t, c.Stop(ctx, "n1"))
	must(t, c.Start(ctx, "n1"))
	expect("sigterm", 5)

	var kinds []string
	for _, e := range events.Events() {
		if e.Node == "n1" { // not cluster-wide notes such as a busy subnet
			kinds = append(kinds, e.Text())
		}
	}
	want := []string{"START", "STOP", "START", "KILL", "START", "KILL", "START", "STOP", "START"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	lines := c.LogTail("n1", 100)
	var started int
	for _, l := range lines {
		if strings.Contains(l, "testnode: started as") {
			started++
		}
	}
	if started != 5 {
		t.Errorf("log has %d start lines across 5 runs, want 5 (captured across restarts, no repeats):\n%s", started, strings.Join(lines, "\n"))
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	c, events := testCluster(t, 1, Options{Env: map[string]string{"TESTNODE_IGNORE_SIGTERM": "1"}})
	ctx := context.Background()
	start := time.Now()
	must(t, c.Stop(ctx, "n1"))
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("Stop returned after %v, before the 2s shutdown timeout", d)
	}
	must(t, c.Start(ctx, "n1"))
	waitHealthy(t, c, "n1")
	var got nodeInfo
	getJSON(t, c, "n1", "/info", &got)
	if got.Previous != "killed" {
		t.Errorf("previous run ended %q, want killed", got.Previous)
	}
	found := false
	for _, e := range events.Events() {
		found = found || e.Kind == cluster.EventStopTimeout
	}
	if !found {
		t.Errorf("no escalation event in %v", events.Events())
	}
}

// A partition on five nodes in two groups, its survival of a restart and
// its heal are cases of the conformance suite (TestConformance), which the
// in-process runtime passes too.

func TestPartitionLeavesUngroupedNodesAlone(t *testing.T) {
	c, _ := testCluster(t, 3, Options{})
	must(t, c.Partition(context.Background(), [][]string{{"n1"}, {"n2"}}))
	want := map[string][]string{"n1": {"n3"}, "n2": {"n3"}, "n3": {"n1", "n2"}}
	if got := reachability(t, c); !reflect.DeepEqual(got, want) {
		t.Fatalf("reach %s, want %s", fmtReach(got), fmtReach(want))
	}
	if err := c.Partition(context.Background(), [][]string{{"n1"}, {"n1", "n2"}}); err == nil {
		t.Error("a node in two groups was accepted")
	}
	if err := c.Partition(context.Background(), [][]string{{"n9"}}); err == nil {
		t.Error("an unknown node was accepted")
	}
}

func TestDockerfileTarget(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, testnodeBin, filepath.Join(dir, "testnode"))
	must(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY testnode /testnode\nENTRYPOINT [\"/testnode\"]\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("big\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "big"), make([]byte, 1<<20), 0o644))
	c, _ := testCluster(t, 1, Options{Dir: dir})
	var got nodeInfo
	getJSON(t, c, "n1", "/info", &got)
	if got.Previous != "first" {
		t.Errorf("got %+v", got)
	}
}

func TestBadTargetsGiveOneClearError(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	broken := t.TempDir()
	must(t, os.WriteFile(filepath.Join(broken, "Dockerfile"), []byte("FROM scratch\nCOPY missing-file /x\n"), 0o644))
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"dynamic binary", Options{Binary: "/bin/ls"}, "dynamically linked"},
		{"not an executable", Options{Binary: "cluster.go"}, "not a Linux executable"},
		{"missing binary", Options{Binary: "/nonexistent/node"}, "no such file"},
		{"no Dockerfile", Options{Dir: t.TempDir()}, "no Dockerfile"},
		{"failing build", Options{Dir: broken}, "image build failed"},
		{"unknown image", Options{Image: "clstr-no-such-image:latest"}, "not on this Docker daemon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := New(ctx, tc.opts)
			must(t, err)
			defer rt.Close()
			_, err = rt.Create(ctx, cluster.Spec{Nodes: 1})
			var te *cluster.TargetError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a target error containing %q", err, tc.want)
			}
		})
	}
}

func TestUnreachableDaemon(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	_, err := New(context.Background(), Options{Binary: testnodeBin})
	var de *DaemonError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "cannot reach the Docker daemon") || !strings.Contains(err.Error(), "start it") {
		t.Fatalf("got %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o755))
}

// runHelperProcess re-runs this test binary as a child that executes the
// named test helper.
func helperCommand(t *testing.T, name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), append(env, "CLSTR_TEST_HELPER=1")...)
	return cmd
}

// TestDynamicNetdRuns checks that a dynamically linked program (this test
// binary, under -race or cgo) serves as clstr-netd in a FROM scratch
// sandbox, carrying its loader and libraries, whatever CLSTR_NETD_BINARY
// says for the other tests.
func TestDynamicNetdRuns(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	self, err := os.Executable()
	must(t, err)
	libs, err := runtimeFiles(self)
	must(t, err)
	rt, err := New(ctx, Options{Binary: testnodeBin})
	must(t, err)
	defer rt.Close()
	img, err := rt.binaryImage(ctx, self, "netd", netdName, []string{"serve"}, libs)
	must(t, err)
	run := "dyn-" + newRunID()
	ct, err := rt.cli.ContainerCreate(ctx,
		&container.Config{Image: img, Labels: rt.labels.forRun(run, "sandbox", "")},
		&container.HostConfig{NetworkMode: "none", CapDrop: []string{"ALL"}, CapAdd: []string{"NET_ADMIN"}},
		nil, nil, "clstr-"+run)
	must(t, err)
	defer Clean(ctx, rt.cli, CleanOptions{Run: run})
	must(t, rt.cli.ContainerStart(ctx, ct.ID, container.StartOptions{}))
	c := &dockerCluster{rt: rt}
	if _, err := c.netctl(ctx, &node{name: "probe", sandboxID: ct.ID}, netd.Request{Op: "ping"}); err != nil {
		t.Fatalf("a %d-library clstr-netd did not answer: %v", len(libs), err)
	}
}
