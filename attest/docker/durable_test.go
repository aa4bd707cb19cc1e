package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker/internal/durafs/supervisor"
)

// testDurableCluster starts a one-node cluster of the test node whose
// suite asks for durability, and removes it at the end of the test.
func testDurableCluster(t *testing.T) *dockerCluster {
	t.Helper()
	return testDurableClusterOpts(t, Options{Binary: testnodeBin})
}

func testDurableClusterOpts(t *testing.T, opts Options) *dockerCluster {
	t.Helper()
	c, _ := testClusterSpec(t, cluster.Spec{Nodes: 1, Durable: true}, opts)
	return c
}

// op is one file operation of the test node's POST /fs.
type op struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	To   string `json:"to,omitempty"`
	Data string `json:"data,omitempty"`
}

func doFS(t testing.TB, c cluster.Cluster, ops ...op) {
	t.Helper()
	u, _ := c.URL("n1")
	b, _ := json.Marshal(ops)
	resp, err := httpClient.Post(u+"/fs", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /fs: %d %s", resp.StatusCode, msg)
	}
}

func checkFS(t *testing.T, c cluster.Cluster, dir string, want map[string]string) {
	t.Helper()
	var got map[string]string
	getJSON(t, c, "n1", "/fs?dir="+dir, &got)
	if !maps.Equal(got, want) {
		t.Errorf("DATA_DIR/%s holds\n%v\nwant\n%v", dir, got, want)
	}
}

