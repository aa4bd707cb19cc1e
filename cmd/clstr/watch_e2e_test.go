package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watching is a clstr run --watch going on in dir.
type watching struct {
	t    testing.TB
	cmd  *exec.Cmd
	dir  string
	out  *syncBuffer // stdout and stderr, interleaved as on a terminal (logs_test.go)
	done chan error
}

// startWatch starts clstr with args in a fresh directory holding files
// (and what setup, if not nil, puts there) and checks, at the end of the
// test, that nothing of it is left in Docker.
func startWatch(t testing.TB, files map[string]string, setup func(dir string), args ...string) *watching {
	t.Helper()
	clstr, _ := binaries(t)
	dir := t.TempDir()
	writeFiles(t, dir, files)
	if setup != nil {
		setup(dir)
	}
	w := &watching{t: t, dir: dir, out: &syncBuffer{}, done: make(chan error, 1)}
	w.cmd = exec.Command(clstr, args...)
	w.cmd.Dir = dir
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := w.cmd.Process.Pid
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			w.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-w.done:
			case <-time.After(time.Minute):
				w.cmd.Process.Kill()
				<-w.done
			}
		}
		assertNothingLeft(t, pid)
		if t.Failed() {
			t.Logf("output of clstr:\n%s", w.out.String())
		}
	})
	return w
}

// waitFor waits until the output holds text n times in all.
func (w *watching) waitFor(text string, n int) {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if strings.Count(w.out.String(), text) >= n {
			return
		}
		select {
		case err := <-w.done:
			w.done <- err
			w.t.Fatalf("clstr ended (%v) before printing %q %d times", err, text, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	w.t.Fatalf("clstr did not print %q %d times within 2 minutes", text, n)
}

// waitForEvent waits until the run's event log holds text.
func (w *watching) waitForEvent(text string) {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(w.dir, ".clstr/logs/events.log"))
		if bytes.Contains(b, []byte(text)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatalf("the event log never said %q", text)
}

// save saves a file as an editor does: a new file renamed over the old.
func (w *watching) save(name, content string) {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	tmp := p + ".swp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		w.t.Fatal(err)
	}
}

// interrupt sends SIGINT and returns the exit status.
func (w *watching) interrupt() int {
	w.t.Helper()
	w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-w.done:
		w.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			w.t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		w.t.Fatalf("clstr did not end within 2 minutes of SIGINT")
	}
	return -1
}

func stage(name, body string) string {
	return "load(\"lib.star\", \"healthy\")\nsuite()\ntest(\"" + name + "\", " + body + ")\n"
}

const libStar = "def healthy():\n    get(\"n1\", \"/health\").status(200).run()\n"

func TestRunWatch(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	node := copyBinary(t, testnode)
	// An author's own script, trusted: its tests sleep for minutes, past
	// the sandbox's limit on sleep.
	w := startWatch(t, map[string]string{"s.star": stage("first", "healthy"), "lib.star": libStar}, nil,
		"run", "--watch", "--trust", "--binary", node, "s.star")
	w.waitFor("✓ first", 1)
	w.waitFor("watching s.star, the module it loads and the binary ", 1)

	// An edit of the script runs it again.
	w.save("s.star", stage("second", "healthy"))
	w.waitFor("↻ s.star changed", 1)
	w.waitFor("✓ second", 1)
	w.waitFor("PASSED", 2)

	// So does an edit of the module it loads.
	w.save("lib.star", libStar+"\n# changed\n")
	w.waitFor("↻ lib.star changed", 1)
	w.waitFor("✓ second", 2)
	w.waitFor("PASSED", 3)

	// A syntax error is shown, and no cluster starts for it.
	starts := strings.Count(w.out.String(), "starting 1 node(s)")
	w.save("s.star", "suite()\ntest(\"broken\" lambda: None)\n")
	w.waitFor("s.star:2:21: got lambda, want ','", 1)
	w.waitFor("waiting for a change to the script", 1)
	// Its fix runs again.
	w.save("s.star", stage("fixed", "healthy"))
	w.waitFor("✓ fixed", 1)
	out := w.out.String()
	between := out[strings.Index(out, "got lambda"):strings.Index(out, "✓ fixed")]
	if n := strings.Count(out, "starting 1 node(s)"); n != starts+1 || strings.Count(between, "starting 1 node(s)") != 1 {
		t.Errorf("a cluster started for the script that did not compile:\n%s", between)
	}

	// A rebuilt binary, written in steps as a linker does, runs again
	// once it is complete: a new image of the new content.
	bin, err := os.ReadFile(node)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(node)
	if err != nil {
		t.Fatal(err)
	}
	half := len(bin) / 2
	f.Write(bin[:half])
	time.Sleep(120 * time.Millisecond)
	f.Write(bin[half:])
	f.Write([]byte("rebuilt")) // trailing bytes: another image, the same program
	f.Close()
	w.waitFor("/node changed · run", 1)
	w.waitFor("✓ fixed", 2)
	w.waitFor("PASSED", 5)

	// A change during a run stops the run and tears its cluster down
	// before the next one starts.
	w.save("s.star", stage("sleeps", "lambda: sleep(\"5m\")"))
	w.waitForEvent("[TEST: sleeps]")
	w.save("s.star", stage("quick", "healthy"))
	w.waitFor("s.star changed: stopping this run", 1)
	w.waitFor("✓ quick", 1)

	// Ctrl-C during a run: the cluster goes, clstr exits 2 (the cleanup
	// checks that nothing is left).
	w.save("s.star", stage("sleeps again", "lambda: sleep(\"5m\")"))
	w.waitForEvent("[TEST: sleeps again]")
	if status := w.interrupt(); status != 2 {
		t.Errorf("exit status %d after Ctrl-C; want 2", status)
	}
	assertContains(t, "output", w.out.String(), "interrupted (SIGINT): stopping the cluster")
}

