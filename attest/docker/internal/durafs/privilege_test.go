//go:build linux

package durafs

import (
	"context"
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

// privEnv marks the processes of TestExecUnprivileged: "drop" executes
// the node without privileges, "node" checks it has none.
const privEnv = "DURAFS_TEST_PRIVILEGE"

// TestUnprivilegedChild is either side of TestExecUnprivileged.
func TestUnprivilegedChild(t *testing.T) {
	switch os.Getenv(privEnv) {
	case "drop":
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, privEnv+"=") {
				env = append(env, kv)
			}
		}
		// A descriptor opened without O_CLOEXEC, as go-fuse opens
		// /dev/fuse, must not reach the node.
		fd, err := syscall.Open(os.Args[0], syscall.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, privEnv+"=node", fmt.Sprintf("%s_FD=%d", privEnv, fd))
		argv := []string{os.Args[0], "-test.run=^TestUnprivilegedChild$", "-test.count=1", "-test.v"}
		t.Fatal(ExecUnprivileged(os.Args[0], argv, env))
	case "node":
		for _, set := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"} {
			if v, err := capSet(set); err != nil || v != 0 {
				t.Errorf("the node holds %s %x (%v), want none", set, v, err)
			}
		}
		if fd, err := strconv.Atoi(os.Getenv(privEnv + "_FD")); err != nil {
			t.Errorf("no descriptor to look for: %v", err)
		} else if err := syscall.Fstat(fd, &syscall.Stat_t{}); err != syscall.EBADF {
			t.Errorf("the node inherited descriptor %d (fstat: %v)", fd, err)
		}
		b, _ := os.ReadFile("/proc/self/status")
		if !strings.Contains(string(b), "NoNewPrivs:\t1") {
			t.Error("no_new_privs is not set in the node")
		}
		dir := t.TempDir()
		if err := syscall.Mount("none", dir, "tmpfs", 0, ""); err == nil {
			syscall.Unmount(dir, 0)
			t.Error("the node mounted a tmpfs")
		}
		for _, d := range []string{"data", "mnt"} {
			os.Mkdir(filepath.Join(dir, d), 0o700)
		}
		if s, err := Mount(filepath.Join(dir, "data"), filepath.Join(dir, "mnt"), Options{}); err == nil {
			s.Unmount()
			t.Error("the node mounted a durable file system")
		} else {
			t.Logf("mount refused: %v", err)
		}
	default:
		t.Skip("runs only as a process of TestExecUnprivileged")
	}
}

// TestExecUnprivileged: a program executed by ExecUnprivileged from a
// process with every capability (root here) holds none and cannot mount.
func TestExecUnprivileged(t *testing.T) {
	if v, err := capSet("CapEff"); err != nil || v&(1<<21) == 0 {
		t.Skipf("needs CAP_SYS_ADMIN to show that it is dropped (CapEff %x, %v)", v, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestUnprivilegedChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), privEnv+"=drop")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnprivilegedChild") {
		t.Fatalf("the unprivileged node failed its checks (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "mount refused") {
		t.Fatalf("the node's checks did not run:\n%s", out)
	}
}
