package docker

import (
	"bufio"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// TestHelperHoldCluster is not a test: run as a child process by the tests
// below, it starts a 2-node cluster, prints its run id and waits to be
// killed.
func TestHelperHoldCluster(t *testing.T) {
	if os.Getenv("CLSTR_TEST_HELPER") != "1" {
		t.Skip("helper process for TestRunnerKilledWithSIGKILL")
	}
	ctx := context.Background()
	rt, err := New(ctx, Options{Binary: os.Getenv("TESTNODE")})
	must(t, err)
	c, err := rt.Create(ctx, cluster.Spec{Nodes: 2})
	must(t, err)
	os.Stdout.WriteString("RUN " + c.(*dockerCluster).run + "\n")
	time.Sleep(time.Minute)
}

func TestRunnerKilledWithSIGKILLIsCleanedByTheNextRun(t *testing.T) {
	dockerOrSkip(t)
	ctx := context.Background()
	cmd := helperCommand(t, "TestHelperHoldCluster", "TESTNODE="+testnodeBin)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	run := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RUN "); ok {
			run = r
			break
		}
	}
	if run == "" {
		t.Fatal("helper did not start a cluster")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cli, err := Connect(ctx)
	must(t, err)
	defer cli.Close()
	count := func() int {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelRun+"="+run))})
		must(t, err)
		return len(cs)
	}

	// While its owner lives, another run's cleanup leaves it alone.
	_, err = Clean(ctx, cli, CleanOptions{})
	must(t, err)
	if n := count(); n != 4 {
		t.Fatalf("live run has %d containers after another run's cleanup, want 4", n)
	}

	must(t, cmd.Process.Kill()) // SIGKILL: no chance to clean up
	cmd.Wait()
	if n := count(); n != 4 {
		t.Fatalf("killed runner left %d containers, want its 4 (the test needs leftovers)", n)
	}

	// The next run removes the leftovers before it starts.
	testCluster(t, 1, Options{})
	rt := &Runtime{cli: cli}
	assertNothingLeft(t, rt, run)
}

func TestTwoRunsAtOnceDoNotCollide(t *testing.T) {
	dockerOrSkip(t)
	var mu sync.Mutex
	var subnets []string
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c, _ := testCluster(t, 2, Options{})
				mu.Lock()
				subnets = append(subnets, c.subnet.String())
				mu.Unlock()
				// Each run's nodes answer and reach their own peers.
				var got nodeInfo
				getJSON(t, c, "n1", "/info", &got)
				if addr, _ := c.Addr("n2"); len(got.Peers) != 1 || got.Peers[0] != addr {
					t.Errorf("n1 peers %v, want [%s]", got.Peers, addr)
				}
				if r := reachability(t, c); len(r["n1"]) != 1 {
					t.Errorf("n1 reaches %v", r["n1"])
				}
				time.Sleep(time.Second) // keep the two runs overlapping
			})
		}
	})
	if len(subnets) == 2 && subnets[0] == subnets[1] {
		t.Errorf("both runs got subnet %s", subnets[0])
	}
}
