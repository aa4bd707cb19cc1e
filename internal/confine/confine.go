// Package confine runs a sandboxed script in a child process whose memory
// the operating system bounds, so that nothing the script does inside one
// go.starlark.net operation (a string copied past the limit in one step,
// say) can take the machine's memory: the allocation fails, the child
// dies, and the parent, which outlives it, reports the limit and removes
// what the child left.
//
// The parent starts the child with Run; the child, the same executable
// re-executed with the same arguments, calls Enter first thing. In the
// child:
//
//   - standard output is the parent's standard output;
//   - os.Stderr is the parent's standard error, passed as an extra file
//     (fd 3; on Windows an inherited handle);
//   - fd 2 is a pipe to the parent, which is where the Go runtime writes
//     when it dies (out of memory, a stack overflow, a fatal error): the
//     parent turns that into one line instead of a Go stack trace, and
//     copies anything else written there through;
//   - its memory is bounded from then on, as each system can: on Linux by
//     RLIMIT_AS and RLIMIT_DATA (the Go heap, goroutine stacks, and the
//     race detector's shadow memory when built with -race; see
//     limitMemory), on Windows by a job object's limit on the memory the
//     process commits, and where the kernel enforces no such limit
//     (macOS) by a watchdog in the child that stops it as soon as the Go
//     runtime has mapped more than its budget;
//   - it dies with the parent: Pdeathsig on Linux, the job object on
//     Windows, and elsewhere the watchdog, which sees the child orphaned.
package confine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// envBudget names the environment variable that marks the child and
// carries its data limit in bytes.
const envBudget = "CLSTR_CONFINED_DATA"

// ExitRunaway is the exit status of a child that stopped itself because
// a script would not stop (starlark.Limits.Runaway): the child has printed
// the limit; the parent removes what it left.
const ExitRunaway = 3

// Budget returns the data limit of a child whose scripts may take memory
// bytes of heap. The watchdog of starlark.Limits stops a script whose heap
// (garbage included) grows past memory; the kernel's limit is a quarter
// above it, plus room for the runtime, the engine and the Docker client,
// so that a step that jumps past the watchdog (one copy of gigabytes) is
// refused at once instead of copied first.
func Budget(memory int64) int64 {
	if memory <= 0 {
		memory = 1 << 30
	}
	b := memory + memory/4 + 384<<20
	if raceEnabled {
		// The race detector's shadow memory takes a few bytes for each
		// byte of heap, and counts against the same limit.
		b *= 4
	}
	return b
}

// confineMemory bounds a child's memory: limitMemory, as this system
// can.
var confineMemory = limitMemory

// crashOut keeps fd 2 of a child open.
var crashOut *os.File

// IsChild reports whether this process is a confined child.
func IsChild() bool { return os.Getenv(envBudget) != "" }

// Enter confines this process if it is a child: it takes standard error
// back from fd 3 and sets the data limit the parent chose. (No soft
// memory limit for the collector: near it, a script that holds its memory
// would keep the collector running flat out; the watchdog of
// starlark.Limits counts garbage too, and stops a script long before the
// kernel's limit unless one step jumps past both.) It returns whether this is a child; a child that cannot be confined
// exits, for the parent to report.
func Enter() bool {
	v := os.Getenv(envBudget)
	if v == "" {
		return false
	}
	os.Unsetenv(envBudget)
	// The *os.File of fd 2 must stay reachable: its finalizer would close
	// the fd the runtime reports a crash on.
	crashOut = os.Stderr
	os.Stderr = childStderr()
	budget, err := strconv.ParseInt(v, 10, 64)
	if err == nil {
		err = confineMemory(budget)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "clstr: confine the script's process: %v\n", err)
		os.Exit(2)
	}
	return true
}

// Outcome is how a child ended.
type Outcome struct {
	// Status is its exit status; -1 if a signal killed it.
	Status int
	// OutOfMemory says the child died because the kernel refused it
	// memory: the data limit.
	OutOfMemory bool
	// Peak is the most private writable memory the child was seen to
	// map (VmData), sampled every few milliseconds.
	Peak int64
	// Crash is the first line of the Go runtime's last words, if the
	// child died of something else: "fatal error: stack overflow",
	// "signal: killed".
	Crash string
}

