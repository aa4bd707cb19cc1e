package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clstr-dev/clstr/attest/internal/render"
)

// Failure is why a test failed: a check that did not pass, a node
// operation that went wrong, or a panic. Checks and operations of package
// attest stop a test by panicking with a *Failure; attest.Check.Exec and
// attest.Ops return it as an error.
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
	// TooMany reports that a check failed because too many nodes passed,
	// so that the failing nodes do not explain it.
	TooMany bool
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
		if f.TooMany || len(f.Nodes) == 0 {
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
		return fmt.Sprintf("did not pass within %v", render.Duration(f.Timeout))
	case TimingConsistently:
		return fmt.Sprintf("held for %v of %v", render.Duration(f.Held), render.Duration(f.Timeout))
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
		outcome = render.Status(n.Status)
	default:
		outcome = c.bold(render.Status(n.Status))
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
