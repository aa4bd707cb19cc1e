package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/registry"
)

// The learner's flow end to end: the clstr binary in a directory made by
// clstr init, against the Go starter that init writes (which fails the
// first stage), the example kv server (which passes it) and the same
// server with a planted bug.

var (
	kvOnce sync.Once
	kvPath string
	kvErr  error
)

// kvBinary builds examples/kv static, once for all tests.
func kvBinary(t *testing.T) string {
	t.Helper()
	binaries(t) // makes buildDir
	kvOnce.Do(func() {
		kvPath = filepath.Join(buildDir, "kv")
		cmd := exec.Command("go", "build", "-trimpath", "-o", kvPath, "../../examples/kv")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			kvErr = fmt.Errorf("go build examples/kv: %v\n%s", err, out)
		}
	})
	if kvErr != nil {
		t.Fatal(kvErr)
	}
	return kvPath
}

// clstrIn runs the clstr binary with args in dir and checks afterwards
// that it left no container, network or volume behind.
func clstrIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return clstrInEnv(t, dir, nil, args...)
}

// clstrInEnv is clstrIn with env added to clstr's environment.
func clstrInEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	clstr, _ := binaries(t)
	cmd := exec.Command(clstr, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { assertNothingLeft(t, pid) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		cmd.Process.Signal(syscall.SIGINT)
		err = <-done
		t.Fatalf("clstr %s did not finish within 5 minutes\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
	}
	res := result{stdout: stdout.String(), stderr: stderr.String(), dir: dir, pid: pid, took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("clstr %s: exit %d in %v", strings.Join(args, " "), res.status, res.took.Round(100*time.Millisecond))
	return res
}

func wantStatus(t *testing.T, res result, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("exit status %d; want %d\nstdout:\n%s\nstderr:\n%s", res.status, status, res.stdout, res.stderr)
	}
}

// wantProgress checks the clstr.yaml in dir; when says after what.
func wantProgress(t *testing.T, dir, challenge, stage, when string) {
	t.Helper()
	want := progress{challenge, stage}.encode()
	if got := readFile(t, filepath.Join(dir, progressFile)); got != string(want) {
		t.Errorf("%s: clstr.yaml is %q; want %q", when, got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestLearnOutsideAChallenge checks that the learner's commands say what
// to do in a directory clstr init did not make.
func TestLearnOutsideAChallenge(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"test"}, {"next"}, {"status"}, {"test", "--so-far"}} {
		res := clstrIn(t, dir, args...)
		wantStatus(t, res, 2)
		assertContains(t, "stderr of clstr "+strings.Join(args, " "), res.stderr, "no clstr.yaml here", "clstr init <challenge>")
	}
	res := clstrIn(t, dir, "logs")
	wantStatus(t, res, 2)
	assertContains(t, "stderr of clstr logs", res.stderr, "no logs yet", "clstr test")
}

func TestLearnInit(t *testing.T) {
	dir := t.TempDir()
	res := clstrIn(t, dir, "init", "kv-store")
	wantStatus(t, res, 0)
	ws := filepath.Join(dir, "kv-store")
	for _, f := range []string{"README.md", "clstr.yaml", "Dockerfile", ".gitignore", "main.go", "go.mod"} {
		if _, err := os.Stat(filepath.Join(ws, f)); err != nil {
			t.Errorf("init wrote no %s: %v", f, err)
		}
	}
	wantProgress(t, ws, "kv-store", "http-api", "after init")
	assertContains(t, "README.md", readFile(t, filepath.Join(ws, "README.md")),
		"# Distributed Key-Value Store",
		"## 1. Store and Retrieve Data (http-api)",
		"## 5. Data Replicates to All Nodes (log-replication)",
		"## 6. System Manages Log Growth (log-compaction)",
		"## 7. Add and Remove Nodes One at a Time (membership-changes)",
		"## 8. Add and Remove Nodes in Bulk (joint-consensus)",
		"`POST /cluster/members`", "`PUT /cluster/members`", "\"last-included-index\"",
		"`PUT /kv/{key}`", "clstr test --binary")
	assertContains(t, "output", res.stdout, "kv-store/clstr.yaml", "cd kv-store", "clstr test")

	// Again: nothing is overwritten, and the message says so.
	os.WriteFile(filepath.Join(ws, "README.md"), []byte("my notes\n"), 0o644)
	res = clstrIn(t, dir, "init", "kv-store")
	wantStatus(t, res, 2)
	assertContains(t, "stderr", res.stderr, "kv-store/README.md", "already exist", "never overwrites")
	if got := readFile(t, filepath.Join(ws, "README.md")); got != "my notes\n" {
		t.Errorf("init overwrote README.md: %q", got)
	}

	res = clstrIn(t, dir, "init", "kv-store", "py", "--language", "python")
	wantStatus(t, res, 0)
	assertContains(t, "Dockerfile", readFile(t, filepath.Join(dir, "py", "Dockerfile")), "FROM python")
	if _, err := os.Stat(filepath.Join(dir, "py", "main.py")); err != nil {
		t.Error(err)
	}

	res = clstrIn(t, dir, "init", "no-such-challenge")
	wantStatus(t, res, 2)
	assertContains(t, "stderr", res.stderr, `no challenge "no-such-challenge"`, "clstr list")
	res = clstrIn(t, dir, "init", "kv-store", "other", "--language", "cobol")
	wantStatus(t, res, 2)
	assertContains(t, "stderr", res.stderr, `--language "cobol"`)
}

// TestLearnStarterFails runs the first stage against the starter that
// init writes: it answers /health only, so the stage fails with a hint,
// next does not move on, and the logs show what happened.
func TestLearnStarterFails(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	dir := t.TempDir()
	wantStatus(t, clstrIn(t, dir, "init", "kv-store", "ws"), 0)
	ws := filepath.Join(dir, "ws")
	build := exec.Command("go", "build", "-trimpath", "-o", "server", ".")
	build.Dir = ws
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the starter: %v\n%s", err, out)
	}

	res := clstrIn(t, ws, "test", "--binary", "./server")
	wantStatus(t, res, 1)
	assertContains(t, "output", res.stdout,
		"Stage 1 of 8: Store and Retrieve Data (http-api)",
		"✗ PUT Stores Values",
		"expected status is 200, got 404",
		"hint: Handle PUT /kv/{key}",
		"FAILED",
		"README.md describes every stage",
		"clstr logs")

	// --run picks tests of the stage: only the one named runs.
	res = clstrIn(t, ws, "test", "--binary", "./server", "--run", "Unsupported Methods")
	wantStatus(t, res, 1)
	assertContains(t, "output", res.stdout, "✗ Unsupported Methods Answer 405", "FAILED  1 failed")
	if strings.Contains(res.stdout, "PUT Stores Values") {
		t.Errorf("--run ran a test it does not match:\n%s", res.stdout)
	}

	res = clstrIn(t, ws, "next", "--binary", "./server")
	wantStatus(t, res, 1)
	assertContains(t, "output", res.stdout, "✗ PUT Stores Values", "clstr.yaml stays at http-api")
	wantProgress(t, ws, "kv-store", "http-api", "after a failed next")

	res = clstrIn(t, ws, "logs")
	wantStatus(t, res, 0)
	// Which of n1's start event and its first line comes first is up to
	// the node; both come before the cluster is ready.
	checkLogOrder(t, res.stdout, "[n1] [START]", "[**] [CLUSTER READY]", "[**] [TEST: PUT Stores Values]")
	checkLogOrder(t, res.stdout, "[n1] 20", "listening on :8080", "[**] [CLUSTER READY]")
	res = clstrIn(t, ws, "logs", "n1")
	wantStatus(t, res, 0)
	assertContains(t, "clstr logs n1", res.stdout, "listening on :8080", "[**] [CLUSTER READY]")
	res = clstrIn(t, ws, "logs", "n3")
	wantStatus(t, res, 2)
	assertContains(t, "stderr", res.stderr, "no node n3", "its nodes are n1")
}

// checkLogOrder checks that every line of clstr logs output starts with a
// time, the times never go back, and the wants appear in this order.
func checkLogOrder(t *testing.T, out string, wants ...string) {
	t.Helper()
	var last string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		ts, rest, _ := strings.Cut(line, " ")
		if _, err := time.Parse("15:04:05.000", ts); err != nil {
			t.Errorf("line %q does not start with a time", line)
			continue
		}
		if !strings.HasPrefix(rest, "[") {
			t.Errorf("line %q has no [node] or [**] prefix", line)
		}
		// Times of one run are on one day in the tests.
		if ts < last {
			t.Errorf("logs go back in time at %q:\n%s", line, out)
		}
		last = ts
	}
	at := 0
	for _, w := range wants {
		i := strings.Index(out[at:], w)
		if i < 0 {
			t.Fatalf("logs do not contain %q after position %d:\n%s", w, at, out)
		}
		at += i + len(w)
	}
}

