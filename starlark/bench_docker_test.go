package starlark_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/starlark"
)

// containerScript is the Starlark form of containerSuite, for the test
// node of internal/testnode.
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
// 3-node cluster of the test node (internal/testnode, FROM scratch). The
// time of the tests alone is compared; each run starts its own cluster.
func BenchmarkSuiteContainers(b *testing.B) {
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "testnode")
	build := exec.Command("go", "build", "-o", bin, "../internal/testnode")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the test node: %v\n%s", err, out)
	}
	rt, err := docker.New(ctx, docker.Options{Binary: bin})
	if err != nil {
		b.Skipf("no Docker runtime: %v", err)
	}
	defer rt.Close()

	path := filepath.Join(b.TempDir(), "bench.star")
	if err := os.WriteFile(path, []byte(containerScript), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := starlark.Load(path, starlark.Options{})
	if err != nil {
		b.Fatal(err)
	}
	compareSuites(b, func() cluster.Runtime { return rt }, containerSuite, s)
}
