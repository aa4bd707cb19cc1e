//go:build !windows

package inroot

import (
	"os"
	"syscall"
)

// readOnly opens a file for reading without blocking, so that opening a
// named pipe does not wait for a writer.
const readOnly = os.O_RDONLY | syscall.O_NONBLOCK
