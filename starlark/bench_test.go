package starlark_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// benchScript is the Starlark form of goSuite: the same requests, checks
// and concurrency.
const benchScript = `suite(cluster = 3)

def writes():
    for i in range(50):
        put("n1", "/kv/k%d" % i, "v%d" % i).status(200).run()

def reads():
    for i in range(50):
        get("n1", "/kv/k%d" % i).status(200).body("v%d" % i).hint("read back").run()

def cluster_info():
    for i in range(20):
        get(all_nodes(), "/cluster/info").status(200).json("peers", has_len(2)).run()
        get(exactly_one_node(), "/cluster/info").json("role", "leader").run()

def concurrent_writes():
    concurrently(100, lambda i: put("n2", "/kv/c%d" % i, "v").status(200).run())

test("writes", writes)
test("reads", reads)
test("cluster info", cluster_info)
test("concurrent writes", concurrent_writes)
`

func goSuite() *attest.Suite {
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
		Test("cluster info", func(do *attest.Do) {
			for range 20 {
				do.GET(do.AllNodes(), "/cluster/info").Status(attest.Is(200)).JSON("peers", attest.HasLen[string](2)).Run()
				do.GET(do.ExactlyOneNode(), "/cluster/info").JSON("role", attest.Is("leader")).Run()
			}
		}).
		Test("concurrent writes", func(do *attest.Do) {
			do.Concurrently(100, func(i int) {
				do.PUT(attest.Node("n2"), fmt.Sprintf("/kv/c%d", i), "v").Status(attest.Is(200)).Run()
			})
		})
}

// BenchmarkSuite runs the same suite written in Go and in Starlark against
// the in-process fake target, alternately, and reports the median wall time
// of their tests and the Starlark binding's overhead (the goal is under
// 5%). A request to the fake target costs some 30µs, so this is the
// harshest case: the binding's cost per check is compared with almost
// nothing. BenchmarkSuiteContainers compares them against real containers.
func BenchmarkSuite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.star")
	if err := os.WriteFile(path, []byte(benchScript), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := starlark.Load(path, starlark.Options{})
	if err != nil {
		b.Fatal(err)
	}
	compareSuites(b, func() cluster.Runtime { return starlarktest.New().Runtime }, goSuite, s)
}

// compareSuites runs the Go suite and the script's alternately on clusters
// of rt and reports what reportOverhead does. Only the tests' time counts:
// starting and closing the cluster is the same for both and would only
// add noise.
func compareSuites(b *testing.B, rt func() cluster.Runtime, goSuite func() *attest.Suite, s *starlark.Script) {
	run := func(suite *attest.Suite) time.Duration {
		res := suite.Run(context.Background(), engine.RunOptions{Runtime: rt()})
		if !res.Passed() {
			b.Fatalf("the suite failed: %v", res.FirstError())
		}
		return testsTime(res)
	}
	var goTimes, starTimes []time.Duration
	for b.Loop() {
		goTimes = append(goTimes, run(goSuite()))
		starTimes = append(starTimes, run(s.Suite()))
	}
	reportOverhead(b, goTimes, starTimes)
}

// testsTime is the time of a run's tests together.
func testsTime(res *engine.Result) time.Duration {
	var d time.Duration
	for _, t := range res.Tests {
		d += t.Duration
	}
	return d
}

// reportOverhead reports the median wall times of the Go and the Starlark
// runs and the median of the overheads of the pairs run one after the
// other: a machine busy with other work makes means noisy, and each pair
// shares its moment's load.
func reportOverhead(b *testing.B, goTimes, starTimes []time.Duration) {
	reportRatio(b, goTimes, starTimes, "go", "starlark")
}

// reportRatio reports the median wall times of the base and the other
// runs, named by their units (base-ms, other-ms), and the median overhead
// of each other run over the base run of its pair.
func reportRatio(b *testing.B, base, other []time.Duration, baseName, otherName string) {
	overheads := make([]float64, len(base))
	for i := range base {
		overheads[i] = 100 * (float64(other[i]) - float64(base[i])) / float64(base[i])
	}
	slices.Sort(overheads)
	b.ReportMetric(float64(median(base).Microseconds())/1000, baseName+"-ms")
	b.ReportMetric(float64(median(other).Microseconds())/1000, otherName+"-ms")
	b.ReportMetric(overheads[len(overheads)/2], "overhead-%")
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// script500 is a script of about 500 lines, in the style of a stage.
func script500() string {
	var b strings.Builder
	b.WriteString("load(\"@stdlib//cluster.star\", \"wait_for_leader\", \"followers\")\n")
	b.WriteString("load(\"@stdlib//kv.star\", \"kv_put\", \"kv_expect\")\n\n")
	b.WriteString("suite(cluster = 5, retry_timeout = \"3s\", settle = \"500ms\")\n\n")
	for i := 0; b.Len() == 0 || strings.Count(b.String(), "\n") < 490; i++ {
		fmt.Fprintf(&b, `def test_%d():
    """Test %d: the leader keeps its term while a follower restarts."""
    leader = wait_for_leader(timeout = "3s")
    term = fetch(leader, "/cluster/info").json("term")
    for n in followers():
        if n != leader:
            restart(n, signal = "SIGKILL")
            break
    kv_put("key-%d", "value %d", node = leader)
    get(all_nodes(), "/cluster/info").eventually("2s") \
        .status(200).json("term", gt(term - 1)).json("peers", has_len(4)) \
        .hint("A restarted follower must not start an election at once.").run()
    kv_expect("key-%d", "value %d", node = leader)

test("Leader Survives Restart %d", test_%d)

`, i, i, i, i, i, i, i, i)
	}
	return b.String()
}

// BenchmarkCompile parses and resolves a 500-line script and the stdlib
// modules it loads, as clstr run does before any container starts (the
// goal is under 50ms).
func BenchmarkCompile(b *testing.B) {
	src := script500()
	path := filepath.Join(b.TempDir(), "stage.star")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		if _, err := starlark.Compile(path, starlark.CompileOptions{Stdlib: stdlib.FS, Predeclared: starlark.IsPredeclared}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "parse-ms")
	b.ReportMetric(float64(strings.Count(src, "\n")), "lines")
}

// BenchmarkLoad is BenchmarkCompile plus running the top level, which
// registers the tests: all of clstr run's work before Docker.
func BenchmarkLoad(b *testing.B) {
	path := filepath.Join(b.TempDir(), "stage.star")
	if err := os.WriteFile(path, []byte(script500()), 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		if _, err := starlark.Load(path, starlark.Options{Stdlib: stdlib.FS}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "load-ms")
}
