package docker

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// Spare nodes are made but not started; their environment and their
// members' say what the initial configuration is; a spare node starts
// later in the run like any stopped node.
func TestSpareNodes(t *testing.T) {
	c, events := testClusterSpare(t, 2, 1, Options{})
	ctx := context.Background()
	if got, want := c.Nodes(), []string{"n1", "n2", "n3"}; !slices.Equal(got, want) {
		t.Fatalf("Nodes() = %v, want %v", got, want)
	}
	if c.Running("n3") {
		t.Fatal("the spare node n3 runs before anyone started it")
	}
	if resp, err := httpClient.Get(mustURL(t, c, "n3") + "/health"); err == nil {
		resp.Body.Close()
		t.Fatalf("the spare node n3 answered /health with %d before it was started", resp.StatusCode)
	}
	a1, _ := c.Addr("n1")
	a2, _ := c.Addr("n2")
	a3, _ := c.Addr("n3")
	var info nodeInfo
	getJSON(t, c, "n1", "/info", &info)
	if !slices.Equal(info.Peers, []string{a2}) || !slices.Equal(info.Cluster, []string{a1, a2}) {
		t.Errorf("n1 got PEERS %v, CLUSTER %v; want [%s], [%s %s]: the spare node is no member", info.Peers, info.Cluster, a2, a1, a2)
	}

	if err := c.Start(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c, "n3")
	getJSON(t, c, "n3", "/info", &info)
	if info.Addr != a3 || !slices.Equal(info.Peers, []string{a1, a2}) || !slices.Equal(info.Cluster, []string{a1, a2}) {
		t.Errorf("n3 got ADDR %s, PEERS %v, CLUSTER %v; want %s, every member, and the members", info.Addr, info.Peers, info.Cluster, a3)
	}
	if info.Starts != 1 || info.Previous != "first" {
		t.Errorf("n3 starts %d, previous %q: want its first start on a fresh DATA_DIR", info.Starts, info.Previous)
	}
	// The spare node is in the network like the others.
	if got := reachability(t, c)["n3"]; !slices.Equal(got, []string{"n1", "n2"}) {
		t.Errorf("n3 reaches %v, want n1 and n2", got)
	}
	var started bool
	for _, e := range events.Events() {
		started = started || (e.Node == "n3" && e.Kind == cluster.EventStart)
	}
	if !started {
		t.Error("no START event for n3")
	}
}

// DataSize measures what a node wrote to DATA_DIR, from outside it,
// whether it runs or not.
func TestDataSize(t *testing.T) {
	c, _ := testCluster(t, 1, Options{})
	ctx := context.Background()
	before, err := c.DataSize(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	// The test node's start record is all there is.
	if before <= 0 || before > 1024 {
		t.Fatalf("DATA_DIR of a fresh test node holds %d bytes; want its small start record", before)
	}
	const size = 300_000
	req, _ := http.NewRequest(http.MethodPut, mustURL(t, c, "n1")+"/data/blob", strings.NewReader(strings.Repeat("x", size)))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /data/blob: %d", resp.StatusCode)
	}
	after, err := c.DataSize(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if after != before+size {
		t.Errorf("DATA_DIR holds %d bytes after writing %d more to %d; want %d", after, size, before, before+size)
	}
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	stopped, err := c.DataSize(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if stopped != after {
		t.Errorf("DATA_DIR of the killed node holds %d bytes, %d while it ran", stopped, after)
	}
	if _, err := c.DataSize(ctx, "n9"); err == nil {
		t.Error("DataSize of an unknown node succeeded")
	}
}

func mustURL(t *testing.T, c *dockerCluster, name string) string {
	t.Helper()
	u, err := c.URL(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
