package challenges

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/testkit/testenv"
	"github.com/clstr-dev/clstr/registry"
)

// The matrix runs the built-in stages on real containers against the
// example targets: the correct programs must pass every stage, and each
// planted bug must fail the stage meant to catch it at the test meant to
// catch it. By default only the cases marked ci run: every stage's correct
// example and one or two bugs of the first five stages. The whole matrix
// adds every other bug:
//
//	CLSTR_FULL_MATRIX=1 go test ./challenges/ -run Matrix -timeout 60m -v
//
// One stage, or one case, by name:
//
//	CLSTR_FULL_MATRIX=1 go test ./challenges/ -run 'Matrix/leader-election/' -v
//	go test ./challenges/ -run 'Matrix/crash-recovery/lost-on-sigkill' -v
//
// The gossip challenge's cases are named gossip/<stage>/<bug>:
//
//	CLSTR_FULL_MATRIX=1 go test ./challenges/ -run 'Matrix/gossip/' -timeout 20m -v

// fullMatrixEnv, when set to anything, runs the whole matrix.
const fullMatrixEnv = "CLSTR_FULL_MATRIX"

// Example targets, and the variable that plants their bugs.
const (
	kv     = "kv"
	raft   = "raft"
	gossip = "gossip"
)

var bugEnv = map[string]string{kv: "KV_BUG", raft: "RAFT_BUG", gossip: "GOSSIP_BUG"}

// Expected outcomes: pass, or the name of the test that fails.
const pass = ""

type matrixCase struct {
	stage  string // stage key in kv-store (in gossip for gossipMatrix)
	target string // kv, raft or gossip, from examples/
	bug    string // planted bug; "" for the correct program
	fails  string // the test that must fail, or tests joined by " | " of which one must; pass for none
	ci     bool   // run on every `go test`, not only in the full matrix
}

// failsAt reports whether the case may fail at the test named name.
func (c matrixCase) failsAt(name string) bool {
	return c.fails != pass && slices.Contains(strings.Split(c.fails, " | "), name)
}

func (c matrixCase) name() string {
	if c.bug == "" {
		return c.stage + "/correct"
	}
	return c.stage + "/" + c.bug
}

