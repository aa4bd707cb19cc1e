package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/internal/confine"
	"github.com/clstr-dev/clstr/internal/junit/junittest"
	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

// The end-to-end tests run the clstr binary, built static as a user builds
// it, against internal/testkit/testnode in real containers.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds clstr and the test node once for all tests and returns
// their paths.
func binaries(t testing.TB) (clstr, testnode string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "clstr-e2e")
		if buildErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"clstr", "."},
			{"testnode", "../../internal/testkit/testnode"},
		} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(buildDir, b.out), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "clstr"), filepath.Join(buildDir, "testnode")
}

func TestMain(m *testing.M) {
	// A sandboxed run that a test makes in this process starts this
	// binary again as its confined child: be clstr, in the environment the
	// test gave it.
	if confine.Enter() {
		confinedChild = true
		os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr))
	}
	// On GitHub Actions, clstr adds annotation lines to its output; the
	// tests compare the output clstr gives everywhere else, and test the
	// annotations by setting the variable themselves.
	os.Unsetenv("GITHUB_ACTIONS")
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// dockerOrSkip skips t under -short or without a Docker daemon (see
// testenv.Docker).
func dockerOrSkip(t testing.TB) {
	t.Helper()
	testenv.Docker(t)
}

// alongsideSlots holds a slot for each test running alongside another.
var alongsideSlots = make(chan struct{}, 2)

// alongside lets t run beside one other such test, whatever go test's
// -parallel: it suits the tests that run the clstr binary, each with its
// own process, owner label and folder, and that spend their time waiting
// on containers. Tests that run clstr in this process, change its
// environment or folder, or remove what other runs may use stay serial.
func alongside(t *testing.T) {
	t.Parallel()
	alongsideSlots <- struct{}{}
	t.Cleanup(func() { <-alongsideSlots })
}

// result is what a run of the clstr binary did.
type result struct {
	status         int
	stdout, stderr string
	dir            string // the working directory it ran in
	pid            int
	took           time.Duration
}

// clstrRun runs clstr with args in a fresh directory holding the files,
// optionally calling during(cmd, dir) while it runs, and checks afterwards
// that the run left no container, network or volume behind.
func clstrRun(t *testing.T, files map[string]string, during func(cmd *exec.Cmd, dir string), args ...string) result {
	t.Helper()
	clstr, _ := binaries(t)
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(clstr, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { assertNothingLeft(t, pid) })
	if during != nil {
		go during(cmd, dir)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Signal(syscall.SIGINT)
		err = <-done
		t.Fatalf("clstr %s did not finish within 3 minutes\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
	}
	res := result{stdout: stdout.String(), stderr: stderr.String(), dir: dir, pid: pid, took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

// assertNothingLeft fails the test if Docker holds a container, network or
// volume that the clstr process pid created.
func assertNothingLeft(t testing.TB, pid int) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Logf("no docker command to list leftovers with: %v", err)
		return
	}
	for _, kind := range [][]string{
		{"ps", "-a"}, {"network", "ls"}, {"volume", "ls"},
	} {
		args := append(append([]string{}, kind...), "--filter", "label="+docker.LabelRun,
			"--format", `{{.Label "`+docker.LabelOwner+`"}}`)
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		for _, owner := range strings.Fields(string(out)) {
			if parts := strings.Split(owner, "/"); len(parts) == 3 && parts[1] == fmt.Sprint(pid) {
				t.Errorf("clstr (pid %d) left a labelled resource behind: docker %s lists one owned by %s", pid, kind[0], owner)
			}
		}
	}
}

func assertContains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	junittest.Contains(t, what, text, wants...)
}

const passScript = `load("@stdlib//kv.star", "kv_put", "kv_expect")
suite(cluster = 2)

def echo():
    rs = post(all_nodes(), "/echo", "hi").status(200).json("body", "hi").run()
    if len(rs) != 2:
        fail("want 2 answers, got %d" % len(rs))

def crash_and_restart():
    kv_put("a", "1")
    kv_expect("a", "1")
    restart("n1", signal = "SIGKILL")
    get("n1", "/info").json("previous", "killed").json("starts", 2).run()
    restart("n2")
    get("n2", "/info").json("previous", "sigterm").run()

def peers():
    get("n1", "/info").json("peers.0", addr("n2")).run()

test("echo", echo)
test("crash and restart", crash_and_restart)
test("peers", peers)
`

