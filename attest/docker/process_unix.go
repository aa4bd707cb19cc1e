//go:build !windows

package docker

import (
	"errors"
	"io/fs"
	"syscall"
)

// processAlive reports whether a process with this id exists on this
// host (one of another user's counts).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// inode returns the file's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
