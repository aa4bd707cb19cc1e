//go:build !linux && !windows

package confine

import (
	"os"
	"syscall"
)

// childAttr returns nothing special: the child's watchdog notices when
// the parent dies.
func childAttr() *syscall.SysProcAttr { return nil }

// limitMemory starts the child's watchdog (see watchSelf): the kernel
// here (macOS) enforces no limit on the memory a process maps.
func limitMemory(budget int64) error { return watchSelf(budget) }

// noWatch is all the parent can do here: the child watches itself.
type noWatch struct{}

func watch(*os.Process, int64) (watcher, error) { return noWatch{}, nil }

func (noWatch) peak(done <-chan struct{}) int64 { <-done; return 0 }
func (noWatch) close()                          {}
