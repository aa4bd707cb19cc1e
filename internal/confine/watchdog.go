package confine

import (
	"fmt"
	"os"
	"runtime/metrics"
	"time"
)

// watchSelf starts a watchdog for a system whose kernel enforces no limit
// on the memory a process maps: every few milliseconds it reads how
// much memory the Go runtime has mapped (heap, stacks and the runtime's
// own; mapped counts before it is touched, so one huge allocation is seen
// at once) and stops the process, the way the runtime does when the
// kernel refuses it memory, once that passes budget. It also stops the
// process when the parent is gone.
func watchSelf(budget int64) error {
	parent := os.Getppid()
	// What the runtime has mapped, less the heap it gave back.
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	mapped := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64() - sample[1].Value.Uint64()
	}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
		return fmt.Errorf("the Go runtime does not report its memory")
	}
	limit := mapped() + uint64(budget)
	go func() {
		for t := time.NewTicker(5 * time.Millisecond); ; <-t.C {
			if n := mapped(); n > limit {
				fmt.Fprintf(crashOut, "fatal error: out of memory: %d bytes mapped, the limit is %d\n", n, limit)
				os.Exit(2)
			}
			if os.Getppid() != parent {
				os.Exit(2)
			}
		}
	}()
	return nil
}
