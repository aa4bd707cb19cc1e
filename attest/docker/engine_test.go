package docker_test

// End-to-end tests of the attest engine on real containers of the test node
// (internal/testkit/testnode): every method, every selector's pass and fail
// semantics, timing, node management, partitions, and cleanup on every path.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

var (
	nodeBinOnce sync.Once
	nodeBin     string
	nodeBinErr  error
)

// testnode builds internal/testkit/testnode statically, once per test binary.
func testnode(t testing.TB) string {
	t.Helper()
	nodeBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clstr-engine-test")
		if err != nil {
			nodeBinErr = err
			return
		}
		nodeBin = filepath.Join(dir, "testnode")
		cmd := exec.Command("go", "build", "-trimpath", "-o", nodeBin, "../../internal/testkit/testnode")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			nodeBinErr = fmt.Errorf("build testnode: %v\n%s", err, out)
		}
	})
	if nodeBinErr != nil {
		t.Fatal(nodeBinErr)
	}
	return nodeBin
}

// runSuite runs s on the test node and checks afterwards that the run left
// no container, network or volume behind.
func runSuite(t *testing.T, s *Suite, opts docker.Options) *engine.Result {
	t.Helper()
	testenv.Docker(t)
	ctx := context.Background()
	if opts.Binary == "" {
		opts.Binary = testnode(t)
	}
	rt, err := docker.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	events := cluster.NewEventLog(nil)
	res := s.Run(ctx, engine.RunOptions{Runtime: rt, Events: events})
	if left := labelled(t, rt, docker.Owner()); left > 0 {
		t.Errorf("the run left %d labelled resources behind", left)
	}
	if t.Failed() || testing.Verbose() {
		for _, e := range events.Events() {
			t.Log(e)
		}
	}
	return res
}

// labelled counts the clstr containers, networks and volumes of an owner
// process (docker.Owner, docker.OwnerOf).
func labelled(t *testing.T, rt *docker.Runtime, owner string) int {
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", docker.LabelOwner+"="+owner))
	cs, err := rt.Client().ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := rt.Client().NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := rt.Client().VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs) + len(ns) + len(vs.Volumes)
}

// expectPass fails the test unless every test of the run passed.
func expectPass(t *testing.T, res *engine.Result) {
	t.Helper()
	if !res.Passed() {
		t.Fatalf("run failed: %v", res.FirstError())
	}
}

// expectFail fails the test unless the run failed at the named test with
// an error containing want.
func expectFail(t *testing.T, res *engine.Result, test, want string) {
	t.Helper()
	if res.Passed() {
		t.Fatalf("run passed; want %q to fail", test)
	}
	for _, tr := range res.Tests {
		if tr.Status == engine.TestFailed {
			if tr.Name != test || !strings.Contains(tr.Err.Error(), want) {
				t.Fatalf("failed at %q with %v; want %q failing with %q", tr.Name, tr.Err, test, want)
			}
			return
		}
	}
	t.Fatalf("no test failed; run error: %v", res.Err)
}

func TestEngineMethodsHeadersAndRedirects(t *testing.T) {
	s := New(WithCluster(1))
	for _, m := range []string{"GET", "PUT", "POST", "DELETE", "PATCH"} {
		s.Test(m, func(do *Do) {
			do.Request(m, Node("n1"), "/echo", "body of "+m, H{"X-Test": m}).
				Status(Is(200)).
				JSON("method", Is(m)).
				JSON("body", Is("body of "+m)).
				JSON("headers.X-Test", Is(m)).
				Run()
		})
	}
	s.Test("redirects are not followed", func(do *Do) {
		do.GET(Node("n1"), "/redirect").Status(Is(307)).Header("Location", Is("/echo")).Run()
	})
	expectPass(t, runSuite(t, s, docker.Options{}))
}

