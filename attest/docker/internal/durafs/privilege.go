//go:build linux

package durafs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExecUnprivileged executes the program at path, as syscall.Exec does,
// after taking from the process every capability it holds and every way
// to gain one back, so that the program cannot mount, even as root. A
// supervisor serves the file system with CAP_SYS_ADMIN and calls this in
// the child that becomes the node's program. It returns only on failure.
//
// It sets no_new_privs (no set-user-ID or file capability raises
// privileges across exec), clears the ambient, inheritable, permitted and
// effective sets, and, where the process holds CAP_SETPCAP, also empties
// the bounding set and locks the secure bits that give root capabilities
// on exec. It fails, without executing, if a capability is left in the
// effective or permitted set.
//
// Every descriptor but stdin, stdout and stderr is closed on exec: a
// supervisor's FUSE device in the program's hands would let it answer
// the file system's requests, and would keep the file system alive after
// the supervisor dies, so that a dying program that flushes a file on it
// waits for ever.
func ExecUnprivileged(path string, argv, env []string) error {
	// Credentials belong to a thread, and exec keeps the calling thread's:
	// drop them and exec on one thread, which is never given back.
	runtime.LockOSThread()
	if err := dropPrivileges(); err != nil {
		return err
	}
	if err := closeOnExec(); err != nil {
		return err
	}
	err := syscall.Exec(path, argv, env)
	return fmt.Errorf("execute %s: %w", path, err)
}

// dropPrivileges drops the calling thread's privileges.
func dropPrivileges() error {
	var errs []error
	if hasCap(unix.CAP_SETPCAP) {
		for c := 0; c <= unix.CAP_LAST_CAP; c++ {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
				errs = append(errs, fmt.Errorf("drop capability %d from the bounding set: %w", c, err))
			}
		}
		const bits = 1<<0 | 1<<1 | 1<<2 | 1<<3 // SECBIT_NOROOT, its lock, SECBIT_NO_SETUID_FIXUP, its lock
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, bits, 0, 0, 0); err != nil {
			errs = append(errs, fmt.Errorf("set secure bits: %w", err))
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		errs = append(errs, fmt.Errorf("clear ambient capabilities: %w", err))
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		errs = append(errs, fmt.Errorf("set no_new_privs: %w", err))
	}
	var data [2]unix.CapUserData
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		errs = append(errs, fmt.Errorf("clear capabilities: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("drop privileges: %w", err)
	}
	for _, set := range []string{"CapEff", "CapPrm"} {
		if v, err := capSet(set); err != nil || v != 0 {
			return fmt.Errorf("drop privileges: %s is %x after dropping (%v)", set, v, err)
		}
	}
	return nil
}

// hasCap reports whether capability c is in the effective set.
func hasCap(c int) bool {
	v, err := capSet("CapEff")
	return err == nil && v&(1<<c) != 0
}

// capSet reads one capability set of this process from /proc.
func capSet(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			var n uint64
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/thread-self/status", name)
}

// closeOnExec marks every descriptor above stderr close-on-exec.
func closeOnExec() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Kernels before 5.11 have no close_range.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		// The descriptor of the listing itself is gone by now: EBADF.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return fmt.Errorf("close descriptor %d on exec: %w", fd, err)
		}
	}
	return nil
}
