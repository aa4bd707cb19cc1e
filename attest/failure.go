package attest

import (
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/clstr-dev/clstr/attest/engine"
)

// asFailure returns err as an *engine.Failure, wrapping it if it is not one.
func asFailure(err error) *engine.Failure {
	if f, ok := err.(*engine.Failure); ok {
		return f
	}
	return &engine.Failure{Err: err}
}

// panicked turns what a test panicked with into its failure. It must be
// called in the deferred function that recovered v.
func (r *run) panicked(test string, v any) *engine.Failure {
	if f, ok := v.(*engine.Failure); ok {
		if f.Test == "" {
			f.Test = test
		}
		return f
	}
	pe := &engine.PanicError{Value: v}
	if r.verbose {
		pe.Stack = shortStack(string(debug.Stack()))
	}
	return &engine.Failure{Test: test, Pos: panicPos(), Err: pe}
}

// panicPos returns the position of the statement that panicked, seen from
// a deferred function that recovers: the caller of the outermost
// runtime.gopanic, past the runtime's own frames.
func panicPos() string {
	pcs := make([]uintptr, 100)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	pos, after := "", false
	for {
		fr, more := frames.Next()
		switch {
		case fr.Function == "runtime.gopanic":
			after = true
		case after && !strings.HasPrefix(fr.Function, "runtime."):
			pos, after = fmt.Sprintf("%s:%d", filepath.Base(fr.File), fr.Line), false
		}
		if !more {
			return pos
		}
	}
}

// engineFrames are the frames at which a test body's stack enters the
// engine, where a short stack ends.
var engineFrames = []string{
	"github.com/clstr-dev/clstr/attest.(*run).runBody(",
	"github.com/clstr-dev/clstr/attest.(*Ops).call(",
	"github.com/clstr-dev/clstr/attest.(*Do).Concurrently.func",
	"github.com/clstr-dev/clstr/attest.callFailing(",
}

// stackFrames bounds the frames of a panic's stack in a failure.
const stackFrames = 12

// shortStack cuts a goroutine's stack, as debug.Stack prints it while a
// panic is being recovered, to the frames that matter: from the one that
// panicked down to the test body, without the runtime's and the engine's
// own frames.
func shortStack(stack string) string {
	lines := strings.Split(strings.TrimRight(stack, "\n"), "\n")
	// Frames are two lines each, after a "goroutine N [running]:" line.
	start := 1
	for i := 1; i+1 < len(lines); i += 2 {
		if strings.HasPrefix(lines[i], "panic(") {
			start = i + 2
		}
	}
	var out []string
	for i := start; i+1 < len(lines) && len(out) < 2*stackFrames; i += 2 {
		fn := lines[i]
		if slices.ContainsFunc(engineFrames, func(f string) bool { return strings.HasPrefix(fn, f) }) {
			break
		}
		if strings.HasPrefix(fn, "runtime.") {
			continue
		}
		out = append(out, fn, lines[i+1])
	}
	return strings.Join(out, "\n")
}
