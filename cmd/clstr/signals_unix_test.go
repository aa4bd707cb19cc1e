//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sleepsScript is a stage whose one test waits until it is stopped.
const sleepsScript = "suite()\ntest(\"sleeps\", lambda: sleep(\"90s\"))\n"

// signalled runs clstr run on sleepsScript in a process group of its own,
// calls send with clstr's pid once the test runs, and returns what clstr
// did. The cleanup checks that nothing of the run is left in Docker.
func signalled(t *testing.T, send func(pid int)) result {
	t.Helper()
	dockerOrSkip(t)
	clstr, testnode := binaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.star"), []byte(sleepsScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clstr, "run", "--binary", testnode, "s.star")
	cmd.Dir = dir
	// As under GNU timeout, make or a CI runner: the group is clstr's and
	// its children's, so a signal to the group reaches no test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { assertNothingLeft(t, pid) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, ".clstr/logs/events.log"))
		if bytes.Contains(b, []byte("[TEST: sleeps]")) {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			<-done
			t.Fatalf("the test did not start within 2 minutes\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("clstr ended (%v) before its test started\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	send(pid)
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		t.Fatalf("clstr did not end within 2 minutes of the signal\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	res := result{stdout: stdout.String(), stderr: stderr.String(), dir: dir, pid: pid}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

// assertInterrupted checks that clstr cleaned up after sig and said that
// sig stopped the run.
func assertInterrupted(t *testing.T, res result, sig string) {
	t.Helper()
	if res.status != 2 {
		t.Errorf("exit status %d; want 2 (interrupted: nothing to judge)", res.status)
	}
	if strings.Contains(res.stderr, "quitting without cleaning up") {
		t.Errorf("one %s was taken for two: clstr quit without cleaning up", sig)
	}
	assertContains(t, "output", res.stdout,
		"interrupted ("+sig+"): stopping the cluster",
		"INTERRUPTED  by "+sig+" before a verdict: 1 stopped in ")
	if strings.Contains(res.stdout, "could not judge") || strings.Contains(res.stdout, "failed") {
		t.Errorf("an interrupted run is reported as an error or a failure")
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	}
}

// TestRunInterruptedOnceDeliveredTwice sends one Ctrl-C as GNU timeout
// passes it on, to clstr and then to its process group, microseconds
// apart: clstr still removes its cluster.
func TestRunInterruptedOnceDeliveredTwice(t *testing.T) {
	res := signalled(t, func(pid int) {
		syscall.Kill(pid, syscall.SIGINT)
		syscall.Kill(-pid, syscall.SIGINT)
	})
	assertInterrupted(t, res, "SIGINT")
}

// TestRunTerminated sends the one SIGTERM a cancelled CI job sends.
func TestRunTerminated(t *testing.T) {
	res := signalled(t, func(pid int) { syscall.Kill(pid, syscall.SIGTERM) })
	assertInterrupted(t, res, "SIGTERM")
}

// TestSignalsOfOneAct sends this process SIGINT and SIGTERM at once: one
// cancellation, whose cause names one of them, and no exit.
func TestSignalsOfOneAct(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var out bytes.Buffer
	stop := cancelOnSignal(cancel, newOutput(&out), io.Discard)
	defer stop()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGTERM} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("no cancellation 10s after SIGINT")
	}
	// Had a second signal counted, this process would have ended.
	time.Sleep(200 * time.Millisecond)
	// The kernel may hand signals sent a moment apart to different threads
	// of this process, so which one Go sees first is not fixed: the cause
	// names one of them, and only one counts.
	var in *interruption
	if !errors.As(context.Cause(ctx), &in) || (signalName(in.sig) != "SIGINT" && signalName(in.sig) != "SIGTERM") {
		t.Errorf("cause %v; want the SIGINT or the SIGTERM", context.Cause(ctx))
	}
	if n := strings.Count(out.String(), "interrupted ("); n != 1 {
		t.Errorf("said %d times that the run is interrupted; want once:\n%s", n, out.String())
	}
}
