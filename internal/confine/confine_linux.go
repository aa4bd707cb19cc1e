package confine

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childAttr makes the kernel kill the child when the parent dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// limitMemory sets the kernel's limits on this process's memory to budget
// bytes beyond what it has mapped now.
//
// RLIMIT_DATA alone leaks: the Go runtime reserves address space without
// access, then maps it writable in place, and the kernel charges the data
// limit only for the pages that were not mapped before. RLIMIT_AS counts
// the reservations too; it is set to the address space the runtime has
// already reserved for itself (the race detector's shadow included) plus
// the budget, so every reservation of heap from now on counts.
func limitMemory(budget int64) error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	size := statusBytes(b, "VmSize:")
	for _, l := range []struct {
		res int
		n   int64
	}{{syscall.RLIMIT_DATA, statusBytes(b, "VmData:") + budget}, {syscall.RLIMIT_AS, size + budget}} {
		lim := syscall.Rlimit{Cur: uint64(l.n), Max: uint64(l.n)}
		if err := syscall.Setrlimit(l.res, &lim); err != nil {
			return err
		}
	}
	return nil
}

// procWatch follows a child through /proc.
type procWatch struct{ pid int }

// watch follows the started child; the kernel already holds its limits.
func watch(p *os.Process, budget int64) (watcher, error) { return procWatch{p.Pid}, nil }

func (procWatch) close() {}

// peak samples the child's VmData until done is closed and returns the
// highest.
func (w procWatch) peak(done <-chan struct{}) int64 {
	path := "/proc/" + strconv.Itoa(w.pid) + "/status"
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var peak int64
	for {
		if b, err := os.ReadFile(path); err == nil {
			peak = max(peak, statusBytes(b, "VmData:"))
		}
		select {
		case <-done:
			return peak
		case <-t.C:
		}
	}
}

// statusBytes reads a line of /proc/PID/status such as "VmData:", in
// bytes.
func statusBytes(status []byte, key string) int64 {
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
