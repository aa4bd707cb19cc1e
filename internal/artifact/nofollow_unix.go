//go:build unix

package artifact

import "syscall"

// noFollow makes an open refuse a link.
const noFollow = syscall.O_NOFOLLOW
