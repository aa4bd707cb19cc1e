package starlark

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/suggest"
)

// Error is an error of a script rather than of the program it tests: a
// syntax, resolve or load error found before anything runs, or an error of
// Starlark code as it runs (a type error, a misused builtin, an undefined
// attribute). The target is not to blame for it; see Verdict.
type Error struct {
	// Pos is where the error is: "election.star:42:9".
	Pos string
	// Msg says what is wrong.
	Msg string
	// Frames is the Starlark call stack of a runtime error, outermost
	// first; empty for errors found before the script runs.
	Frames []Frame
	// Limit is the sandbox limit the script reached, if that is the error.
	Limit *LimitError
}

// Frame is one call of a Starlark backtrace.
type Frame struct {
	// Pos is the position of the call (or, in the innermost frame, of the
	// error) in the frame's function.
	Pos string
	// Func is the name of the function: "leader_is_stable", "<toplevel>".
	Func string
}

// Error renders the error as "file:line:col: message", followed by the
// backtrace when the error happened below the top function.
func (e *Error) Error() string {
	if e.Pos == "" {
		return e.message()
	}
	return e.Pos + ": " + e.message()
}

// Unwrap returns the limit the script reached, if that is the error.
func (e *Error) Unwrap() error {
	if e.Limit == nil {
		return nil
	}
	return e.Limit
}

// message is the error without its position: the message and backtrace.
func (e *Error) message() string {
	if len(e.Frames) < 2 {
		return e.Msg
	}
	var b strings.Builder
	b.WriteString(e.Msg)
	b.WriteString("\nTraceback (most recent call last):")
	for _, f := range e.Frames {
		fmt.Fprintf(&b, "\n  %s: in %s", f.Pos, f.Func)
	}
	return b.String()
}

// positioned is an *Error as the cause of a failure whose position is the
// error's: it renders without repeating the position.
type positioned struct{ err *Error }

func (p positioned) Error() string { return p.err.message() }
func (p positioned) Unwrap() error { return p.err }

// compileError turns an error of Compile into *Error values.
func compileError(err error) error {
	var se syntax.Error
	var rl resolve.ErrorList
	switch {
	case errors.As(err, &rl):
		errs := make([]error, len(rl))
		for i, e := range rl {
			errs[i] = &Error{Pos: e.Pos.String(), Msg: withSuggestion(e.Msg)}
		}
		return errors.Join(errs...)
	case errors.As(err, &se):
		return &Error{Pos: se.Pos.String(), Msg: se.Msg}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Msg: err.Error()}
}

// frames returns the Starlark frames of a call stack, leaving out the
// builtins.
func frames(stack starlark.CallStack) []Frame {
	var out []Frame
	for _, fr := range stack {
		if fr.Pos.Filename() == "<builtin>" {
			continue
		}
		out = append(out, Frame{Pos: fr.Pos.String(), Func: fr.Name})
	}
	return out
}

// scriptError turns an error of Starlark code into an *Error. base is the
// depth of the thread's stack at which the failing call was made; frames
// below it belong to someone else's backtrace.
func scriptError(err error, base int) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return &Error{Msg: err.Error()}
	}
	stack := ee.CallStack
	if base < len(stack) {
		stack = stack[base:]
	}
	fs := frames(stack)
	out := &Error{Msg: ee.Msg, Frames: fs}
	if len(fs) > 0 {
		out.Pos = fs[len(fs)-1].Pos
	}
	return out
}

// asFailure turns what Starlark code returned into the failure of the test
// (or of one call of eventually, consistently or concurrently). base is the
// thread's stack depth at the call.
//
// A failed check or fail() is the engine's *engine.Failure. When it
// happened inside helper functions — a stdlib module, say — it is wrapped
// in a failure at the line of the test that called the helpers, so that the
// output names both. Anything else is an error of the script, an *Error
// with its backtrace.
func asFailure(do *attest.Do, err error, base int) *engine.Failure {
	var f *engine.Failure
	if errors.As(err, &f) {
		var ee *starlark.EvalError
		if !errors.As(err, &ee) || base >= len(ee.CallStack) {
			return f
		}
		fs := frames(ee.CallStack[base:])
		if len(fs) < 2 {
			return f
		}
		via := make([]string, len(fs)-1)
		for i, fr := range fs[1:] {
			via[i] = fr.Func
		}
		return &engine.Failure{Test: do.Test(), Pos: fs[0].Pos, What: "in " + strings.Join(via, " → "), Err: f}
	}
	se := scriptError(err, base)
	pos := se.Pos
	if pos == "" {
		pos = "?"
	}
	return &engine.Failure{Test: do.Test(), Pos: pos, Err: positioned{se}}
}

// ScriptFault marks e as an error of the script, not of the target: a
// run that ends with one could not judge the target (engine.Blame).
func (e *Error) ScriptFault() string { return e.Pos }

// ScriptFault marks a limit the script reached as the script's error: a
// sandboxed script asked for more than it may have.
func (e *LimitError) ScriptFault() string { return "" }

// withSuggestion adds the nearest predeclared name to an "undefined: name" error
// of the resolver: "undefined: gett (did you mean get?)".
func withSuggestion(msg string) string {
	name, ok := strings.CutPrefix(msg, "undefined: ")
	if !ok || strings.ContainsAny(name, " (") {
		return msg
	}
	best, bestDist := "", len(name)/2+1
	consider := func(cand string) {
		if d := suggest.Distance(name, cand); d < bestDist {
			best, bestDist = cand, d
		}
	}
	var names []string
	for _, b := range builtins {
		names = append(names, b.Name)
	}
	names = append(names, starlark.Universe.Keys()...) // sorted
	sort.Strings(names)
	for _, cand := range names {
		consider(cand)
	}
	if best == "" {
		return msg
	}
	return msg + " (did you mean " + best + "?)"
}
