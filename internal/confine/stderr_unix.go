//go:build !windows

package confine

import (
	"os"
	"os/exec"
)

// childStderr returns the parent's standard error, which the child
// finds on fd 3.
func childStderr() *os.File { return os.NewFile(3, "/dev/stderr") }

// passStderr hands f to the child as its fd 3.
func passStderr(cmd *exec.Cmd, f *os.File) error {
	cmd.ExtraFiles = []*os.File{f}
	return nil
}
