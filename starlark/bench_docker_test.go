package starlark_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/confine"
	"github.com/clstr-dev/clstr/starlark"
)

// containerScript is the Starlark form of containerSuite, for the test
// node of internal/testkit/testnode.
const containerScript = `suite(cluster = 3)

def writes():
    for i in range(50):
        put("n1", "/kv/k%d" % i, "v%d" % i).status(200).run()

def reads():
    for i in range(50):
        get("n1", "/kv/k%d" % i).status(200).body("v%d" % i).hint("read back").run()

def info():
    for i in range(20):
        get(all_nodes(), "/info").status(200).json("peers", has_len(2)).run()
        get(node("n2"), "/info").json("previous", "first").run()

def concurrent_writes():
    concurrently(100, lambda i: put("n2", "/kv/c%d" % i, "v").status(200).run())

test("writes", writes)
test("reads", reads)
test("info", info)
test("concurrent writes", concurrent_writes)
`

func containerSuite() *attest.Suite {
	return attest.New(attest.WithCluster(3)).
		Test("writes", func(do *attest.Do) {
			for i := range 50 {
				do.PUT(attest.Node("n1"), fmt.Sprintf("/kv/k%d", i), fmt.Sprintf("v%d", i)).Status(attest.Is(200)).Run()
			}
		}).
		Test("reads", func(do *attest.Do) {
			for i := range 50 {
				do.GET(attest.Node("n1"), fmt.Sprintf("/kv/k%d", i)).Status(attest.Is(200)).
					Body(attest.Is(fmt.Sprintf("v%d", i))).Hint("read back").Run()
			}
		}).
		Test("info", func(do *attest.Do) {
			for range 20 {
				do.GET(do.AllNodes(), "/info").Status(attest.Is(200)).JSON("peers", attest.HasLen[string](2)).Run()
				do.GET(attest.Node("n2"), "/info").JSON("previous", attest.Is("first")).Run()
			}
		}).
		Test("concurrent writes", func(do *attest.Do) {
			do.Concurrently(100, func(i int) {
				do.PUT(attest.Node("n2"), fmt.Sprintf("/kv/c%d", i), "v").Status(attest.Is(200)).Run()
			})
		})
}

// BenchmarkSuiteContainers is BenchmarkSuite against real containers: a
// 3-node cluster of the test node (internal/testkit/testnode, FROM scratch). The
// time of the tests alone is compared; each run starts its own cluster.
func BenchmarkSuiteContainers(b *testing.B) {
	rt, _, path := containerBench(b)
	s, err := starlark.Load(path, starlark.Options{})
	if err != nil {
		b.Fatal(err)
	}
	compareSuites(b, func() cluster.Runtime { return rt }, containerSuite, s)
}

// containerBench builds the test node, and returns a runtime of it, its
// binary and the path of containerScript.
func containerBench(b *testing.B) (rt *docker.Runtime, bin, path string) {
	ctx := context.Background()
	bin = filepath.Join(b.TempDir(), "testnode")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../internal/testkit/testnode")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the test node: %v\n%s", err, out)
	}
	rt, err := docker.New(ctx, docker.Options{Binary: bin})
	if err != nil {
		b.Skipf("no Docker runtime: %v", err)
	}
	b.Cleanup(func() { rt.Close() })
	path = filepath.Join(b.TempDir(), "bench.star")
	if err := os.WriteFile(path, []byte(containerScript), 0o644); err != nil {
		b.Fatal(err)
	}
	return rt, bin, path
}

// BenchmarkSuiteContainersSandboxed measures what the sandbox costs on
// BenchmarkSuiteContainers: each round runs containerScript trusted, in
// this process on plain containers, and then as clstr run runs a
// community script, in a confined child process (internal/confine) under
// the default limits, on containers with the sandbox's node limits and
// lockdown. It reports the median test times of both and the median
// overhead of the sandboxed run over the trusted one of the same round.
// Only the tests' time is compared: starting the child and the cluster
// is not.
func BenchmarkSuiteContainersSandboxed(b *testing.B) {
	rt, bin, path := containerBench(b)
	s, err := starlark.Load(path, starlark.Options{})
	if err != nil {
		b.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	lim := starlark.DefaultLimits()
	sandboxed := func() time.Duration {
		var stdout, stderr bytes.Buffer
		out, err := confine.Run(exe, []string{exe}, []string{benchNodeEnv + "=" + bin, benchScriptEnv + "=" + path},
			confine.Budget(lim.Memory), &stdout, &stderr)
		if err != nil {
			b.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^tests-ns (\d+)$`).FindStringSubmatch(stdout.String())
		if out.Status != 0 || out.Died() || m == nil {
			b.Fatalf("the sandboxed run failed: status %d, out of memory %v, crash %q\n%s%s",
				out.Status, out.OutOfMemory, out.Crash, stdout.String(), stderr.String())
		}
		ns, _ := strconv.ParseInt(m[1], 10, 64)
		return time.Duration(ns)
	}
	var trustedTimes, sandboxedTimes []time.Duration
	for b.Loop() {
		res := s.Suite().Run(context.Background(), engine.RunOptions{Runtime: rt})
		if !res.Passed() {
			b.Fatalf("the trusted suite failed: %v", res.FirstError())
		}
		trustedTimes = append(trustedTimes, testsTime(res))
		sandboxedTimes = append(sandboxedTimes, sandboxed())
	}
	reportRatio(b, trustedTimes, sandboxedTimes, "trusted", "sandboxed")
}

// The confined child of BenchmarkSuiteContainersSandboxed finds the test
// node's binary and the script in these variables.
const (
	benchNodeEnv   = "CLSTR_BENCH_SANDBOXED_NODE"
	benchScriptEnv = "CLSTR_BENCH_SANDBOXED_SCRIPT"
)

// sandboxedBenchChild is the confined child of
// BenchmarkSuiteContainersSandboxed: it runs the script once sandboxed,
// as clstr run would, and prints the time of its tests. It returns the
// exit status.
func sandboxedBenchChild(bin string) int {
	ctx := context.Background()
	lim := starlark.DefaultLimits()
	node := docker.DefaultSandboxLimits()
	rt, err := docker.New(ctx, docker.Options{Binary: bin, Sandbox: &node})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rt.Close()
	s, err := starlark.Load(os.Getenv(benchScriptEnv), starlark.Options{Sandbox: &lim})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res := s.Suite().Run(ctx, engine.RunOptions{Runtime: rt})
	if !res.Passed() {
		fmt.Fprintf(os.Stderr, "the sandboxed suite failed: %v\n", res.FirstError())
		return 1
	}
	fmt.Printf("tests-ns %d\n", testsTime(res).Nanoseconds())
	return 0
}
