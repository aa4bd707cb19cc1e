//go:build linux

package impair

import (
	"os"
	"runtime"
	"testing"
)

// TestMain gives the test process more Ps than the machine has cores.
// The shaper's thread, woken by the kernel, needs a P to run its Go code;
// in the sidecar the process has little else to run, but here the
// measuring goroutines compete for the same Ps, and on two cores the
// shaper would wait behind them and release packets late.
func TestMain(m *testing.M) {
	runtime.GOMAXPROCS(max(4, runtime.NumCPU()))
	os.Exit(m.Run())
}
