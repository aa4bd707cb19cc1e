//go:build !unix

package history

import "time"

// cpuTime is 0 where the CPU time of the process is not at hand.
func cpuTime() time.Duration { return 0 }