var matrix = []matrixCase{
	{"http-api", kv, "", pass, true},
	{"http-api", kv, "case-fold", "Keys Are Case-Sensitive", true},
	{"http-api", kv, "empty-value", "Empty Keys and Values Are Rejected", false},
	{"http-api", kv, "delete-missing-404", "DELETE Is Idempotent", false},
	{"http-api", kv, "racy", "Concurrent Writes to Different Keys", true},
	{"http-api", kv, "no-405", "Unsupported Methods Answer 405", false},
	{"http-api", kv, "octet-stream", "Answers Are Plain Text", true},
	// Bugs of later stages do not trip an earlier one.
	{"http-api", kv, "memory-only", pass, false},
	{"http-api", kv, "sigterm-only", pass, false},
	{"http-api", kv, "lost-on-sigkill", pass, false},
	{"http-api", kv, "clear-not-durable", pass, false},
	{"http-api", kv, "no-fsync", pass, false},

	{"persistence", kv, "", pass, true},
	{"persistence", kv, "memory-only", "Data Survives a Graceful Restart", true},
	{"persistence", kv, "clear-not-durable", "CLEAR Survives a Restart", true},
	{"persistence", kv, "sigterm-only", pass, false},
	{"persistence", kv, "lost-on-sigkill", pass, false},
	{"persistence", kv, "octet-stream", pass, false},
	{"persistence", kv, "no-fsync", "Data Survives a Stop and a Power Loss", true},
	{"persistence", kv, "no-dir-fsync", "Data Survives a Stop and a Power Loss", false},

	{"crash-recovery", kv, "", pass, true},
	{"crash-recovery", kv, "lost-on-sigkill", "Acknowledged Writes Survive SIGKILL", true},
	{"crash-recovery", kv, "sigterm-only", "Acknowledged Writes Survive SIGKILL", false},
	{"crash-recovery", kv, "memory-only", "Acknowledged Writes Survive SIGKILL", false},
	{"crash-recovery", kv, "clear-not-durable", "CLEAR Survives SIGKILL", false},
	{"crash-recovery", kv, "no-fsync", "Acknowledged Writes Survive a Power Loss", false},
	{"crash-recovery", kv, "no-dir-fsync", "Acknowledged Writes Survive a Power Loss", true},

	{"leader-election", raft, "", pass, true},
	{"leader-election", raft, "two-leaders", "Exactly One Leader, Followed by Every Node", true},
	{"leader-election", raft, "no-redirect", "Followers Redirect to the Leader", false},
	{"leader-election", raft, "minority-leader", "Minority Partition Never Elects a Leader", false},
	{"leader-election", raft, "ignore-delayed", "Leader With Delayed Traffic Loses Leadership", false},
	{"leader-election", raft, "revote", "One Leader per Term, in Every Answer", false},
	{"leader-election", raft, "ack-before-commit", pass, false},
	{"leader-election", raft, "lease-reads", pass, false},
	{"leader-election", raft, "tick-lease", pass, false},

	{"log-replication", raft, "", pass, true},
	{"log-replication", raft, "ack-before-commit", "Writes Return 200 Only Once Committed on a Majority", true},
	{"log-replication", raft, "minority-leader", "Writes Return 200 Only Once Committed on a Majority", false},
	{"log-replication", raft, "lease-reads", "Concurrent Clients See a Linearizable Store", false},
	{"log-replication", raft, "tick-lease", "Safe Under a Random Nemesis", false},
	{"log-replication", raft, "log-never-shrinks", pass, false},

	{"log-compaction", raft, "", pass, true},
	{"log-compaction", raft, "snapshot-no-term", "The Log Is Compacted Into a Snapshot", false},
	{"log-compaction", raft, "log-never-shrinks", "DATA_DIR Stays Bounded", false},
	// A follower still answering can lag behind the leader's snapshot in
	// the burst of the first test, and need InstallSnapshot there already.
	{"log-compaction", raft, "no-install-snapshot", "A Follower That Was Down Catches Up From a Snapshot | The Log Is Compacted Into a Snapshot", false},
	{"log-compaction", raft, "snapshot-without-data", "A Restarted Cluster Recovers From Snapshot and Log", false},
	{"log-compaction", raft, "count-before-caught-up", pass, false},

	{"membership-changes", raft, "", pass, true},
	{"membership-changes", raft, "count-before-caught-up", "A New Node Catches Up Before It Counts", false},
	{"membership-changes", raft, "removed-disrupts", "A Removed Follower Cannot Disrupt the Cluster", false},
	{"membership-changes", raft, "leader-stays", "A Removed Leader Steps Down", false},
	{"membership-changes", raft, "skip-joint", pass, false},

	{"joint-consensus", raft, "", pass, true},
	{"joint-consensus", raft, "skip-joint", "Nodes Join and Leave Together Through a Joint Configuration", false},
	{"joint-consensus", raft, "new-majority-only", "A Change Needs a Majority of the Old Configuration Too", false},
}

// gossipMatrix is the matrix of the gossip challenge, whose cases are
// named gossip/<stage>/<bug>. Its clusters take a minute or more a stage,
// so two cases run in CI: five nodes, and 25 under delay with their
// traffic counted.
var gossipMatrix = []matrixCase{
	{"single-node-broadcast", gossip, "", pass, false},
	{"single-node-broadcast", gossip, "no-retry", pass, false},
	{"single-node-broadcast", gossip, "flood", pass, false},

	{"multi-node-broadcast", gossip, "", pass, true},
	{"multi-node-broadcast", gossip, "flood", pass, false},

	{"fault-tolerant-broadcast", gossip, "", pass, false},
	{"fault-tolerant-broadcast", gossip, "no-retry", "Messages Sent During a Partition Reach Every Node After It Heals", false},
	{"fault-tolerant-broadcast", gossip, "flood", pass, false},

	{"fast-broadcast", gossip, "", pass, false},
	{"fast-broadcast", gossip, "flood", "Broadcasts Show Everywhere Fast, Without Flooding", false},
	{"fast-broadcast", gossip, "no-retry", pass, false},

	{"frugal-broadcast", gossip, "", pass, true},
	{"frugal-broadcast", gossip, "flood", "Broadcasts Cost Few Packets Between Nodes", false},

	{"grow-only-counter", gossip, "", pass, false},
	{"grow-only-counter", gossip, "double-count", "Acknowledged Adds Survive a Crash", false},
	{"grow-only-counter", gossip, "forget-decrements", pass, false},
	{"grow-only-counter", gossip, "flood", pass, false},
	// no-retry is not in the counter stages: a state sent on a connection
	// that a partition cut is delivered by TCP's own retransmission once
	// it heals, and one state that arrives carries every earlier one.

	{"pn-counter", gossip, "", pass, false},
	{"pn-counter", gossip, "forget-decrements", "Every Node Reads the Sum of Increments and Decrements", false},
	{"pn-counter", gossip, "flood", pass, false},
}