func TestRunPasses(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	res := clstrRun(t, map[string]string{"pass.star": passScript}, nil, "run", "--binary", testnode, "pass.star")
	if res.status != 0 {
		t.Fatalf("exit status %d; want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "output", res.stdout, "✓ echo", "✓ crash and restart", "✓ peers", "PASSED  3 passed")
	for _, f := range []string{"events.log", "n1.log", "n2.log"} {
		if _, err := os.Stat(filepath.Join(res.dir, ".clstr/logs", f)); err != nil {
			t.Errorf("log: %v", err)
		}
	}
}

const failScript = `suite(cluster = 2)

def reads():
    put("n1", "/kv/k", "v").status(200).run()
    get(all_nodes(), "/kv/k").status(200).body("v").hint("Replicate writes to every node.").run()

test("writes", lambda: put("n1", "/kv/x", "1").status(200).run())
test("reads from every node", reads)
test("never runs", lambda: None)
`

func TestRunFails(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	res := clstrRun(t, map[string]string{"fail.star": failScript}, nil, "run", "--binary", testnode, "fail.star")
	if res.status != 1 {
		t.Fatalf("exit status %d; want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "output", res.stdout,
		"✓ writes",
		"✗ reads from every node",
		"fail.star:5:96: GET /kv/k on all_nodes()",
		"expected every node to pass, 1 of 2 did not (n2)",
		"n1 ✓ GET http://127.0.0.1:",
		"n2 ✗ GET http://127.0.0.1:",
		"→ 404 Not Found",
		"expected status is 200, got 404",
		`body: "key not found\n"`,
		"hint: Replicate writes to every node.",
		"- never runs (not run)",
		"FAILED  1 failed, 1 passed, 1 not run",
		"logs: .clstr/logs/",
	)
	events, err := os.ReadFile(filepath.Join(res.dir, ".clstr/logs/events.log"))
	if err != nil {
		t.Fatal(err)
	}
	assertContains(t, "events.log", string(events), "[CLUSTER READY]", "[TEST: reads from every node]")
}

func TestRunSyntaxError(t *testing.T) {
	_, testnode := binaries(t)
	res := clstrRun(t, map[string]string{"bad.star": "suite()\n\ndef t(:\n    pass\n"}, nil, "run", "--binary", testnode, "bad.star")
	if res.status != 2 {
		t.Fatalf("exit status %d; want 2\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "stderr", res.stderr, "bad.star:3:8: got ':', want ')'")
	if res.stdout != "" {
		t.Errorf("a script that does not compile printed:\n%s", res.stdout)
	}
	if _, err := os.Stat(filepath.Join(res.dir, ".clstr")); err == nil {
		t.Errorf("a script that does not compile created .clstr/")
	}
	// No container starts for a typo: it costs milliseconds.
	if res.took > 5*time.Second {
		t.Errorf("reporting a syntax error took %v", res.took)
	}
}

func TestRunUnhealthy(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	script := "suite(node_start_timeout = \"2s\")\ntest(\"t\", lambda: None)\n"
	res := clstrRun(t, map[string]string{"s.star": script}, nil,
		"run", "--binary", testnode, "--env", "TESTNODE_UNHEALTHY=1", "s.star")
	if res.status != 1 {
		t.Fatalf("exit status %d; want 1 (the target never became healthy)\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "output", res.stdout, "the cluster did not become healthy",
		"node n1 did not answer GET /health with 200 within 2s (last attempt: 503 Service Unavailable)",
		"last log lines of n1:", "FAILED")
}

func TestRunInterrupted(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	script := "suite()\ntest(\"sleeps\", lambda: sleep(\"90s\"))\n"
	// Once the test runs, Ctrl-C.
	interrupt := func(cmd *exec.Cmd, dir string) {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, ".clstr/logs/events.log"))
			if bytes.Contains(b, []byte("[TEST: sleeps]")) {
				cmd.Process.Signal(syscall.SIGINT)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	res := clstrRun(t, map[string]string{"s.star": script}, interrupt, "run", "--binary", testnode, "s.star")
	if res.status != 2 {
		t.Fatalf("exit status %d; want 2 (interrupted: nothing to judge)\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "output", res.stdout, "interrupted (SIGINT): stopping the cluster", "INTERRUPTED  by SIGINT before a verdict: 1 stopped in ")
}

func TestRunNoDaemon(t *testing.T) {
	clstr, testnode := binaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.star"), []byte("test(\"t\", lambda: None)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clstr, "run", "--binary", testnode, "s.star")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///nonexistent/docker.sock")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v; want status 2\nstderr:\n%s", err, stderr.String())
	}
	assertContains(t, "stderr", stderr.String(), "cannot reach the Docker daemon at unix:///nonexistent/docker.sock", "DOCKER_HOST")
}

func TestRunUsage(t *testing.T) {
	_, testnode := binaries(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two targets", []string{"run", "--binary", testnode, "--image", "x", "s.star"}, "give one of --target, --image and --binary"},
		{"no script", []string{"run", "--binary", testnode}, "give one script"},
		{"bad regexp", []string{"run", "--binary", testnode, "--run", "(", "s.star"}, "is not a regular expression"},
		{"no such test", []string{"run", "--binary", testnode, "--run", "nope", "s.star"}, `--run "nope" matches none of the tests: t`},
		{"missing binary", []string{"run", "--binary", "nope", "s.star"}, "--binary nope is not a file"},
		{"unknown flag", []string{"run", "--nope", "s.star"}, "run: no flag --nope"},
		{"missing script", []string{"run", "--binary", testnode, "none.star"}, "cannot read the script none.star: no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := clstrRun(t, map[string]string{"s.star": "test(\"t\", lambda: None)\n"}, nil, tc.args...)
			if res.status != 2 {
				t.Fatalf("exit status %d; want 2\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
			}
			assertContains(t, "stderr", res.stderr, tc.want)
		})
	}
}

func TestClean(t *testing.T) {
	dockerOrSkip(t)
	res := clstrRun(t, nil, nil, "clean")
	if res.status != 0 {
		t.Fatalf("exit status %d; want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	if !regexp.MustCompile(`^(nothing to remove|removed \d+ \w+(, \d+ \w+)*)\n$`).MatchString(res.stdout) {
		t.Errorf("clstr clean printed %q; want what it removed", res.stdout)
	}
	res = clstrRun(t, nil, nil, "clean", "extra")
	if res.status != 2 || !strings.Contains(res.stderr, "clean: takes no arguments") {
		t.Errorf("clstr clean extra: status %d, stderr %q; want 2 and a usage error", res.status, res.stderr)
	}
}

// TestCleanImages checks that clstr clean --images removes the images
// clstr built that no container uses, keeps those a live run uses, and
// never touches an image clstr did not build. It removes every unused
// clstr image on the daemon, so later tests build theirs again.
func TestCleanImages(t *testing.T) {
	dockerOrSkip(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skipf("skipped: no docker command to look at images with: %v", err)
	}
	_, testnode := binaries(t)
	data, err := os.ReadFile(testnode)
	if err != nil {
		t.Fatal(err)
	}
	// Two targets of content of their own, never run before, so that each
	// has a new image.
	bins := t.TempDir()
	nonce := fmt.Sprint(time.Now().UnixNano())
	target := func(name string) string {
		path := filepath.Join(bins, name)
		if err := os.WriteFile(path, append(slices.Clone(data), "clean-images-"+name+nonce...), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	gone, live := target("gone"), target("live")
	// targets lists the target images clstr built; it may run beside the
	// test, so it returns its error rather than failing the test.
	targets := func() ([]string, error) {
		out, err := exec.Command("docker", "images", "-q", "--no-trunc", "--filter", "label="+docker.LabelRole+"=target").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("docker images: %v\n%s", err, out)
		}
		return strings.Fields(string(out)), nil
	}
	mustTargets := func() []string {
		t.Helper()
		ids, err := targets()
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	build := func(tag, dockerfile string) string {
		t.Helper()
		cmd := exec.Command("docker", "build", "-q", "-t", tag, "-")
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		cmd.Stdin = strings.NewReader(dockerfile)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("docker build: %v\n%s", err, out)
		}
		id := strings.TrimSpace(string(out))
		t.Cleanup(func() { exec.Command("docker", "rmi", id).Run() })
		return id
	}
	// An image clstr did not build, and one of clstr's that a rebuild
	// left untagged (which older daemons list as <none>:<none>).
	build("clstr-e2e-unlabelled:clean", "FROM scratch\nLABEL purpose=clstr-e2e\n")
	untagged := build("clstr-e2e-labelled:clean", "FROM scratch\nLABEL "+docker.LabelRole+"=target purpose=first"+nonce+"\n")
	build("clstr-e2e-labelled:clean", "FROM scratch\nLABEL "+docker.LabelRole+"=target purpose=second"+nonce+"\n")

	before := mustTargets()
	res := clstrRun(t, map[string]string{"s.star": "test(\"t\", lambda: None)\n"}, nil, "run", "--binary", gone, "s.star")
	wantStatus(t, res, 0)
	built := slices.DeleteFunc(mustTargets(), func(id string) bool { return slices.Contains(before, id) })
	if len(built) != 1 {
		t.Fatalf("a run of a new binary added %d target images, want 1", len(built))
	}
	goneImage := built[0]

	// While a run uses its images, clean them; then stop the run.
	type cleaning struct {
		out    []byte
		err    error
		images []string // the target images left
	}
	cleaned := make(chan cleaning, 1)
	clstr, _ := binaries(t)
	during := func(cmd *exec.Cmd, dir string) {
		defer cmd.Process.Signal(syscall.SIGINT)
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, ".clstr/logs/events.log"))
			if bytes.Contains(b, []byte("[TEST: waits]")) {
				var c cleaning
				if c.out, c.err = exec.Command(clstr, "clean", "--images").Output(); c.err == nil {
					c.images, c.err = targets()
				}
				cleaned <- c
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		cleaned <- cleaning{err: errors.New("the run's test did not start within 2 minutes")}
	}
	res = clstrRun(t, map[string]string{"s.star": "test(\"waits\", lambda: sleep(\"90s\"))\n"}, during, "run", "--binary", live, "s.star")
	wantStatus(t, res, 2)
	var c cleaning
	select {
	case c = <-cleaned:
	case <-time.After(time.Minute):
		t.Fatal("the run ended, but clean --images did not")
	}
	if c.err != nil {
		t.Fatalf("clstr clean --images during a run: %v\n%s", c.err, c.out)
	}
	cleanOut, liveImages := c.out, c.images
	if !regexp.MustCompile(`^removed (.*, )?\d+ images?; kept \d+ images? that a run still uses`).Match(cleanOut) {
		t.Errorf("clstr clean --images printed %q; want the images it removed and those it kept", cleanOut)
	}
	if slices.Contains(liveImages, goneImage) {
		t.Errorf("the image of a finished run (%s) is still there", goneImage)
	}
	// The live run's image is the one new since the test began (another
	// package's run may keep its own meanwhile).
	kept := slices.DeleteFunc(slices.Clone(liveImages), func(id string) bool { return slices.Contains(before, id) })
	if len(kept) != 1 {
		t.Fatalf("%d new target images kept while a run used one, want that one: %v", len(kept), kept)
	}
	if out, err := exec.Command("docker", "image", "inspect", "clstr-e2e-unlabelled:clean").CombinedOutput(); err != nil {
		t.Errorf("clstr clean --images removed an image it did not build: %v\n%s", err, out)
	}
	if slices.Contains(liveImages, untagged) {
		t.Errorf("the untagged image %s is still there", untagged)
	}
	// Now that the run is over, its images go too.
	res = clstrRun(t, nil, nil, "clean", "--images")
	wantStatus(t, res, 0)
	if slices.Contains(mustTargets(), kept[0]) {
		t.Errorf("after the run ended, clean --images left its image %s", kept[0])
	}
}

func TestDoctor(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	res := clstrRun(t, nil, nil, "doctor")
	if res.status != 0 {
		t.Fatalf("exit status %d; want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	assertContains(t, "clstr doctor", res.stdout, "docker:", "API", "impairments: ")
	// Which path depends on the kernel; doctor must name one or say none.
	if !regexp.MustCompile(`(?m)^impairments: (via (netem|nftables\+nfqueue)|unavailable) \(`).MatchString(res.stdout) {
		t.Errorf("clstr doctor does not say which impairment path works:\n%s", res.stdout)
	}
}
