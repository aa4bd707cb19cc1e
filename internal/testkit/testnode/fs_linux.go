package main

import (
	"os"
	"syscall"
)

const osSync = syscall.O_SYNC

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// tryMount mounts a tmpfs and unmounts it, and says why that failed.
func tryMount() string {
	dir, err := os.MkdirTemp("", "mount")
	if err != nil {
		return "cannot try: " + err.Error()
	}
	defer os.Remove(dir)
	if err := syscall.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		return err.Error()
	}
	syscall.Unmount(dir, 0)
	return ""
}