// Confined reports whether the child was stopped by its limit or by a
// crash rather than ending on its own terms.
func (o Outcome) Died() bool { return o.OutOfMemory || o.Crash != "" }

// Run runs the executable exe with args (args[0] is the program name) as
// a confined child under the data limit budget, with the parent's
// environment plus env, standard input and the given output. The child is
// killed if the parent dies. Signals the parent
// receives (SIGINT, SIGTERM) go to the child, which decides what to do
// with them; the parent waits for it either way.
func Run(exe string, args, env []string, budget int64, stdout, stderr io.Writer) (Outcome, error) {
	cmd := exec.Command(exe, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Env = append(append(os.Environ(), env...), envBudget+"="+strconv.FormatInt(budget, 10))
	cmd.SysProcAttr = childAttr()
	cmd.Stdin = os.Stdin
	cmd.Stdout = stdout
	crashR, crashW, err := os.Pipe()
	if err != nil {
		return Outcome{}, err
	}
	defer crashR.Close()
	cmd.Stderr = crashW
	var errPipe, errW *os.File
	if f, ok := stderr.(*os.File); ok {
		err = passStderr(cmd, f)
	} else if errPipe, errW, err = os.Pipe(); err == nil {
		defer errPipe.Close()
		defer errW.Close()
		err = passStderr(cmd, errW)
	}
	if err != nil {
		crashW.Close()
		return Outcome{}, err
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	err = cmd.Start()
	crashW.Close()
	if errW != nil {
		errW.Close()
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("start the script's process: %w", err)
	}
	w, err := watch(cmd.Process, budget)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return Outcome{}, fmt.Errorf("confine the script's process: %w", err)
	}
	defer w.close()
	var wg sync.WaitGroup
	if errPipe != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(stderr, errPipe)
		}()
	}
	peak := make(chan int64, 1)
	done := make(chan struct{})
	go func() { peak <- w.peak(done) }()
	var last lastWords
	wg.Add(1)
	go func() {
		defer wg.Done()
		last.read(crashR, stderr)
	}()
	go func() {
		for {
			select {
			case sig := <-sigs:
				cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	werr := cmd.Wait()
	close(done)
	wg.Wait()

	out := Outcome{Status: cmd.ProcessState.ExitCode(), Peak: <-peak}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		out.Crash = "signal: " + ws.Signal().String()
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return out, werr
	}
	if last.first != "" {
		out.OutOfMemory = last.oom
		if !last.oom {
			out.Crash = last.first
		}
	}
	// The runtime does not check every allocation it makes for itself:
	// refused one near the limit, it may die of a fault in the collector
	// rather than say "out of memory".
	if out.Crash != "" && out.Peak >= budget/4*3 {
		out.OutOfMemory, out.Crash = true, ""
	}
	return out, nil
}

// lastWords reads what the child's Go runtime writes on fd 2: anything
// before a crash is copied through, the crash itself is kept.
type lastWords struct {
	first string // the crash's first line
	oom   bool
}

func (l *lastWords) read(r io.Reader, pass io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if l.first == "" && !crashLine(line) {
			fmt.Fprintln(pass, line)
			continue
		}
		if l.first == "" {
			l.first = line
		}
		if strings.Contains(line, "out of memory") || strings.Contains(line, "cannot allocate memory") || strings.Contains(line, "failed to allocate") || strings.Contains(line, "address space collisions") {
			l.oom = true
		}
	}
	io.Copy(io.Discard, r)
}

// crashLine reports whether line starts the Go runtime's report of a
// fatal error.
func crashLine(line string) bool {
	for _, p := range []string{"fatal error: ", "runtime: ", "panic: ", "SIG", "unexpected fault", "goroutine ", "ThreadSanitizer", "==", "FATAL: "} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// A watcher follows a started child for the parent, on each system as it
// can.
type watcher interface {
	// peak returns, once done is closed, the most memory the child was
	// seen to take, or 0 where the system does not say.
	peak(done <-chan struct{}) int64
	// close lets go of the child.
	close()
}