// Each selector on a 3-node cluster where exactly n2 answers differently:
// /info's addr is 10.0.42.102 only on n2.
func TestEngineSelectors(t *testing.T) {
	var n2 string
	isN2 := func(c *Check) *Check { return c.JSON("addr", Matches(`\.102:8080$`)) }
	tests := []struct {
		name string
		pass bool
		body func(do *Do)
	}{
		{"node passes", true, func(do *Do) { isN2(do.GET(Node("n2"), "/info")).Run() }},
		{"node fails", false, func(do *Do) { isN2(do.GET(Node("n1"), "/info")).Run() }},
		{"all nodes pass", true, func(do *Do) { do.GET(do.AllNodes(), "/health").Status(Is(200)).Run() }},
		{"all nodes fail if one fails", false, func(do *Do) { isN2(do.GET(do.AllNodes(), "/info")).Run() }},
		{"subset of all nodes", true, func(do *Do) { isN2(do.GET(do.AllNodes("n2"), "/info")).Run() }},
		{"exactly one passes", true, func(do *Do) { isN2(do.GET(do.ExactlyOneNode(), "/info")).Run() }},
		{"exactly one fails when none", false, func(do *Do) { do.GET(do.ExactlyOneNode("n1", "n3"), "/info").JSON("addr", Matches(`\.102:`)).Run() }},
		{"exactly one fails when all", false, func(do *Do) { do.GET(do.ExactlyOneNode(), "/health").Status(Is(200)).Run() }},
		{"at least one passes", true, func(do *Do) { isN2(do.GET(do.AtLeastOneNode(), "/info")).Run() }},
		{"at least one fails when none", false, func(do *Do) { isN2(do.GET(do.AtLeastOneNode("n1", "n3"), "/info")).Run() }},
		{"except passes", true, func(do *Do) {
			do.GET(do.ExceptNodes("n2"), "/info").JSON("addr", Not(Matches(`\.102:`))).Run()
		}},
		{"except fails", false, func(do *Do) { isN2(do.GET(do.ExceptNodes("n1"), "/info")).Run() }},
		{"names and nodes", true, func(do *Do) {
			if got := do.Names(do.ExceptNodes("n2")); strings.Join(got, ",") != "n1,n3" {
				do.Failf("Names(ExceptNodes(n2)) = %v", got)
			}
			if got := do.Nodes(); strings.Join(got, ",") != "n1,n2,n3" {
				do.Failf("Nodes() = %v", got)
			}
			n2 = do.Addr("n2")
		}},
		{"killed nodes leave all nodes", true, func(do *Do) {
			do.Kill("n3")
			do.GET(do.AllNodes(), "/health").Status(Is(200)).Run()
			if got := do.Names(do.AllNodes()); strings.Join(got, ",") != "n1,n2" {
				do.Failf("AllNodes() after killing n3 = %v", got)
			}
			do.Start("n3")
		}},
	}
	// One cluster for all cases: a suite per case would cost a cluster each.
	// Failing cases must fail, so each runs inside Eventually-free Ops.
	s := New(WithCluster(3))
	for _, tc := range tests {
		s.Test(tc.name, func(do *Do) {
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						f, ok := r.(*engine.Failure)
						if !ok {
							panic(r)
						}
						err = f
					}
				}()
				tc.body(do)
				return nil
			}()
			if tc.pass && err != nil {
				do.Failf("want pass, got %v", err)
			}
			if !tc.pass && err == nil {
				do.Failf("want the check to fail, it passed")
			}
		})
	}
	expectPass(t, runSuite(t, s, docker.Options{}))
	if n2 != "10.0.42.102:8080" && !strings.HasSuffix(n2, ".102:8080") {
		t.Errorf("Addr(n2) = %q", n2)
	}
}