// TestMatrixNames checks, without Docker, that the matrix names real
// stages and tests, so that renaming a test cannot make a case vacuous.
func TestMatrixNames(t *testing.T) {
	checkMatrixNames(t, "kv-store", matrix, true)
	checkMatrixNames(t, "gossip", gossipMatrix, false)
}

// checkMatrixNames checks that the cases of a challenge's matrix name its
// stages and tests, and that every stage has a case of its correct
// example (in CI too, if inCI).
func checkMatrixNames(t *testing.T, key string, cases []matrixCase, inCI bool) {
	t.Helper()
	c, ok := registry.Lookup(key)
	if !ok {
		t.Fatalf("no challenge %s", key)
	}
	covered := map[string]bool{}
	for _, mc := range cases {
		stage, ok := c.Stage(mc.stage)
		if !ok {
			t.Errorf("%s: %s has no stage %q", mc.name(), key, mc.stage)
			continue
		}
		if mc.bug == "" && (mc.ci || !inCI) {
			covered[mc.stage] = true
		}
		if mc.fails == pass {
			continue
		}
		suite, err := stage.Suite()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range strings.Split(mc.fails, " | ") {
			if !slices.Contains(suite.TestNames(), want) {
				t.Errorf("%s: stage %s has no test %q", mc.name(), mc.stage, want)
			}
		}
	}
	for _, s := range c.Stages {
		if !covered[s.Key] {
			t.Errorf("%s stage %s: the matrix does not run its correct example", key, s.Key)
		}
	}
}

func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the matrix runs clusters of containers")
	}
	dockerOrSkip(t)
	checkNothingLeftAfter(t)
	full := os.Getenv(fullMatrixEnv) != ""
	var cases []suiteCase
	add := func(key, prefix string, mcs []matrixCase) {
		c, _ := registry.Lookup(key)
		for _, mc := range mcs {
			name := prefix + mc.name()
			if !mc.ci && !full {
				t.Run(name, func(t *testing.T) { t.Skipf("in the full matrix only: set %s=1", fullMatrixEnv) })
				continue
			}
			stage, _ := c.Stage(mc.stage)
			suite, err := stage.Suite()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cases = append(cases, suiteCase{name, suite, mc})
		}
	}
	add("gossip", "gossip/", gossipMatrix)
	add("kv-store", "", matrix)
	runCases(t, cases)
}

// suiteCase is a suite to run against one example, with the outcome mc
// expects, as subtest name.
type suiteCase struct {
	name  string
	suite *attest.Suite
	mc    matrixCase
}

// maxSharedNodes is the largest cluster whose case runs beside another.
// The stages' clusters of up to seven nodes spend most of their time
// waiting on timeouts, elections and restarts, and the runner uses well
// under a core; the 25-node stages keep two cores busy and time their
// broadcasts, so they run alone.
const maxSharedNodes = 7

// runCases runs each case as a subtest of t: those of large clusters one
// at a time, then the others two at a time, the Raft cases first (they
// take the longest), each in the order given.
func runCases(t *testing.T, cases []suiteCase) {
	var shared []suiteCase
	for _, c := range cases {
		if cfg := c.suite.Config(); cfg.Nodes+cfg.Spare > maxSharedNodes {
			t.Run(c.name, func(t *testing.T) { runSuiteCase(t, c.suite, c.mc, false) })
			continue
		}
		shared = append(shared, c)
	}
	raftFirst := func(c suiteCase) int {
		if c.mc.target == raft {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(shared, func(a, b suiteCase) int { return cmp.Compare(raftFirst(a), raftFirst(b)) })
	queue := make(chan suiteCase)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for c := range queue {
				t.Run(c.name, func(t *testing.T) { runSuiteCase(t, c.suite, c.mc, true) })
			}
		})
	}
	for _, c := range shared {
		queue <- c
	}
	close(queue)
	wg.Wait()
}

