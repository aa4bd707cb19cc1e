package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// testCluster starts an n-node cluster of the test node and removes it at
// the end of the test, checking that nothing of the run is left behind.
func testCluster(t testing.TB, n int, opts Options) (*dockerCluster, *cluster.EventLog) {
	t.Helper()
	return testClusterSpare(t, n, 0, opts)
}

// testClusterSpare is testCluster with spare nodes, which it leaves
// stopped.
func testClusterSpare(t testing.TB, n, spare int, opts Options) (*dockerCluster, *cluster.EventLog) {
	t.Helper()
	return testClusterSpec(t, cluster.Spec{Nodes: n, Spare: spare}, opts)
}

// testClusterSpec creates the cluster spec asks for (its events and
// shutdown timeout set here), waits until its initial nodes answer, and
// removes it at the end of the test, checking that nothing is left.
func testClusterSpec(t testing.TB, spec cluster.Spec, opts Options) (*dockerCluster, *cluster.EventLog) {
	t.Helper()
	dockerOrSkip(t)
	if opts.Binary == "" && opts.Dir == "" && opts.Image == "" {
		opts.Binary = testnodeBin
	}
	ctx := context.Background()
	rt, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	events := cluster.NewEventLog(nil)
	spec.ShutdownTimeout, spec.Events = 2*time.Second, events
	c, err := rt.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	dc := c.(*dockerCluster)
	t.Cleanup(func() {
		if err := c.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		assertNothingLeft(t, rt, dc.run)
		if t.Failed() {
			for _, e := range events.Events() {
				t.Log(e)
			}
			t.Log(c.LogTail("n1", 20))
		}
	})
	for _, name := range c.Nodes()[:spec.Nodes] {
		waitHealthy(t, c, name)
	}
	return dc, events
}

// assertNothingLeft fails the test if any container, network or volume of
// the run still exists.
func assertNothingLeft(t testing.TB, rt *Runtime, run string) {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", LabelRun+"="+run))
	cs, err := rt.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := rt.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := rt.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs)+len(ns)+len(vs.Volumes) > 0 {
		t.Errorf("run %s left %d containers, %d networks, %d volumes", run, len(cs), len(ns), len(vs.Volumes))
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func waitHealthy(t testing.TB, c cluster.Cluster, name string) {
	t.Helper()
	u, err := c.URL(name)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := httpClient.Get(u + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never healthy: %v; log: %q", name, err, c.LogTail(name, 10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getJSON fetches path from a node and decodes its JSON answer into v.
func getJSON(t testing.TB, c cluster.Cluster, name, path string, v any) {
	t.Helper()
	u, err := c.URL(name)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Get(u + path)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s on %s: %d %s", path, name, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s on %s: %v in %s", path, name, err, b)
	}
}

type nodeInfo struct {
	Addr     string   `json:"addr"`
	Peers    []string `json:"peers"`
	Cluster  []string `json:"cluster"`
	DataDir  string   `json:"data_dir"`
	Previous string   `json:"previous"`
	Starts   int      `json:"starts"`
}

type reach map[string]struct {
	TCP bool `json:"tcp"`
	UDP bool `json:"udp"`
}

// reachability returns, for every node, the set of peers (by node name) it
// reaches over both TCP and UDP, as seen from inside the cluster; a peer
// reachable over one protocol only is reported as "nX:tcp" or "nX:udp".
func reachability(t *testing.T, c *dockerCluster) map[string][]string {
	t.Helper()
	byAddr := map[string]string{}
	for _, n := range c.nodes {
		byAddr[c.addr(n)] = n.name
	}
	out := map[string][]string{}
	for _, n := range c.nodes {
		var r reach
		getJSON(t, c, n.name, "/probe", &r)
		for _, p := range c.nodes {
			if p == n {
				continue
			}
			got := r[c.addr(p)]
			switch {
			case got.TCP && got.UDP:
				out[n.name] = append(out[n.name], p.name)
			case got.TCP:
				out[n.name] = append(out[n.name], p.name+":tcp")
			case got.UDP:
				out[n.name] = append(out[n.name], p.name+":udp")
			}
		}
	}
	return out
}

func fmtReach(m map[string][]string) string { return fmt.Sprint(m) }
