package attest_test

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func node(name, method, url string, status int, body string, passed bool, problems ...string) engine.NodeReport {
	return engine.NodeReport{
		Response: &engine.Response{Node: name, Method: method, URL: url, Status: status, Body: body,
			Header: http.Header{}},
		Passed:   passed,
		Problems: problems,
	}
}

func downNode(name, method, url string, err error) engine.NodeReport {
	return engine.NodeReport{Response: &engine.Response{Node: name, Method: method, URL: url, Err: err}}
}

var goldenFailures = []struct {
	name  string
	f     *engine.Failure
	color bool
}{
	{"single_node", &engine.Failure{
		Test: "GET Returns Stored Values", Pos: "kv_test.go:42", What: "GET /kv/key on n1",
		Nodes: []engine.NodeReport{node("n1", "GET", "http://127.0.0.1:40001/kv/key", 404, "key not found\n", false,
			"expected status is 200, got 404", `expected body is "value", got "key not found\n"`)},
		Hint: "GET /kv/{key} should return the value stored by the preceding PUT.\nCheck that PUT stores it first.",
	}, false},
	{"exactly_one_eventually", &engine.Failure{
		Test: "Leader Elected", Pos: "election.star:42:9", What: "GET /cluster/info on exactly_one_node()",
		Timing: engine.TimingEventually, Timeout: 5 * time.Second,
		Problem: "expected exactly one node to pass, none of 3 did",
		Nodes: []engine.NodeReport{
			node("n1", "GET", "http://127.0.0.1:40001/cluster/info", 200,
				`{"id":"10.0.42.101:8080","role":"follower","term":2,"leader":null,"peers":["10.0.42.102:8080","10.0.42.103:8080"]}`,
				false, `expected JSON "role" is "leader", got "follower"`),
			node("n2", "GET", "http://127.0.0.1:40002/cluster/info", 200, `{"role":"candidate","term":3}`,
				false, `expected JSON "role" is "leader", got "candidate"`),
			downNode("n3", "GET", "http://127.0.0.1:40003/cluster/info",
				errors.New("dial tcp 127.0.0.1:40003: connect: connection refused")),
		},
		Hint: "Start an election when no heartbeat arrives within the election timeout.",
	}, false},
	{"consistently_all_nodes", &engine.Failure{
		Pos: "election_test.go:80", What: `GET /cluster/info on all_nodes("n1", "n2")`,
		Timing: engine.TimingConsistently, Timeout: 3 * time.Second, Held: 1234 * time.Millisecond,
		Problem: "expected every node to pass, 1 of 2 did not (n2)",
		Nodes: []engine.NodeReport{
			node("n1", "GET", "http://127.0.0.1:40001/cluster/info", 200, `{"leader":null}`, true),
			node("n2", "GET", "http://127.0.0.1:40002/cluster/info", 200, `{"leader":"10.0.42.103:8080"}`, false,
				`expected JSON "leader" is null, got "10.0.42.103:8080"`),
		},
		Hint: "A minority partition must not elect a leader.",
	}, false},
	{"runtime_error", &engine.Failure{
		Test: "crash", Pos: "crash_test.go:17", What: "kill n1",
		Err: errors.New("n1: send SIGKILL: Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
	}, false},
	{"health_timeout", &engine.Failure{
		Test: "restart", Pos: "persistence.star:31:12", What: "restart n1 with SIGKILL",
		Err: &cluster.TargetError{Err: errors.New("node n1 did not answer GET /health with 200 within 10s " +
			"(last attempt: dial tcp 127.0.0.1:40001: connect: connection refused)\nlast log lines of n1:\n" +
			"    replaying log\n    panic: checksum mismatch in segment 3")},
	}, false},
	{"panic", &engine.Failure{
		Test: "find leader", Pos: "election_test.go:12",
		Err: &engine.PanicError{Value: "runtime error: invalid memory address or nil pointer dereference",
			Stack: "goroutine 7 [running]:\nmain.findLeader(...)\n\t/src/election_test.go:12 +0x1d"},
	}, false},
	{"nested_eventually", &engine.Failure{
		Test: "replicates", Pos: "replication.star:20:15", What: "eventually",
		Timing: engine.TimingEventually, Timeout: 2 * time.Second,
		Err: &engine.Failure{
			Pos: "replication.star:22:9", What: "GET /kv/x on n2",
			Nodes: []engine.NodeReport{node("n2", "GET", "http://127.0.0.1:40002/kv/x", 404, "key not found", false,
				"expected status is 200, got 404")},
		},
	}, false},
	{"long_bodies", &engine.Failure{
		Pos: "kv_test.go:90", What: "GET /kv/big on all_nodes()",
		Problem: "expected every node to pass, 2 of 2 did not (n1, n2)",
		Nodes: []engine.NodeReport{
			node("n1", "GET", "http://127.0.0.1:40001/kv/big", 200, strings.Repeat("0123456789", 500), false,
				`expected body is "x", got "…"`),
			node("n2", "GET", "http://127.0.0.1:40002/kv/big", 200, strings.Repeat("line\n", 60), false,
				`expected body is "x", got "…"`),
		},
	}, false},
	{"odd_bodies", &engine.Failure{
		Pos: "kv_test.go:99", What: "GET /kv/odd on all_nodes()",
		Problem: "expected every node to pass, 2 of 2 did not (n1, n2)",
		Nodes: []engine.NodeReport{
			node("n1", "GET", "http://127.0.0.1:40001/kv/odd", 500, "", false, "expected status is 200, got 500"),
			node("n2", "GET", "http://127.0.0.1:40002/kv/odd", 200, "\xff\xfebinary", false, `expected body is "x", got "\xff\xfebinary"`),
		},
	}, false},
	{"message", &engine.Failure{Test: "t", Pos: "kv_test.go:7", Problem: "n1 is down"}, false},
	{"color", &engine.Failure{
		Pos: "kv_test.go:42", What: "GET /kv/key on all_nodes()",
		Timing: engine.TimingEventually, Timeout: 5 * time.Second,
		Problem: "expected every node to pass, 1 of 2 did not (n2)",
		Nodes: []engine.NodeReport{
			node("n1", "GET", "http://127.0.0.1:40001/kv/key", 200, "value", true),
			node("n2", "GET", "http://127.0.0.1:40002/kv/key", 404, "key not found", false, "expected status is 200, got 404"),
		},
		Hint: "Replicate writes to every node.",
	}, true},
}

func TestFailureGolden(t *testing.T) {
	for _, tc := range goldenFailures {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.f.Format(&b, tc.color); err != nil {
				t.Fatal(err)
			}
			b.WriteString("--- Error()\n" + tc.f.Error() + "\n")
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs (run go test -update and review the diff):\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// TestFailureFromARun formats a real failure, with the ports made stable.
func TestFailureFromARun(t *testing.T) {
	h := func(node string, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if node == "n2" {
			w.Write([]byte(`{"role":"follower","term":1}`))
			return
		}
		w.Write([]byte(`{"role":"leader","term":1}`))
	}
	res, _ := run(t, suite(2).Test("all lead", func(do *Do) {
		do.GET(do.AllNodes(), "/cluster/info").
			JSON("role", Is("leader")).
			JSON("term", GreaterThan(0)).
			Hint("Every node claims leadership here.").
			Run()
	}), runtime(h))
	f := failure(t, res)
	var b bytes.Buffer
	f.Format(&b, false)
	got := b.String()
	contains(t, "output", got,
		"failure_test.go:",
		": GET /cluster/info on all_nodes()\nexpected every node to pass, 1 of 2 did not (n2)\n",
		"  n1 ✓ GET http://127.0.0.1:",
		"/cluster/info → 200 OK\n  n2 ✗ GET http://127.0.0.1:",
		"       expected JSON \"role\" is \"leader\", got \"follower\"\n       body:\n         {\n           \"role\": \"follower\",\n",
		"hint: Every node claims leadership here.\n")
	if strings.Contains(got, "\x1b[") {
		t.Error("colour without asking")
	}
}
