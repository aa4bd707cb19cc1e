package attest_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/attesttest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

// Spare nodes are in the cluster's node list but not started, and the run
// does not wait for them; a test starts one like a stopped node. Each node
// learns the initial configuration, which spare nodes are not in.
func TestSpareNodes(t *testing.T) {
	var members, peers map[string][]string = map[string][]string{}, map[string][]string{}
	rt := attesttest.New(func(n *attesttest.Node) http.Handler {
		members[n.Name], peers[n.Name] = n.Members, n.Peers
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	})
	var seen []string
	var runningBefore, runningAfter bool
	s := suite(2, WithSpare(1)).Test("start the spare node", func(do *Do) {
		seen = do.AllNodeNames()
		runningBefore = do.Running("n3")
		do.Start("n3")
		runningAfter = do.Running("n3")
	})
	res, _ := run(t, s, rt)
	if !res.Passed() {
		t.Fatal(res.FirstError())
	}
	if !slices.Equal(seen, []string{"n1", "n2", "n3"}) {
		t.Errorf("AllNodeNames() = %v, want the spare node last", seen)
	}
	if runningBefore || !runningAfter {
		t.Errorf("the spare node ran before Start: %v; after: %v", runningBefore, runningAfter)
	}
	c := rt.Last()
	a1, _ := c.Addr("n1")
	a2, _ := c.Addr("n2")
	if !slices.Equal(members["n3"], []string{a1, a2}) || !slices.Equal(peers["n3"], []string{a1, a2}) {
		t.Errorf("the spare node got members %v, peers %v; want the two members as both", members["n3"], peers["n3"])
	}
	if !slices.Equal(peers["n1"], []string{a2}) {
		t.Errorf("n1 got peers %v; want n2 only, not the spare node", peers["n1"])
	}
}

func TestSpareNodesInvalid(t *testing.T) {
	err := New(WithCluster(3), WithSpare(-1)).Config().Validate()
	if err == nil || !strings.Contains(err.Error(), "spare nodes -1") {
		t.Errorf("Validate() = %v; want an error about spare nodes", err)
	}
}

// DataSize asks the runtime and logs what it measured; a runtime error is
// not the target's fault.
func TestDataSize(t *testing.T) {
	rt := runtime(func(string, http.ResponseWriter, *http.Request) {})
	rt.DataSize = func(node string) (int64, error) {
		if node == "n2" {
			return 0, errors.New("no volume")
		}
		return 4096, nil
	}
	var got int64
	s := suite(2).
		Test("measure", func(do *Do) { got = do.DataSize("n1") }).
		Test("fail to measure", func(do *Do) { do.DataSize("n2") })
	res, events := run(t, s, rt)
	if got != 4096 {
		t.Errorf("DataSize(n1) = %d, want 4096", got)
	}
	if res.Tests[0].Status != engine.TestPassed || res.Tests[1].Status != engine.TestFailed {
		t.Fatalf("results %+v", res.Tests)
	}
	if engine.Blame(res.Tests[1].Err) || !strings.Contains(res.Tests[1].Err.Error(), "no volume") {
		t.Errorf("a runtime error measuring DATA_DIR: %v (blamed on the target: %v)", res.Tests[1].Err, engine.Blame(res.Tests[1].Err))
	}
	logged := slices.ContainsFunc(events, func(e cluster.Event) bool { return e.Node == "n1" && e.Text() == "DATA_DIR: 4096 bytes" })
	if !logged {
		t.Error("no DATA_DIR event for n1")
	}
}