// runSuiteCase runs a suite against one example and checks the outcome
// that mc expects. A shared case runs beside another.
func runSuiteCase(t *testing.T, suite *attest.Suite, mc matrixCase, shared bool) {
	bin := exampleBinary(t, mc.target)
	opts := docker.Options{Binary: bin, LogDir: t.TempDir()}
	if mc.bug != "" {
		opts.Env = map[string]string{bugEnv[mc.target]: mc.bug}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt, err := docker.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	var events bytes.Buffer
	res := suite.Run(ctx, engine.RunOptions{Runtime: rt, Events: cluster.NewEventLog(&events)})
	if !shared {
		// A shared case's leftovers cannot be told from the other's
		// live cluster: checkNothingLeftAfter looks once both are done.
		defer assertNothingLeft(t, rt.Client())
	}

	report := func() string {
		var b strings.Builder
		for _, tr := range res.Tests {
			fmt.Fprintf(&b, "  %-7s %s (%v)\n", tr.Status, tr.Name, tr.Duration.Round(time.Millisecond))
		}
		if err := res.FirstError(); err != nil {
			var f *engine.Failure
			if errors.As(err, &f) {
				f.Format(&b, false)
			} else {
				fmt.Fprintf(&b, "%v\n", err)
			}
		}
		fmt.Fprintf(&b, "events:\n%s", tail(events.String(), 40))
		for _, n := range []string{"n1", "n2", "n3", "n4", "n5"} {
			if log, err := os.ReadFile(filepath.Join(opts.LogDir, n+".log")); err == nil {
				fmt.Fprintf(&b, "%s.log:\n%s", n, tail(string(log), 15))
			}
		}
		return b.String()
	}
	t.Logf("%s in %v", res.Verdict(), res.Duration.Round(time.Millisecond))

	if res.Err != nil {
		t.Fatalf("the run stopped outside any test (a runner or cluster problem, not a verdict): %v\n%s", res.Err, report())
	}
	if res.CleanupErr != nil {
		t.Errorf("cleanup: %v", res.CleanupErr)
	}
	verdict := res.Verdict()
	if mc.fails == pass {
		if verdict != engine.VerdictPass {
			t.Fatalf("verdict %v; want pass\n%s", verdict, report())
		}
		return
	}
	if verdict != engine.VerdictFail {
		t.Fatalf("verdict %v; want the target to fail at %q\n%s", verdict, mc.fails, report())
	}
	for _, tr := range res.Tests {
		if tr.Status != engine.TestFailed {
			continue
		}
		if !mc.failsAt(tr.Name) {
			t.Fatalf("failed at %q; want %q\n%s", tr.Name, mc.fails, report())
		}
		var f *engine.Failure
		var pe *engine.PanicError
		switch {
		case !errors.As(tr.Err, &f):
			t.Errorf("the failure is a %T, not an *engine.Failure: %v", tr.Err, tr.Err)
		case errors.As(tr.Err, &pe):
			t.Errorf("the test crashed rather than failed: %v\n%s", tr.Err, report())
		case hintOf(tr.Err) == "":
			t.Errorf("the failure carries no hint:\n%s", report())
		}
	}
	if testing.Verbose() {
		t.Logf("as expected:\n%s", report())
	}
}

// hintOf returns the hint of a failure, or of the failure inside it (a
// check in a helper, a fail() in eventually); fail() messages of the
// stages end in "hint: …".
func hintOf(err error) string {
	for err != nil {
		var f *engine.Failure
		if !errors.As(err, &f) {
			return ""
		}
		if f.Hint != "" {
			return f.Hint
		}
		if _, h, ok := strings.Cut(f.Problem, "\nhint: "); ok {
			return h
		}
		err = f.Err
	}
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// dockerOrSkip skips t under -short or without a Docker daemon (see
// testenv.Docker).
func dockerOrSkip(t testing.TB) {
	t.Helper()
	testenv.Docker(t)
}

// examples holds the example binaries, built once per test process.
var examples struct {
	once sync.Once
	dir  string
	err  error
}

// exampleBinary returns the path of examples/<name> built as a static
// binary, which the runtime wraps FROM scratch.
func exampleBinary(t *testing.T, name string) string {
	t.Helper()
	examples.once.Do(func() {
		examples.dir, examples.err = os.MkdirTemp("", "clstr-examples-")
		if examples.err != nil {
			return
		}
		for _, ex := range []string{kv, raft, gossip} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(examples.dir, ex), "github.com/clstr-dev/clstr/examples/"+ex)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				examples.err = fmt.Errorf("build examples/%s: %v\n%s", ex, err, out)
				return
			}
		}
	})
	if examples.err != nil {
		t.Fatal(examples.err)
	}
	return filepath.Join(examples.dir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if examples.dir != "" {
		os.RemoveAll(examples.dir)
	}
	os.Exit(code)
}

// checkNothingLeftAfter makes t fail, once it and its subtests are done, if
// a container, network or volume that this process created is still there.
func checkNothingLeftAfter(t *testing.T) {
	t.Helper()
	cli, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer cli.Close()
		assertNothingLeft(t, cli)
	})
}

// assertNothingLeft fails the test if a container, network or volume that
// this process created is still there.
func assertNothingLeft(t *testing.T, cli *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", docker.LabelOwner+"="+docker.Owner()))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs)+len(ns)+len(vs.Volumes) > 0 {
		t.Errorf("left behind: %d containers, %d networks, %d volumes labelled %s=%s", len(cs), len(ns), len(vs.Volumes), docker.LabelOwner, docker.Owner())
	}
}
