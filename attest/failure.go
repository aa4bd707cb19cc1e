package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Failure is why a test failed: a check that did not pass, a node
// operation that went wrong, or a panic. Checks and operations stop a test
// by panicking with a *Failure; Check.Exec and Ops return it as an error.
type Failure struct {
	// Test is the name of the test ("setup" for a setup step).
	Test string
	// Pos is the source position of the call that failed: "kv_test.go:42"
	// or "election.star:42:9".
	Pos string
	// What was being done: "PUT /kv/key on all_nodes()", "restart n1",
	// "eventually".
	What string
	// Timing is how the check or function was run; for Eventually,
	// Timeout is the time it was given; for Consistently, Held is how long
	// it held of Timeout before it failed.
	Timing  Timing
	Timeout time.Duration
	Held    time.Duration
	// Problem is the expectation that failed, for the check as a whole
	// ("expected exactly one node to pass, 2 did (n1, n3)"), or the
	// message of a failure that is not a check's.
	Problem string
	// Nodes are the answers of the selected nodes, for a check.
	Nodes []NodeReport
	// Hint is the check's advice on what to do next.
	Hint string
	// Err is the cause when the failure is not a failed expectation: a
	// runtime error, a *PanicError, a cancelled run, or — for the
	// function form of Eventually and Consistently — the failure or error
	// of the last call.
	Err error

	// tooMany is set when a check failed because too many nodes passed,
	// so that the failing nodes do not explain it.
	tooMany bool
}

// NodeReport is one node's answer to a failed check and what it got wrong.
type NodeReport struct {
	*Response
	// Passed reports whether the node met every condition.
	Passed bool
	// Problems lists the unmet conditions: `expected status is 200, got
	// 503`. It is empty when the request got no response (see Err).
	Problems []string
}

// PanicError is a panic, other than with a *Failure, in a test.
type PanicError struct {
	// Value is what the test panicked with.
	Value any
	// Stack is the goroutine's stack, recorded only in verbose runs.
	Stack string
}

// Error returns "panic: " and the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Unwrap returns the cause, if any.
func (f *Failure) Unwrap() error { return f.Err }

// asFailure returns err as a *Failure, wrapping it if it is not one.
func asFailure(err error) *Failure {
	if f, ok := err.(*Failure); ok {
		return f
	}
	return &Failure{Err: err}
}

// panicked turns what a test panicked with into its failure. It must be
// called in the deferred function that recovered v.
func (r *run) panicked(test string, v any) *Failure {
	if f, ok := v.(*Failure); ok {
		if f.Test == "" {
			f.Test = test
		}
		return f
	}
	pe := &PanicError{Value: v}
	if r.verbose {
		pe.Stack = shortStack(string(debug.Stack()))
	}
	return &Failure{Test: test, Pos: panicPos(), Err: pe}
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

// Error renders the failure on one line: "kv_test.go:42: GET /kv/key on
// n1: expected status is 200, got 404".
func (f *Failure) Error() string {
	var parts []string
	for _, p := range []string{f.Pos, f.What} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	msg := f.core()
	if t := f.timingShort(); t != "" {
		if msg != "" {
			msg = t + "; last: " + msg
		} else {
			msg = t
		}
	}
	if msg != "" {
		parts = append(parts, msg)
	}
	return strings.Join(parts, ": ")
}

// core is the one-line reason.
func (f *Failure) core() string {
	if f.Problem != "" {
		if f.tooMany || len(f.Nodes) == 0 {
			return f.Problem
		}
		if why := f.nodeReason(); why != "" {
			return f.Problem + "; " + why
		}
		return f.Problem
	}
	if why := f.nodeReason(); why != "" {
		return why
	}
	if f.Err != nil {
		line, _, _ := strings.Cut(f.Err.Error(), "\n")
		return line
	}
	return ""
}

// nodeReason is the first failing node's first problem.
func (f *Failure) nodeReason() string {
	for _, n := range f.Nodes {
		if n.Passed {
			continue
		}
		why := ""
		switch {
		case n.Err != nil:
			why = n.Err.Error()
		case len(n.Problems) > 0:
			why = n.Problems[0]
		}
		if len(f.Nodes) > 1 {
			why = n.Node + ": " + why
		}
		return why
	}
	return ""
}

func (f *Failure) timingShort() string {
	switch f.Timing {
	case TimingEventually:
		return fmt.Sprintf("did not pass within %v", roundDuration(f.Timeout))
	case TimingConsistently:
		return fmt.Sprintf("held for %v of %v", roundDuration(f.Held), roundDuration(f.Timeout))
	}
	return ""
}

func (f *Failure) timingLong() string {
	switch f.Timing {
	case TimingEventually:
		return f.timingShort() + "; last attempt:"
	case TimingConsistently:
		return f.timingShort() + ", then:"
	}
	return ""
}

// Format writes the failure for a person: the position and what failed,
// the expectation that failed, every selected node's URL and answer (the
// body pretty-printed if JSON, shortened if long) with what it got wrong,
// and the hint. With color it uses ANSI colours.
func (f *Failure) Format(w io.Writer, color bool) error {
	var b bytes.Buffer
	f.format(&b, "", palette(color))
	_, err := w.Write(b.Bytes())
	return err
}

func (f *Failure) format(b *bytes.Buffer, indent string, c palette) {
	line := func(s string) { b.WriteString(indent + s + "\n") }
	head := f.Pos
	if f.What != "" {
		if head != "" {
			head += ": "
		}
		head += f.What
	}
	nested, _ := f.Err.(*Failure)
	msg := f.Problem
	var extra []string // lines of a long error message
	if msg == "" && f.Err != nil && nested == nil {
		msg, extra = firstLine(f.Err.Error())
	}
	timing := f.timingLong()

	if timing == "" && len(f.Nodes) == 0 && nested == nil && head != "" && msg != "" {
		line(c.bold(head) + ": " + c.red(msg))
	} else {
		if head != "" {
			line(c.bold(head))
		}
		switch {
		case timing != "" && msg != "":
			line(c.red(timing + " " + msg))
		case timing != "":
			line(c.red(timing))
		case msg != "":
			line(c.red(msg))
		}
	}
	for _, l := range extra {
		line(l)
	}
	for _, n := range f.Nodes {
		n.format(line, c)
	}
	if nested != nil {
		nested.format(b, indent+"  ", c)
	}
	var pe *PanicError
	if pe, _ = f.Err.(*PanicError); pe != nil && pe.Stack != "" {
		for _, l := range strings.Split(strings.TrimRight(pe.Stack, "\n"), "\n") {
			line(c.dim("    " + l))
		}
	}
	if f.Hint != "" {
		hint := strings.Split(strings.TrimRight(f.Hint, "\n"), "\n")
		line(c.yellow("hint: " + hint[0]))
		for _, l := range hint[1:] {
			line(c.yellow("      " + l))
		}
	}
}

func firstLine(s string) (string, []string) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[0], lines[1:]
}

