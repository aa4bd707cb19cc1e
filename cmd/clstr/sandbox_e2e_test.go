package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// countScript takes 2 million steps or so: more than --max-steps 100000
// allows, nothing for a trusted run.
const countScript = `suite(cluster = 1)

def count():
    n = 0
    for i in range(1000000):
        n += 1
    get("n1", "/health").status(200).run()

test("counts", count)
`

// TestRunSandboxed runs a script that exceeds a limit: sandboxed (the
// default) it stops with one message naming the limit and its flag and
// exit status 2; with --trust the same script passes.
func TestRunSandboxed(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	files := map[string]string{"count.star": countScript}
	res := clstrRun(t, files, nil, "run", "--binary", testnode, "--max-steps", "100000", "count.star")
	out := res.stdout + res.stderr
	if res.status != exitError {
		t.Errorf("exit status %d; want %d\n%s", res.status, exitError, out)
	}
	msg := `limit: execution steps (100000) exceeded in test "counts"; raise it with --max-steps or pass --trust for a challenge you trust`
	if n := strings.Count(out, msg); n != 1 {
		t.Errorf("the output says %q %d times; want once:\n%s", msg, n, out)
	}

	res = clstrRun(t, files, nil, "run", "--binary", testnode, "--max-steps", "100000", "--trust", "count.star")
	if res.status != exitPass {
		t.Errorf("with --trust: exit status %d; want %d\n%s%s", res.status, exitPass, res.stdout, res.stderr)
	}
}

func TestRunSandboxUsage(t *testing.T) {
	_, testnode := binaries(t)
	files := map[string]string{"count.star": countScript}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-steps", "lots"}, `--max-steps "lots": want a positive whole number`},
		{[]string{"--max-memory", "1 ton"}, `--max-memory "1 ton": want a positive size`},
		{[]string{"--max-test-time", "-1s"}, `--max-test-time "-1s": want a positive duration`},
		{[]string{"--node-cpus", "none"}, `--node-cpus "none": want a number of CPUs`},
	} {
		args := append(append([]string{"run", "--binary", testnode}, tc.args...), "count.star")
		res := clstrRun(t, files, nil, args...)
		if res.status != exitError || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("clstr %s: status %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), res.status, res.stderr, exitError, tc.want)
		}
	}
}

// tarGz makes a .tar.gz of the files, in order.
func tarGz(t *testing.T, files [][2]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f[1]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	gz.Close()
	return buf.String()
}

// TestRunArchive runs a stage from a challenge archive, and refuses an
// archive whose entries would leave its directory.
func TestRunArchive(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	good := tarGz(t, [][2]string{
		{"c/stage.star", "load(\"lib.star\", \"path\")\nsuite(cluster = 1)\ntest(\"health\", lambda: get(\"n1\", path).status(200).run())\n"},
		{"c/lib.star", "path = \"/health\"\n"},
	})
	res := clstrRun(t, map[string]string{"c.tar.gz": good}, nil, "run", "--binary", testnode, "c.tar.gz:c/stage.star")
	if res.status != exitPass {
		t.Errorf("exit status %d; want %d\n%s%s", res.status, exitPass, res.stdout, res.stderr)
	}
	evil := tarGz(t, [][2]string{{"../../evil.star", "test(\"x\", lambda: None)\n"}})
	res = clstrRun(t, map[string]string{"c.tar.gz": evil}, nil, "run", "--binary", testnode, "c.tar.gz:evil.star")
	if res.status != exitError || !strings.Contains(res.stderr, "leaves the archive's directory") {
		t.Errorf("exit status %d, stderr %q; want %d and the entry refused", res.status, res.stderr, exitError)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(res.dir)), "evil.star")); err == nil {
		t.Error("the archive wrote evil.star outside")
	}
	res = clstrRun(t, map[string]string{"c.tar.gz": good}, nil, "run", "--binary", testnode, "c.tar.gz")
	if res.status != exitError || !strings.Contains(res.stderr, "name the stage inside the archive") {
		t.Errorf("exit status %d, stderr %q; want a usage error", res.status, res.stderr)
	}
}