func TestEngineEventuallyAndConsistently(t *testing.T) {
	s := New(WithCluster(2), WithRetryTimeout(5*time.Second)).
		Test("eventually sees a node come back", func(do *Do) {
			do.Kill("n2")
			done := make(chan struct{})
			go func() { // start n2 while the check waits
				defer close(done)
				time.Sleep(500 * time.Millisecond)
				do.Start("n2")
			}()
			do.GET(Node("n2"), "/info").Eventually().Status(Is(200)).JSON("previous", Is("killed")).Run()
			<-done
		}).
		Test("consistently holds", func(do *Do) {
			do.GET(do.AllNodes(), "/health").Consistently(time.Second).Status(Is(200)).Run()
		}).
		Test("consistently catches a change", func(do *Do) {
			go func() { time.Sleep(300 * time.Millisecond); do.Ops("").Kill("n1") }()
			do.GET(Node("n1"), "/health").Consistently(3 * time.Second).Status(Is(200)).Run()
		})
	res := runSuite(t, s, docker.Options{})
	expectFail(t, res, "consistently catches a change", "n1")
	if res.Tests[0].Status != engine.TestPassed || res.Tests[1].Status != engine.TestPassed {
		t.Errorf("results %+v", res.Tests)
	}
}

func TestEngineRestartsKeepDataDir(t *testing.T) {
	s := New(WithCluster(1)).
		Test("first run", func(do *Do) {
			do.GET(Node("n1"), "/info").JSON("previous", Is("first")).JSON("starts", Is(1)).Run()
		}).
		Test("restart is SIGTERM", func(do *Do) {
			do.Restart("n1")
			do.GET(Node("n1"), "/info").JSON("previous", Is("sigterm")).JSON("starts", Is(2)).Run()
		}).
		Test("restart with SIGKILL is a crash", func(do *Do) {
			do.Restart("n1", syscall.SIGKILL)
			do.GET(Node("n1"), "/info").JSON("previous", Is("killed")).JSON("starts", Is(3)).Run()
		}).
		Test("stop then start", func(do *Do) {
			do.Stop("n1")
			if r := do.Fetch("n1", "/health"); r != nil {
				do.Failf("a stopped node answered: %d", r.Status)
			}
			do.Start("n1")
			do.GET(Node("n1"), "/info").JSON("previous", Is("sigterm")).JSON("starts", Is(4)).Run()
		}).
		Test("kill then start", func(do *Do) {
			do.Kill("n1")
			do.Start("n1")
			do.GET(Node("n1"), "/info").JSON("previous", Is("killed")).JSON("starts", Is(5)).Run()
		})
	expectPass(t, runSuite(t, s, docker.Options{}))
}

func TestEnginePartitionFromInside(t *testing.T) {
	// sees checks, with one probe from inside node from, which peers it
	// reaches over TCP and UDP.
	sees := func(do *Do, from string, reach map[string]bool) {
		c := do.GET(Node(from), "/probe")
		for to, want := range reach {
			key := strings.ReplaceAll(do.Addr(to), ".", `\.`)
			c.JSON(key+".tcp", Is(fmt.Sprint(want))).JSON(key+".udp", Is(fmt.Sprint(want)))
		}
		c.Run()
	}
	side := func(n string) int {
		if n <= "n2" {
			return 1
		}
		return 2
	}
	s := New(WithCluster(5)).
		Test("2|3 partition cuts exactly the cross traffic", func(do *Do) {
			do.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
			for _, a := range do.Nodes() {
				reach := map[string]bool{}
				for _, b := range do.Nodes() {
					if a != b {
						reach[b] = side(a) == side(b)
					}
				}
				sees(do, a, reach)
			}
		}).
		Test("a restarted node stays cut off", func(do *Do) {
			do.Restart("n1", syscall.SIGKILL)
			sees(do, "n1", map[string]bool{"n2": true, "n3": false, "n4": false, "n5": false})
			sees(do, "n3", map[string]bool{"n1": false, "n4": true})
		}).
		Test("heal restores everything", func(do *Do) {
			do.Heal()
			sees(do, "n1", map[string]bool{"n2": true, "n3": true, "n4": true, "n5": true})
			sees(do, "n4", map[string]bool{"n1": true, "n2": true})
		})
	expectPass(t, runSuite(t, s, docker.Options{}))
}