func (n NodeReport) format(line func(string), c palette) {
	mark := c.green("✓")
	if !n.Passed {
		mark = c.red("✗")
	}
	var outcome string
	switch {
	case n.Err != nil:
		outcome = c.red(n.Err.Error())
	case n.Passed:
		outcome = statusText(n.Status)
	default:
		outcome = c.bold(statusText(n.Status))
	}
	target := n.Method + " " + n.URL
	if n.URL == "" {
		target = n.Method
	}
	line(fmt.Sprintf("  %s %s %s → %s", n.Node, mark, c.dim(target), outcome))
	if n.Passed || n.Err != nil {
		return
	}
	pad := "     " + strings.Repeat(" ", utf8.RuneCountInString(n.Node))
	for _, p := range n.Problems {
		line(pad + c.red(p))
	}
	inline, block := renderBody(n.Body)
	if block == nil {
		line(pad + "body: " + inline)
		return
	}
	line(pad + "body:")
	for _, l := range block {
		line(pad + "  " + l)
	}
}

// Limits of a body in failure output.
const (
	bodyInline = 120  // bytes, for a one-line body shown quoted
	bodyLines  = 40   // lines of a block
	bodyLine   = 200  // bytes of one line of a block
	bodyBytes  = 4096 // bytes of a block
)

// renderBody shows a body either on one line (inline, quoted so that
// spaces and newlines can be seen) or as a block of lines: JSON indented,
// long text cut short.
func renderBody(body string) (inline string, block []string) {
	if body == "" {
		return "(empty)", nil
	}
	if !utf8.ValidString(body) {
		return quoteShort(body), nil
	}
	trimmed := strings.TrimSpace(body)
	if (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) && json.Valid([]byte(trimmed)) {
		var b bytes.Buffer
		if json.Indent(&b, []byte(trimmed), "", "  ") == nil {
			return "", cutLines(b.String())
		}
	}
	if one := strings.TrimSuffix(body, "\n"); !strings.Contains(one, "\n") && len(body) <= bodyInline {
		return strconv.Quote(body), nil
	}
	return "", cutLines(body)
}

func cutLines(s string) []string {
	total := len(s)
	if len(s) > bodyBytes {
		cut := bodyBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	more := 0
	if len(lines) > bodyLines {
		more = len(lines) - bodyLines
		lines = lines[:bodyLines]
	}
	for i, l := range lines {
		if len(l) > bodyLine {
			cut := bodyLine
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			lines[i] = l[:cut] + "…"
		}
	}
	switch {
	case total > bodyBytes:
		lines = append(lines, fmt.Sprintf("… (%d bytes in all)", total))
	case more > 0:
		lines = append(lines, fmt.Sprintf("… (%d more lines)", more))
	}
	return lines
}

// compactJSON removes the insignificant space of valid JSON.
func compactJSON(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// roundDuration rounds a duration for people: "1.2s", "250ms", "830µs".
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// palette colours text with ANSI escapes, or leaves it alone.
type palette bool

func (p palette) wrap(code, s string) string {
	if !p || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p palette) bold(s string) string   { return p.wrap("1", s) }
func (p palette) dim(s string) string    { return p.wrap("2", s) }
func (p palette) red(s string) string    { return p.wrap("31", s) }
func (p palette) green(s string) string  { return p.wrap("32", s) }
func (p palette) yellow(s string) string { return p.wrap("33", s) }