// TestRunRunaway runs scripts whose one step cannot be interrupted and
// would take the machine's memory or the runner's stack: a join of one
// string many times over, a list of a billion elements asked for in one
// step (16 GiB), at the top level and in a test, a hash of a tuple nested
// millions deep (with the step limit raised to allow it), and a test-time
// limit reached while the engine waits for a partition to settle. The
// script runs in a child process the kernel bounds; each run ends with one
// message naming the limit, status 2, and nothing left on the Docker
// daemon (clstrRun checks) without clstr clean.
func TestRunRunaway(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	for _, tc := range []struct {
		name, top, body string
		flags           []string
		want            string
	}{
		{"join", "", `s = "x" * (1 << 20)
    return "".join([s] * 100000)`, []string{"--max-memory", "64MiB"}, `limit: memory (64 MiB) exceeded`},
		{"one step of 16 GiB", "", `return [0] * ((1 << 30) - 1)`, []string{"--max-memory", "64MiB"}, `limit: memory (64 MiB) exceeded`},
		{"one step of 16 GiB at the top level", `x = [0] * ((1 << 30) - 1)`, `pass`, []string{"--max-memory", "64MiB"}, `limit: memory (64 MiB) exceeded`},
		{"top-level list", `x = [0] * (1 << 26)`, `pass`, []string{"--max-memory", "64MiB"}, `limit: memory (64 MiB) exceeded`},
		{"deep hash", "", `t = ()
    for i in range(30000000):
        t = (t,)
    return {t: 1}`, []string{"--max-steps", "2000000000", "--max-memory", "8GiB"}, `limit: call depth (1000) exceeded in test "bomb" (a value nested too deep for the runner's stack)`},
		{"test time while settling", `suite(cluster = 2, settle = "5s", node_start_timeout = "5s", request_timeout = "5s", retry_timeout = "5s")`, `sleep("2s")
    partition(["n1"], ["n2"])`, []string{"--max-test-time", "5s"}, `limit: test time (5s) exceeded in test "bomb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each its own clstr and cluster
			top := tc.top
			if !strings.HasPrefix(top, "suite(") {
				top = "suite(cluster = 2)\n" + top
			}
			script := top + "\ndef bomb():\n    " + tc.body + "\n\ntest(\"bomb\", bomb)\n"
			args := append(append([]string{"run", "--binary", testnode}, tc.flags...), "bomb.star")
			res := clstrRun(t, map[string]string{"bomb.star": script}, nil, args...)
			if res.status != exitError {
				t.Errorf("exit status %d; want %d\n%s%s", res.status, exitError, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stdout+res.stderr, tc.want) {
				t.Errorf("the output does not say %q:\n%s%s", tc.want, res.stdout, res.stderr)
			}
			if n := strings.Count(res.stdout+res.stderr, "limit: "); n != 1 {
				t.Errorf("the output names a limit %d times; want once:\n%s%s", n, res.stdout, res.stderr)
			}
			if strings.Contains(res.stderr, "without cleaning up") {
				t.Errorf("clstr left the cluster:\n%s", res.stderr)
			}
			if strings.Contains(res.stderr, "goroutine ") {
				t.Errorf("a Go stack trace:\n%s", res.stderr)
			}
			if res.took > time.Minute {
				t.Errorf("clstr took %v to give up", res.took)
			}
		})
	}
}

// TestRunLimitWhileWaiting reaches --max-test-time while the engine waits
// on real containers: for a partition to settle, for a node to start
// (the test node answers GET /health with 503 once DATA_DIR holds a file
// named unhealthy), and for a request
// a node answers only after a minute. Each wait would last well past the
// limit; the limit must end it at once: the test's line shows it ended
// within two seconds of the limit, with one message naming the limit,
// status 2 and the cluster removed.
//
// Each wait begins 3 s into the test and may last as long as the limit (a
// script's timeouts cannot be longer), so a wait the limit did not end
// would end 8 s in, past the 7 s the test allows.
func TestRunLimitWhileWaiting(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	const limit = 5 * time.Second
	timeouts := `node_start_timeout = "5s", node_shutdown_timeout = "5s", request_timeout = "5s", retry_timeout = "5s", settle = "5s"`
	for _, tc := range []struct{ name, body string }{
		{"settle", `sleep("3s")
    partition(["n1"], ["n2"])`},
		{"node start", `put("n2", "/data/unhealthy", "x").status(200).run()
    kill("n2")
    sleep("3s")
    start("n2")`},
		{"request", `sleep("3s")
    get("n1", "/sleep?d=1m").status(200).run()`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each its own clstr and cluster, mostly waiting
			script := "suite(cluster = 2, " + timeouts + ")\n\ndef waits():\n    " + tc.body + "\n\ntest(\"waits\", waits)\n"
			res := clstrRun(t, map[string]string{"waits.star": script}, nil,
				"run", "--binary", testnode, "--max-test-time", limit.String(), "waits.star")
			out := res.stdout + res.stderr
			if res.status != exitError {
				t.Errorf("exit status %d; want %d\n%s", res.status, exitError, out)
			}
			want := `limit: test time (5s) exceeded in test "waits"`
			if !strings.Contains(out, want) {
				t.Errorf("the output does not say %q:\n%s", want, out)
			}
			if n := strings.Count(out, "limit: "); n != 1 {
				t.Errorf("the output names a limit %d times; want once:\n%s", n, out)
			}
			if strings.Contains(res.stderr, "without cleaning up") {
				t.Errorf("clstr left the cluster:\n%s", res.stderr)
			}
			m := regexp.MustCompile(`✗ waits \(([0-9.]+s)\)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("the output shows no end of the test:\n%s", out)
			}
			took, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the test ended after %v (limit %v); clstr took %v", took, limit, res.took.Round(time.Millisecond))
			if took > limit+2*time.Second {
				t.Errorf("the test ended %v after it started; want within 2s of the limit (%v):\n%s", took, limit, out)
			}
		})
	}
}