func restart(t *testing.T, c *dockerCluster, lose func(context.Context, string) error) {
	t.Helper()
	ctx := context.Background()
	if err := lose(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if c.Running("n1") {
		t.Fatal("n1 is still running")
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c, "n1")
}

// TestDurablePowerLoss runs a script of writes, syncs, renames and
// unlinks on a node, and checks that a kill loses none of it and a power
// loss loses exactly what a real machine would.
func TestDurablePowerLoss(t *testing.T) {
	c := testDurableCluster(t)
	doFS(t, c,
		op{Op: "mkdir", Path: "t"}, op{Op: "mkdir", Path: "u"}, op{Op: "fsyncdir", Path: "."},
		op{Op: "write", Path: "t/keep", Data: "v1"}, op{Op: "fsync", Path: "t/keep"},
		op{Op: "write", Path: "t/gone", Data: "g"}, op{Op: "fsync", Path: "t/gone"},
		op{Op: "write", Path: "t/old", Data: "old"}, op{Op: "fsync", Path: "t/old"},
		op{Op: "write_sync", Path: "t/osync", Data: "o"},
		op{Op: "write", Path: "t/fdata", Data: "f"}, op{Op: "fdatasync", Path: "t/fdata"},
		op{Op: "write", Path: "t/empty", Data: "never synced"},
		op{Op: "fsyncdir", Path: "t"},
		// Nothing below is followed by a fsync of t.
		op{Op: "write", Path: "t/keep", Data: "v2"},
		op{Op: "unlink", Path: "t/gone"},
		op{Op: "write", Path: "t/new.tmp", Data: "new"}, op{Op: "fsync", Path: "t/new.tmp"},
		op{Op: "rename", Path: "t/new.tmp", To: "t/old"},
		op{Op: "write", Path: "t/late", Data: "late"}, op{Op: "fsync", Path: "t/late"},
		op{Op: "mkdir", Path: "t/d"}, op{Op: "write", Path: "t/d/f", Data: "x"},
		op{Op: "fsync", Path: "t/d/f"}, op{Op: "fsyncdir", Path: "t/d"},
		// A rename made durable by its directory's fsync.
		op{Op: "write", Path: "u/r.tmp", Data: "r"}, op{Op: "fsync", Path: "u/r.tmp"},
		op{Op: "rename", Path: "u/r.tmp", To: "u/r"}, op{Op: "fsyncdir", Path: "u"},
	)
	cached := map[string]string{
		"keep": "v2", "old": "new", "osync": "o", "fdata": "f", "empty": "never synced",
		"late": "late", "d/": "", "d/f": "x",
	}
	checkFS(t, c, "t", cached)

	// SIGKILL ends the process, not the machine: the page cache keeps
	// every write.
	restart(t, c, c.Kill)
	checkFS(t, c, "t", cached)

	restart(t, c, c.PowerLoss)
	checkFS(t, c, "t", map[string]string{"keep": "v1", "gone": "g", "old": "old", "osync": "o", "fdata": "f", "empty": ""})
	checkFS(t, c, "u", map[string]string{"r": "r"})
	// DATA_DIR's size counts its files, not the journal beside them,
	// which keeps the old blocks of an overwritten synced file.
	doFS(t, c, op{Op: "mkdir", Path: "v"}, op{Op: "fsyncdir", Path: "."},
		op{Op: "write", Path: "v/big", Data: strings.Repeat("x", 100000)}, op{Op: "fsync", Path: "v/big"}, op{Op: "fsyncdir", Path: "v"},
		op{Op: "write", Path: "v/big", Data: strings.Repeat("y", 100000)})
	if size, err := c.DataSize(context.Background(), "n1"); err != nil || size < 100000 || size > 150000 {
		t.Errorf("DATA_DIR holds %d bytes (%v), want about 100000", size, err)
	}

	// A node that is down when the power goes loses what its killed
	// process never synced, and the file system carries on after a loss.
	doFS(t, c, op{Op: "write", Path: "u/r", Data: "r2"}, op{Op: "fsync", Path: "u/r"}, op{Op: "write", Path: "u/s", Data: "s"})
	if err := c.Kill(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	restart(t, c, c.PowerLoss)
	checkFS(t, c, "u", map[string]string{"r": "r2"})
	// The running node's supervisor lost the power itself; the node that
	// was down had its volume restored by a throwaway one.
	var losses []string
	for _, e := range c.events.Events() {
		if e.Kind == cluster.EventPowerLoss {
			losses = append(losses, e.Text())
		}
	}
	if !slices.Equal(losses, []string{"POWER LOSS", "POWER LOSS"}) {
		t.Errorf("power loss events %q, want two plain ones", losses)
	}
}

// TestDurableNodeHoldsNoPrivilege checks that the program of a durable
// node holds no capability and cannot mount, though its container can.
func TestDurableNodeHoldsNoPrivilege(t *testing.T) {
	c := testDurableCluster(t)
	var p map[string]string
	getJSON(t, c, "n1", "/privileges", &p)
	for _, set := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb"} {
		if p[set] != "0000000000000000" {
			t.Errorf("%s is %q, want none", set, p[set])
		}
	}
	if p["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs is %q, want 1", p["NoNewPrivs"])
	}
	if p["mount_error"] == "" {
		t.Error("the node's program mounted a tmpfs")
	}
	if p["fuse_fds"] != "" {
		t.Errorf("the node's program holds the FUSE device as descriptors %s", p["fuse_fds"])
	}
	info, err := c.rt.cli.ContainerInspect(context.Background(), c.nodes[0].containerID)
	if err != nil {
		t.Fatal(err)
	}
	if !hasSysAdmin(info.HostConfig.CapAdd) || len(info.HostConfig.Devices) == 0 {
		t.Errorf("a durable node's container has capabilities %v and devices %v, want SYS_ADMIN and /dev/fuse", info.HostConfig.CapAdd, info.HostConfig.Devices)
	}

	// A paused node loses power too, and is no longer paused after.
	doFS(t, c, op{Op: "write", Path: "p", Data: "unsynced"})
	if err := c.Pause(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	restart(t, c, c.PowerLoss)
	if c.Paused("n1") {
		t.Error("n1 is still paused after its power loss")
	}
	// The test node's own state file, renamed into place at every start
	// without a sync of DATA_DIR, went too: the node counts this start
	// as its first.
	checkFS(t, c, ".", map[string]string{"state": "running 1\n"})
}

// TestDurabilityNotAsked checks that a suite that does not ask for
// durability gets no /dev/fuse, no CAP_SYS_ADMIN and no power loss.
func TestDurabilityNotAsked(t *testing.T) {
	c, _ := testCluster(t, 1, Options{})
	info, err := c.rt.cli.ContainerInspect(context.Background(), c.nodes[0].containerID)
	if err != nil {
		t.Fatal(err)
	}
	if hasSysAdmin(info.HostConfig.CapAdd) || len(info.HostConfig.Devices) > 0 {
		t.Errorf("a node's container has capabilities %v and devices %v, want neither SYS_ADMIN nor /dev/fuse", info.HostConfig.CapAdd, info.HostConfig.Devices)
	}
	var p map[string]string
	getJSON(t, c, "n1", "/privileges", &p)
	if p["mount_error"] == "" {
		t.Error("the node's program mounted a tmpfs")
	}
	if caps, err := strconv.ParseUint(p["CapEff"], 16, 64); err != nil || caps&(1<<21) != 0 {
		t.Errorf("CapEff %q holds CAP_SYS_ADMIN (%v)", p["CapEff"], err)
	}
	if err := c.PowerLoss(context.Background(), "n1"); !errors.Is(err, cluster.ErrNotDurable) {
		t.Errorf("power loss without durability: %v, want ErrNotDurable", err)
	}
	if !c.Running("n1") {
		t.Error("a refused power loss stopped the node")
	}
}

func hasSysAdmin(caps []string) bool {
	return slices.Contains(caps, "SYS_ADMIN") || slices.Contains(caps, "CAP_SYS_ADMIN")
}

// TestDurabilityRefused checks what the supervisor says in a container
// that may not mount FUSE: the message a host without FUSE gets.
func TestDurabilityRefused(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	img, err := rt.netdImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &dockerCluster{rt: rt, netd: img, run: "durafs-" + newRunID()}
	t.Cleanup(func() { assertNothingLeft(t, rt, c.run) })
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
		want string
	}{
		{"no device", container.HostConfig{NetworkMode: "none", CapAdd: []string{"SYS_ADMIN"}}, "no /dev/fuse"},
		{"no capability", container.HostConfig{NetworkMode: "none", Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"}}}}, "CAP_SYS_ADMIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, err := c.runSupervisor(ctx, "durafs-check", "", []string{"check"}, &tc.hc)
			if err != nil {
				t.Fatal(err)
			}
			if status != supervisor.ExitCannotServe || !strings.Contains(out, tc.want) {
				t.Errorf("check exited %d saying %q; want %d and a message naming %s", status, out, supervisor.ExitCannotServe, tc.want)
			}
		})
	}
}

