package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is also the supervisor and the program's launcher when
// started under Name, as clstr is.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == Name {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// supervised is a supervisor running a shell script over a fresh store.
type supervised struct {
	cmd         *exec.Cmd
	data, store string
	exited      chan error
}

func startSupervisor(t *testing.T, store, script string) *supervised {
	t.Helper()
	if err := durafsCheck(t); err != nil {
		t.Skipf("this host cannot serve durafs: %v", err)
	}
	dir := t.TempDir()
	if store == "" {
		store = filepath.Join(dir, "store")
	}
	s := &supervised{data: filepath.Join(dir, "data"), store: store, exited: make(chan error, 1)}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s.cmd = exec.CommandContext(ctx, self)
	s.cmd.Args = []string{Name, "supervise", "-data", s.data, "-store", store, "--", "/bin/sh", "-c", "cd " + s.data + " && " + script}
	// A file rather than this test's output, which a program left
	// running would hold open.
	out, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		// The program's process group is its pid, a child of one of
		// the supervisor's threads.
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", s.cmd.Process.Pid))
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			for _, f := range strings.Fields(string(b)) {
				if child, err := strconv.Atoi(f); err == nil {
					syscall.Kill(-child, syscall.SIGKILL)
				}
			}
		}
		s.cmd.Process.Kill()
		<-s.exited
		syscall.Unmount(s.data, syscall.MNT_DETACH)
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("supervisor output:\n%s", b)
		}
	})
	// The script says it runs by creating a file on the mount.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(s.data, "running")); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the program did not start within 20s")
		}
	}
}

func durafsCheck(t *testing.T) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	return nil
}

// wait returns the supervisor's exit status.
func (s *supervised) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-s.exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		s.exited <- err
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatal("the supervisor did not exit within 30s")
	}
	return -1
}

func readBacking(t *testing.T, store, name string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(store, BackingDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// TestPowerLoss: SIGPWR kills the program and leaves only what it synced.
func TestPowerLoss(t *testing.T) {
	s := startSupervisor(t, "", `: > running; sync running .; echo synced > kept; sync kept .; echo lost > gone; exec sleep 60`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(s.data, "gone")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program did not write within 10s")
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGPWR); err != nil {
		t.Fatal(err)
	}
	if status := s.wait(t); status != ExitPowerLost {
		t.Fatalf("exit status %d, want %d", status, ExitPowerLost)
	}
	if got, ok := readBacking(t, s.store, "kept"); got != "synced\n" {
		t.Errorf("kept holds %q (present: %v), want the synced line", got, ok)
	}
	if _, ok := readBacking(t, s.store, "gone"); ok {
		t.Error("a file never synced, in a directory not synced since, survived the power loss")
	}
}

// TestStopKeepsEverything: the program's own exit passes its status on and
// loses nothing, and a power loss begun before a kill is finished by the
// next supervisor before it mounts.
func TestStopKeepsEverything(t *testing.T) {
	// The trap is set before the script says it runs, which is when the
	// test may stop it.
	s := startSupervisor(t, "", `trap 'echo unsynced > late; kill $!; exit 7' TERM; : > running; sleep 60 & wait`)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if status := s.wait(t); status != 7 {
		t.Fatalf("exit status %d, want the program's 7", status)
	}
	if got, _ := readBacking(t, s.store, "late"); got != "unsynced\n" {
		t.Fatalf("after a stop, late holds %q, want the unsynced line", got)
	}
	// As if a supervisor had been killed in the middle of a power loss.
	if err := os.WriteFile(filepath.Join(s.store, powerLossMarker), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	next := startSupervisor(t, s.store, `: > running; exec sleep 60`)
	if _, ok := readBacking(t, next.store, "late"); ok {
		t.Error("the unfinished power loss was not replayed before the mount: late survived")
	}
	if _, err := os.Stat(filepath.Join(next.store, powerLossMarker)); err == nil {
		t.Error("the power loss marker is still there after the replay")
	}
}
