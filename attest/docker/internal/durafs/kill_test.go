//go:build linux

package durafs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// childDirEnv tells the test binary to serve a mount as the child of
// TestReplayAfterKill.
const childDirEnv = "DURAFS_TEST_CHILD_DIR"

// TestServeChild is the serving process TestReplayAfterKill kills: it
// mounts dir/data at dir/mnt, says so, and serves until killed.
func TestServeChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("runs only as the serving process of TestReplayAfterKill")
	}
	s, err := Mount(filepath.Join(dir, "data"), filepath.Join(dir, "mnt"), Options{Journal: filepath.Join(dir, "journal")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unmount()
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute)
}

// TestReplayAfterKill kills the serving process with SIGKILL in the middle
// of a workload, as when a node's container is killed with everything in
// it, and replays the power loss from the journal alone.
func TestReplayAfterKill(t *testing.T) {
	m := mountT(t, map[string]string{"data": "old", "log": "hello", "gone": "x"})
	// Only the probe mount above checks that this host can mount; the
	// child serves the real one.
	if err := m.s.Unmount(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(m.backing)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
			syscall.Unmount(m.mnt, syscall.MNT_DETACH)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the serving process did not mount within 20s")
		}
	}

	mnt := m.mnt
	writeSync(t, mnt+"/data.tmp", "new")
	must(t, os.Rename(mnt+"/data.tmp", mnt+"/data"))
	appendTo(t, mnt+"/log", " world", false)
	writeSync(t, mnt+"/kept", "synced")
	must(t, os.Remove(mnt+"/gone"))
	must(t, os.Mkdir(mnt+"/d", 0o755))
	syncDir(t, mnt)
	write(t, mnt+"/d/f", "never synced")
	write(t, mnt+"/after", "never synced")

	killed = true
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
		t.Fatalf("unmount the dead mount: %v", err)
	}
	if err := Replay(m.backing, m.journal); err != nil {
		t.Fatalf("replay: %v", err)
	}
	os.Remove(filepath.Join(dir, "ready"))
	checkTree(t, m, map[string]string{"data": "new", "log": "hello", "kept": "synced", "d/": ""})
}