func TestEngineUnhealthyNodeIsOneClearError(t *testing.T) {
	s := New(WithCluster(2), WithNodeStartTimeout(2*time.Second)).
		Test("never runs", func(do *Do) {})
	res := runSuite(t, s, docker.Options{Env: map[string]string{"TESTNODE_UNHEALTHY": "1"}})
	var te *cluster.TargetError
	if !errors.As(res.Err, &te) || res.Verdict() != engine.VerdictFail {
		t.Fatalf("got %v (verdict %v), want a target error", res.Err, res.Verdict())
	}
	for _, want := range []string{"GET /health", "2s", "testnode: started"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("error %q does not mention %q", res.Err, want)
		}
	}
}

func TestEngineFailuresAndPanicsCleanUp(t *testing.T) {
	s := New(WithCluster(2)).
		Test("panics in a goroutine of Concurrently", func(do *Do) {
			do.Concurrently(10, func(i int) {
				if i == 7 {
					var m map[string]int
					m["boom"]++ // a real runtime panic
				}
				do.GET(Node("n1"), "/health").Status(Is(200)).Run()
			})
		}).
		Test("never runs", func(do *Do) {})
	res := runSuite(t, s, docker.Options{})
	expectFail(t, res, "panics in a goroutine of Concurrently", "nil map")
	if res.Tests[1].Status != engine.TestNotRun {
		t.Errorf("the test after a failure has status %v", res.Tests[1].Status)
	}
}

// TestHelperInterruptedRun is not a test: run as a child process by
// TestCtrlCLeavesNothingBehind, it runs a suite under a context that SIGINT
// cancels, as the clstr command does, and prints when the test body runs.
func TestHelperInterruptedRun(t *testing.T) {
	if os.Getenv("CLSTR_TEST_HELPER") != "1" {
		t.Skip("helper process for TestCtrlCLeavesNothingBehind")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rt, err := docker.New(ctx, docker.Options{Binary: os.Getenv("TESTNODE")})
	if err != nil {
		t.Fatal(err)
	}
	s := New(WithCluster(2)).Test("waits forever", func(do *Do) {
		fmt.Println("TEST RUNNING")
		do.GET(Node("n1"), "/status/500").Eventually(time.Hour).Status(Is(200)).Run()
	})
	res := s.Run(ctx, engine.RunOptions{Runtime: rt})
	fmt.Printf("RUN ENDED: %v (cleanup: %v)\n", res.FirstError(), res.CleanupErr)
}

func TestCtrlCLeavesNothingBehind(t *testing.T) {
	testenv.Docker(t)
	bin := testnode(t)
	ctx := context.Background()
	rt, err := docker.New(ctx, docker.Options{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperInterruptedRun$", "-test.v")
	cmd.Env = append(os.Environ(), "CLSTR_TEST_HELPER=1", "TESTNODE="+bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	running := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "TEST RUNNING" {
				close(running)
			}
		}
	}()
	select {
	case <-running:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the child never reached its test")
	}
	owner := docker.OwnerOf(cmd.Process.Pid)
	if during := labelled(t, rt, owner); during == 0 {
		t.Fatalf("no cluster while the test runs (%d labelled resources)", during)
	}
	cmd.Process.Signal(os.Interrupt)
	<-scanned
	if err := cmd.Wait(); err != nil {
		t.Logf("child: %v", err)
	}
	output := strings.Join(lines, "\n")
	if !strings.Contains(output, "RUN ENDED") || strings.Contains(output, "goroutine ") {
		t.Errorf("child output:\n%s", output)
	}
	if left := labelled(t, rt, owner); left > 0 {
		t.Errorf("Ctrl-C left %d labelled resources behind; child output:\n%s", left, output)
	}
}
