package attest_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// roles answers GET /role with the node's role: n1 leads, n2 and n3 follow.
func roles() handlerFunc {
	return func(node string, w http.ResponseWriter, r *http.Request) {
		if node == "n1" {
			io.WriteString(w, "leader")
			return
		}
		io.WriteString(w, "follower")
	}
}

func TestSelectors(t *testing.T) {
	tests := []struct {
		name    string
		sel     func(do *Do) NodeSelector
		role    string
		pass    bool
		problem string // part of the failure's one-line form
	}{
		{"node passes", func(do *Do) NodeSelector { return Node("n1") }, "leader", true, ""},
		{"node fails", func(do *Do) NodeSelector { return Node("n2") }, "leader", false,
			`expected body is "leader", got "follower"`},
		{"all nodes fail", func(do *Do) NodeSelector { return do.AllNodes() }, "leader", false,
			"expected every node to pass, 2 of 3 did not (n2, n3); n2: expected body"},
		{"all nodes pass", func(do *Do) NodeSelector { return do.AllNodes() }, "", true, ""},
		{"all named pass", func(do *Do) NodeSelector { return do.AllNodes("n2", "n3") }, "follower", true, ""},
		{"all named fail", func(do *Do) NodeSelector { return do.AllNodes("n1", "n2") }, "follower", false,
			"1 of 2 did not (n1)"},
		{"exactly one passes", func(do *Do) NodeSelector { return do.ExactlyOneNode() }, "leader", true, ""},
		{"exactly one, none", func(do *Do) NodeSelector { return do.ExactlyOneNode("n2", "n3") }, "leader", false,
			"expected exactly one node to pass, none of 2 did"},
		{"exactly one, two", func(do *Do) NodeSelector { return do.ExactlyOneNode() }, "follower", false,
			"expected exactly one node to pass, 2 did (n2, n3)"},
		{"at least one passes", func(do *Do) NodeSelector { return do.AtLeastOneNode() }, "follower", true, ""},
		{"at least one, none", func(do *Do) NodeSelector { return do.AtLeastOneNode("n2", "n3") }, "leader", false,
			"expected at least one node to pass, none of 2 did"},
		{"except passes", func(do *Do) NodeSelector { return do.ExceptNodes("n1") }, "follower", true, ""},
		{"except fails", func(do *Do) NodeSelector { return do.ExceptNodes("n2") }, "follower", false,
			"1 of 2 did not (n1)"},
		{"unknown node", func(do *Do) NodeSelector { return Node("n9") }, "leader", false,
			`no node named "n9" in this cluster (nodes: n1, n2, n3)`},
		{"unknown in subset", func(do *Do) NodeSelector { return do.AllNodes("n1", "x") }, "leader", false,
			`no node named "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := suite(3).Test(tc.name, func(do *Do) {
				c := do.GET(tc.sel(do), "/role")
				if tc.role != "" {
					c.Body(Is(tc.role))
				}
				c.Run()
			})
			res, _ := run(t, s, runtime(roles()))
			if tc.pass {
				passes(t, res)
				return
			}
			f := failure(t, res)
			contains(t, "failure", f.Error(), tc.problem)
		})
	}
}

func TestSelectorsLeaveOutStoppedNodes(t *testing.T) {
	var names, except, named, nodes, all []string
	s := suite(3).Test("kill n1", func(do *Do) {
		do.Kill("n1")
		names = do.Names(do.AllNodes())
		except = do.Names(do.ExceptNodes("n2"))
		named = do.Names(do.AllNodes("n1", "n3"))
		nodes = do.Nodes()
		all = do.AllNodeNames()
		do.GET(do.AllNodes(), "/role").Body(Is("follower")).Run()
		do.GET(do.ExactlyOneNode(), "/role").Body(Is("leader")).Run()
	})
	res, _ := run(t, s, runtime(roles()))
	f := failure(t, res)
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"Names(AllNodes())", names, []string{"n2", "n3"}},
		{"Names(ExceptNodes(n2))", except, []string{"n3"}},
		{"Names(AllNodes(n1, n3))", named, []string{"n1", "n3"}},
		{"Nodes()", nodes, []string{"n2", "n3"}},
		{"AllNodeNames()", all, []string{"n1", "n2", "n3"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// AllNodes() passed without n1; ExactlyOneNode() finds no leader among
	// the running nodes.
	contains(t, "failure", f.Error(), "exactly_one_node()", "none of 2 did")
}

func TestRequestToStoppedNodeFails(t *testing.T) {
	s := suite(2).Test("stop n2", func(do *Do) {
		do.Stop("n2")
		do.GET(do.AllNodes("n1", "n2"), "/role").Status(Is(200)).Run()
	})
	res, _ := run(t, s, runtime(roles()))
	f := failure(t, res)
	if len(f.Nodes) != 2 || f.Nodes[0].Err != nil || f.Nodes[1].Err == nil {
		t.Fatalf("want n1 answered and n2 a connection error, got %+v", f.Nodes)
	}
	contains(t, "failure", f.Error(), "n2: ", "connection refused")
}

func TestNoRunningNode(t *testing.T) {
	s := suite(1).Test("kill all", func(do *Do) {
		do.Kill("n1")
		do.GET(do.AllNodes(), "/role").Run()
	})
	res, _ := run(t, s, runtime(roles()))
	contains(t, "failure", failure(t, res).Error(), "no running node")
}

func TestSelectorString(t *testing.T) {
	var do *Do
	tests := []struct {
		sel  NodeSelector
		want string
	}{
		{Node("n1"), `node("n1")`},
		{do.AllNodes(), "all_nodes()"},
		{do.AllNodes("n1", "n2"), `all_nodes("n1", "n2")`},
		{do.ExactlyOneNode(), "exactly_one_node()"},
		{do.AtLeastOneNode("n3"), `at_least_one_node("n3")`},
		{do.ExceptNodes("n1"), `except_nodes("n1")`},
		{NodeSelector{}, "all_nodes()"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.sel.String(); got != tc.want {
				t.Errorf("String() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestEmptyNodeNameIsTheTargets checks the rule that an empty node name,
// as a lookup of the leader in the nodes' answers gives when there is
// none, fails the target (exit 1), while a name that is simply not in the
// cluster is an error of the suite (exit 2).
func TestEmptyNodeNameIsTheTargets(t *testing.T) {
	findLeader := func(do *Do) (string, bool) {
		for _, name := range do.Nodes() {
			if r := do.Fetch(name, "/role"); r != nil && r.Response.Body == "nobody leads" {
				return name, true
			}
		}
		return "", false
	}
	tests := []struct {
		name string
		body func(do *Do)
		want engine.Verdict
		msg  string
	}{
		{"except no leader", func(do *Do) {
			leaderNode, _ := findLeader(do)
			do.GET(do.ExactlyOneNode(do.Names(do.ExceptNodes(leaderNode))...), "/role").Run()
		}, engine.VerdictFail, `no node named "" in this cluster (nodes: n1, n2, n3): an empty node name`},
		{"restart no leader", func(do *Do) {
			leaderNode, _ := findLeader(do)
			do.Restart(leaderNode)
		}, engine.VerdictFail, `restart : no node named ""`},
		{"check on no leader", func(do *Do) {
			leaderNode, _ := findLeader(do)
			do.GET(Node(leaderNode), "/role").Run()
		}, engine.VerdictFail, `no node named ""`},
		{"unknown name", func(do *Do) { do.Kill("n9") }, engine.VerdictError, `no node named "n9"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := run(t, suite(3).Test("t", tc.body), runtime(roles()))
			if got := res.Verdict(); got != tc.want {
				t.Errorf("verdict %v, want %v (%v)", got, tc.want, res.FirstError())
			}
			contains(t, "error", fmt.Sprint(res.FirstError()), tc.msg)
		})
	}
}
