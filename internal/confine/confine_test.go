package confine_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/internal/confine"
)

// TestMain turns the test binary into the child when Run starts it: the
// child does what its first argument says.
func TestMain(m *testing.M) {
	if os.Getenv("CONFINE_TEST_WATCHDOG") != "" {
		confine.UseWatchdog()
	}
	if confine.Enter() {
		child(os.Args[1:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var sink [][]byte

func child(args []string) {
	switch args[0] {
	case "hoard":
		// Far past the budget, one allocation at a time.
		for {
			sink = append(sink, bytes.Repeat([]byte{1}, 64<<20))
		}
	case "one-huge":
		// One allocation past the budget at once.
		sink = append(sink, make([]byte, 8<<30))
		for i := range sink[0] {
			sink[0][i] = 1
		}
	case "talk":
		fmt.Println("to stdout")
		fmt.Fprintln(os.Stderr, "to stderr")
		os.Exit(7)
	case "overflow":
		debug.SetMaxStack(64 << 20)
		var f func(int) int
		f = func(n int) int { return f(n+1) + 1 }
		f(0)
	}
}

func run(t *testing.T, what string, env ...string) (confine.Outcome, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	out, err := confine.Run(exe, []string{"child", what}, env, confine.Budget(64<<20), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %+v; stderr %q", what, out, stderr.String())
	return out, stdout.String(), stderr.String()
}

// TestOutOfMemory checks that the kernel stops a child that takes more
// than its budget, whether bit by bit or at once, and that the parent
// learns it was memory, with no stack trace on its standard error.
func TestOutOfMemory(t *testing.T) {
	for _, what := range []string{"hoard", "one-huge"} {
		t.Run(what, func(t *testing.T) {
			out, _, stderr := run(t, what)
			if !out.OutOfMemory || out.Status == 0 {
				t.Errorf("outcome %+v; want out of memory", out)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Errorf("a stack trace reached the standard error:\n%s", stderr)
			}
		})
	}
}

// TestWatchdogOutOfMemory checks the bound of systems whose kernel
// enforces none (macOS): the child's own watchdog stops it once the Go
// runtime has mapped more than its budget, and the parent learns it was
// memory, as from the kernel's limit.
func TestWatchdogOutOfMemory(t *testing.T) {
	for _, what := range []string{"hoard", "one-huge"} {
		t.Run(what, func(t *testing.T) {
			out, _, stderr := run(t, what, "CONFINE_TEST_WATCHDOG=1")
			if !out.OutOfMemory || out.Status == 0 {
				t.Errorf("outcome %+v; want out of memory", out)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Errorf("a stack trace reached the standard error:\n%s", stderr)
			}
		})
	}
	out, stdout, _ := run(t, "talk", "CONFINE_TEST_WATCHDOG=1")
	if out.Status != 7 || out.Died() || stdout != "to stdout\n" {
		t.Errorf("a child within its budget: outcome %+v, stdout %q; want status 7", out, stdout)
	}
}

// TestCrash checks that a crash that is not memory is told apart.
func TestCrash(t *testing.T) {
	out, _, stderr := run(t, "overflow")
	if out.OutOfMemory || !out.Died() || !strings.Contains(out.Crash, "stack") {
		t.Errorf("outcome %+v; want a crash naming the stack", out)
	}
	if strings.Contains(stderr, "goroutine ") {
		t.Errorf("a stack trace reached the standard error:\n%s", stderr)
	}
}

// TestOutput checks that the child's output and exit status reach the
// parent unchanged.
func TestOutput(t *testing.T) {
	out, stdout, stderr := run(t, "talk")
	if out.Status != 7 || out.Died() {
		t.Errorf("outcome %+v; want status 7", out)
	}
	if stdout != "to stdout\n" || stderr != "to stderr\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
}