// TestLearnNext runs the learner's loop with the example kv server: built
// from a Dockerfile in the challenge directory, it passes http-api and
// next moves on; with a bug planted, --so-far passes http-api again and
// stops at persistence.
func TestLearnNext(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	kv := kvBinary(t)
	dir := t.TempDir()
	wantStatus(t, clstrIn(t, dir, "init", "kv-store", "ws"), 0)
	ws := filepath.Join(dir, "ws")
	data, err := os.ReadFile(kv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "kv"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The way to build with no registry: a FROM scratch image of a binary.
	dockerfile := "FROM scratch\nCOPY kv /kv\nENTRYPOINT [\"/kv\"]\n"
	if err := os.WriteFile(filepath.Join(ws, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}

	res := clstrIn(t, ws, "next")
	wantStatus(t, res, 0)
	assertContains(t, "output", res.stdout,
		"Stage 1 of 8: Store and Retrieve Data (http-api)",
		"Dockerfile in .",
		"✓ PUT Stores Values",
		"PASSED",
		"Stage 1 passed. Next, stage 2 of 8: Data Survives SIGTERM (persistence)",
		"Keep every acknowledged write across graceful restarts.",
		`README.md, section "2. Data Survives SIGTERM (persistence)"`)
	wantProgress(t, ws, "kv-store", "persistence", "after a passing next")

	res = clstrIn(t, ws, "status")
	wantStatus(t, res, 0)
	assertContains(t, "status", res.stdout,
		"Distributed Key-Value Store (kv-store)",
		"✓ 1. http-api", "→ 2. persistence", "· 3. crash-recovery", "· 5. log-replication", "· 8. joint-consensus",
		"1 of 8 stages passed. Current stage: persistence.")

	res = clstrIn(t, ws, "test", "--so-far", "--binary", "./kv", "--env", "KV_BUG=memory-only")
	wantStatus(t, res, 1)
	assertContains(t, "output", res.stdout,
		"Stage 1 of 8: Store and Retrieve Data (http-api)",
		"PASSED",
		"Stage 2 of 8: Data Survives SIGTERM (persistence)",
		"✗ Data Survives a Graceful Restart",
		"hint:",
		"FAILED")
	if strings.Contains(res.stdout, "Stage 3 of 8") {
		t.Errorf("--so-far went on after a failing stage:\n%s", res.stdout)
	}
	wantProgress(t, ws, "kv-store", "persistence", "after a failed test")
	// The logs are those of the last stage run: a restart of n1.
	res = clstrIn(t, ws, "logs")
	wantStatus(t, res, 0)
	checkLogOrder(t, res.stdout, "[**] [CLUSTER READY]", "[**] [TEST: Data Survives a Graceful Restart]", "[n1] [RESTART")
	// --so-far runs its stages on one runtime: persistence, of one node as
	// http-api, takes over the sandboxes http-api kept.
	assertContains(t, "logs", res.stdout, "REUSING the network and sandboxes of the previous run")
}

// goChallenge is a challenge registered from Go, as a Go package would
// register one; the learner's commands treat it as the built-in ones.
var goChallenge = sync.OnceValue(func() *registry.Challenge {
	c := &registry.Challenge{Name: "Health and Status", Summary: "A challenge written in Go."}
	c.AddStage("health", "Answer Health Checks", func() *attest.Suite {
		return attest.New(attest.WithCluster(1)).Test("Health Answers 200", func(do *attest.Do) {
			do.GET(attest.Node("n1"), "/health").Status(attest.Is(200)).Run()
		})
	})
	c.AddStage("teapot", "Be a Teapot", func() *attest.Suite {
		return attest.New(attest.WithCluster(1)).Test("Status Answers 418", func(do *attest.Do) {
			do.GET(attest.Node("n1"), "/status/503").Status(attest.Is(418)).
				Hint("Answer GET /status/503 with 418: you are a teapot.").Run()
		})
	})
	registry.RegisterChallenge("go-health", c)
	return c
})

// TestLearnGoChallenge runs list, init, test and next in process on a
// challenge registered from Go, against internal/testkit/testnode.
func TestLearnGoChallenge(t *testing.T) {
	dockerOrSkip(t)
	goChallenge()
	_, testnode := binaries(t)
	t.Chdir(t.TempDir())
	clstr := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		status := run(context.Background(), append([]string{"clstr"}, args...), &stdout, &stderr)
		t.Logf("clstr %s: exit %d", strings.Join(args, " "), status)
		return status, stdout.String(), stderr.String()
	}
	t.Cleanup(func() { assertNothingLeft(t, os.Getpid()) })

	status, out, _ := clstr("list")
	if status != 0 {
		t.Fatalf("list: exit %d", status)
	}
	assertContains(t, "list", out, "go-health  Health and Status · 2 stages", "1. health  Answer Health Checks",
		"kv-store  Distributed Key-Value Store · 8 stages", "6. log-compaction", "7. membership-changes", "8. joint-consensus")

	if status, _, stderr := clstr("init", "go-health", "."); status != 0 {
		t.Fatalf("init: exit %d: %s", status, stderr)
	}
	assertContains(t, "README.md", readFile(t, "README.md"), "# Health and Status", "## 2. Be a Teapot (teapot)")

	status, out, stderr := clstr("next", "--binary", testnode)
	if status != 0 {
		t.Fatalf("next: exit %d\n%s%s", status, out, stderr)
	}
	assertContains(t, "output", out, "go-health/health: 1 test on 1 node", "✓ Health Answers 200", "Next, stage 2 of 2: Be a Teapot (teapot)")

	status, out, _ = clstr("next", "--binary", testnode)
	if status != 1 {
		t.Fatalf("next on the failing stage: exit %d; want 1\n%s", status, out)
	}
	assertContains(t, "output", out, "✗ Status Answers 418", "hint: Answer GET /status/503 with 418", "clstr.yaml stays at teapot")
	wantProgress(t, ".", "go-health", "teapot", "after a failed next")
}

// TestLearnCleanAfterKill kills clstr test outright while its cluster is
// up, and checks that clstr clean removes every container, network and
// volume the run left behind.
func TestLearnCleanAfterKill(t *testing.T) {
	dockerOrSkip(t)
	clstr, testnode := binaries(t)
	dir := t.TempDir()
	wantStatus(t, clstrIn(t, dir, "init", "kv-store", "ws"), 0)
	ws := filepath.Join(dir, "ws")

	// A node that never becomes healthy keeps the run waiting for it.
	cmd := exec.Command(clstr, "test", "--binary", testnode, "--env", "TESTNODE_UNHEALTHY=1")
	cmd.Dir = ws
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { assertNothingLeft(t, pid) })
	events := filepath.Join(ws, ".clstr", "logs", "events.log")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if data, _ := os.ReadFile(events); strings.Contains(string(data), "n1 [START]") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("n1 did not start within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	owned := func() int {
		out, err := exec.Command("docker", "ps", "-a", "--filter", "label=io.clstr.run",
			"--format", `{{.Label "io.clstr.owner"}}`).CombinedOutput()
		if err != nil {
			t.Fatalf("docker ps: %v\n%s", err, out)
		}
		n := 0
		for _, owner := range strings.Fields(string(out)) {
			if parts := strings.Split(owner, "/"); len(parts) == 3 && parts[1] == fmt.Sprint(pid) {
				n++
			}
		}
		return n
	}
	if _, err := exec.LookPath("docker"); err == nil && owned() == 0 {
		t.Fatal("the killed run left no container: the test cannot tell whether clean works")
	}
	res := clstrIn(t, ws, "clean")
	wantStatus(t, res, 0)
	// Another clstr run on this daemon may have removed some of the
	// leftovers first (every run removes those of dead runs), so what
	// counts is that none is left.
	if !strings.HasPrefix(res.stdout, "removed ") && res.stdout != "nothing to remove\n" {
		t.Errorf("clstr clean printed %q", res.stdout)
	}
	assertNothingLeft(t, pid)
}