// TestDurableReuse checks that a runtime reusing sandboxes gives each
// cluster the node containers its suite asks for: durable after plain,
// plain after durable.
func TestDurableReuse(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: testnodeBin, ReuseSandboxes: true})
	must(t, err)
	t.Cleanup(func() { rt.Close() })
	var runs []string
	t.Cleanup(func() {
		for _, run := range runs {
			assertNothingLeft(t, rt, run)
		}
	})
	for i, durable := range []bool{false, true, false} {
		c, err := rt.Create(ctx, cluster.Spec{Nodes: 1, ShutdownTimeout: 2 * time.Second, Events: cluster.NewEventLog(nil), Durable: durable})
		must(t, err)
		dc := c.(*dockerCluster)
		runs = append(runs, dc.run)
		waitHealthy(t, c, "n1")
		info, err := rt.cli.ContainerInspect(ctx, dc.nodes[0].containerID)
		must(t, err)
		if hasSysAdmin(info.HostConfig.CapAdd) != durable {
			t.Errorf("cluster %d (durable: %v): the node's container has capabilities %v", i+1, durable, info.HostConfig.CapAdd)
		}
		err = dc.PowerLoss(ctx, "n1")
		if durable && err != nil || !durable && !errors.Is(err, cluster.ErrNotDurable) {
			t.Errorf("cluster %d (durable: %v): power loss: %v", i+1, durable, err)
		}
		must(t, c.Close(ctx))
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDurableSandboxed checks that a sandboxed run, whose node containers
// drop every capability, still serves a durable DATA_DIR, and that its
// program holds nothing.
func TestDurableSandboxed(t *testing.T) {
	limits := DefaultSandboxLimits()
	c := testDurableClusterOpts(t, Options{Binary: testnodeBin, Sandbox: &limits})
	doFS(t, c, op{Op: "write", Path: "a", Data: "synced"}, op{Op: "fsync", Path: "a"}, op{Op: "fsyncdir", Path: "."},
		op{Op: "write", Path: "a", Data: "unsynced"})
	restart(t, c, c.PowerLoss)
	var got map[string]string
	getJSON(t, c, "n1", "/fs", &got)
	if got["a"] != "synced" {
		t.Errorf("after the power loss a holds %q, want synced", got["a"])
	}
	var p map[string]string
	getJSON(t, c, "n1", "/privileges", &p)
	if p["CapEff"] != "0000000000000000" || p["CapPrm"] != "0000000000000000" || p["mount_error"] == "" {
		t.Errorf("the sandboxed node's program holds %v", p)
	}
}

// TestDurableImageUser checks that the program runs as the user the image
// names, and can write to a DATA_DIR that the image gives that user.
func TestDurableImageUser(t *testing.T) {
	dir := t.TempDir()
	bin, err := os.ReadFile(testnodeBin)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "testnode"), bin, 0o755))
	must(t, os.Mkdir(filepath.Join(dir, "data"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "data", ".keep"), nil, 0o644))
	dockerfile := "FROM scratch\nCOPY testnode /app/testnode\nCOPY --chown=1000:1000 data/ /app/data/\nUSER 1000:1000\nENTRYPOINT [\"/app/testnode\"]\n"
	must(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644))
	c := testDurableClusterOpts(t, Options{Dir: dir})
	doFS(t, c, op{Op: "write", Path: "mine", Data: "x"}, op{Op: "fsync", Path: "mine"})
	var p map[string]string
	getJSON(t, c, "n1", "/privileges", &p)
	if p["CapEff"] != "0000000000000000" {
		t.Errorf("the program holds capabilities %s", p["CapEff"])
	}
	if uid := strings.Fields(p["Uid"]); len(uid) == 0 || uid[0] != "1000" {
		t.Errorf("the program runs as user %q, want the image's 1000", p["Uid"])
	}
	var status map[string]string
	getJSON(t, c, "n1", "/fs", &status)
	if status["mine"] != "x" {
		t.Errorf("DATA_DIR holds %v", status)
	}
}