func TestRunWatchTarget(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	w := startWatch(t, map[string]string{
		"s.star":        stage("first", "healthy"),
		"lib.star":      libStar,
		"Dockerfile":    "FROM scratch\nCOPY testnode /testnode\nCOPY notes.txt /notes.txt\nENTRYPOINT [\"/testnode\"]\n",
		"notes.txt":     "v1\n",
		".dockerignore": "ignored/\n",
	}, func(dir string) { copyFile(t, testnode, filepath.Join(dir, "testnode")) },
		"run", "--watch", "--target", ".", "s.star")
	w.waitFor("✓ first", 1)

	// Only the script changed: no build.
	w.save("s.star", stage("second", "healthy"))
	w.waitFor("✓ second", 1)
	if n := strings.Count(w.out.String(), "building the image"); n != 1 {
		t.Errorf("the image was built %d times; want once, as only the script changed", n)
	}
	// What the build leaves out does not count; a source does.
	if err := os.MkdirAll(filepath.Join(w.dir, "ignored"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.save("ignored/x.txt", "x")
	w.save("notes.txt", "v2\n")
	w.waitFor("↻ notes.txt changed: building the image again", 1)
	w.waitFor("✓ second", 2)
	if strings.Contains(w.out.String(), "x.txt") {
		t.Errorf("a change the build ignores was reported")
	}
	if status := w.interrupt(); status != 2 {
		t.Errorf("exit status %d after Ctrl-C; want 2", status)
	}
}

// copyBinary copies an executable into a directory of the test's own, so
// that the test may rewrite it.
func copyBinary(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "node")
	copyFile(t, src, dst)
	return dst
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLearnWatch is clstr test --watch in a challenge directory: the
// stage runs, and runs again, built anew, when a source changes.
func TestLearnWatch(t *testing.T) {
	dockerOrSkip(t)
	kv := kvBinary(t)
	w := startWatch(t, map[string]string{
		progressFile: "challenge: kv-store\nstage: http-api\n",
		"Dockerfile": "FROM scratch\nCOPY server /server\nCOPY notes.txt /notes.txt\nENTRYPOINT [\"/server\"]\n",
		"notes.txt":  "v1\n",
	}, func(dir string) { copyFile(t, kv, filepath.Join(dir, "server")) },
		"test", "--watch", "--run", "PUT Stores")
	w.waitFor("· watching the sources in . for changes", 1)
	assertContains(t, "output", w.out.String(), "Stage 1 of 8: Store and Retrieve Data (http-api)", "✓ PUT Stores Values")
	w.save("notes.txt", "v2\n")
	w.waitFor("↻ notes.txt changed: building the image again", 1)
	w.waitFor("✓ PUT Stores Values", 2)
	if strings.Contains(w.out.String(), "GET Returns Stored Values") {
		t.Errorf("--run ran a test it does not match")
	}
	if status := w.interrupt(); status != 2 {
		t.Errorf("exit status %d after Ctrl-C; want 2", status)
	}
}
