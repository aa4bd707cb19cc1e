package starlark

import (
	"fmt"
	"strconv"
	"time"

	"github.com/clstr-dev/clstr/internal/bytesize"
)

// Limits bound what a sandboxed script may use: Options.Sandbox. The
// script cannot raise them; only whoever runs it can. A script that
// reaches one stops with a *LimitError naming the limit and the flag that
// raises it. docs/sandbox.md describes each. A zero field is no limit;
// start from DefaultLimits. Each field but Runaway has one row in the
// table limits, which says its flag, default and name.
type Limits struct {
	// Steps bounds the Starlark execution steps of one test (all its
	// threads together), and of the top level.
	Steps uint64
	// TestTime bounds the wall time of one test or setup step, and of the
	// top level. No timeout of the suite may exceed it.
	TestTime time.Duration
	// StageTime bounds the wall time from the first setup step or test to
	// the end of the last.
	StageTime time.Duration
	// Nodes bounds the cluster size suite() may ask for.
	Nodes int
	// Concurrently bounds the calls of one concurrently(n, fn).
	Concurrently int
	// ConcurrencyLimit bounds the suite's concurrency_limit.
	ConcurrencyLimit int
	// RequestBody bounds the bytes of one request body.
	RequestBody int64
	// ResponseBody bounds the bytes of a response body read; a longer body
	// is no answer.
	ResponseBody int64
	// Requests bounds the requests of a stage. A check is charged the most
	// requests it can send: its nodes times the attempts its timing allows.
	Requests int64
	// Sleep bounds the total of sleep() in a stage.
	Sleep time.Duration
	// Depth bounds the Starlark call stack.
	Depth int
	// Memory bounds the heap the run's script values may take, sampled
	// every few milliseconds while Starlark code runs.
	Memory int64
	// Output bounds the bytes print() and log() write in a stage.
	Output int64
	// Disk bounds the bytes of the files a run leaves on disk for people
	// to look at: the visualizations its checks write into the log
	// directory and the report, each file counted once at its latest
	// size. The clstr command enforces it with an artifact.Quota; the
	// script itself writes no file.
	Disk int64

	// Runaway, if set, is called once when script code stopped by a limit
	// is still busy inside one builtin operation after a grace period (a
	// single huge string operation, say) and the process cannot otherwise
	// get it back; the clstr command exits. Nil means wait.
	Runaway func(*LimitError)
}

// The flags that raise each limit, as LimitError names them. The clstr
// command defines flags of these names.
const (
	FlagSteps            = "max-steps"
	FlagTestTime         = "max-test-time"
	FlagStageTime        = "max-stage-time"
	FlagNodes            = "max-nodes"
	FlagConcurrently     = "max-concurrently"
	FlagConcurrencyLimit = "max-concurrency-limit"
	FlagRequestBody      = "max-request-body"
	FlagResponseBody     = "max-response-body"
	FlagRequests         = "max-requests"
	FlagSleep            = "max-sleep"
	FlagDepth            = "max-depth"
	FlagMemory           = "max-memory"
	FlagOutput           = "max-output"
	FlagDisk             = "max-disk"
)

// limit is one row of the table of limits: all that clstr says about one
// field of Limits, and how it reads and writes its value.
type limit struct {
	flag  string // the flag that raises it
	name  string // what a LimitError calls it
	kind  kind
	def   string // its default, as the flag takes it
	usage string // what it bounds, in the flag's help
	// field returns a pointer to its field of l: *uint64, *int or *int64
	// for a count, *time.Duration for a duration, *int64 for a size.
	field func(l *Limits) any
}

// kind is how a limit's value is written.
type kind int

const (
	count    kind = iota // a positive whole number: "1000"
	duration             // a positive duration: "90s"
	size                 // a positive size in bytes: "512MiB", "4MB"
)

// limits is the table of limits, in the order the reference shows them.
// DefaultLimits, Set, LimitFlags and every LimitError read it.
var limits = []limit{
	{FlagSteps, "execution steps", count, "10000000", "Starlark execution steps of one test", func(l *Limits) any { return &l.Steps }},
	{FlagTestTime, "test time", duration, "2m", "wall time of one test", func(l *Limits) any { return &l.TestTime }},
	{FlagStageTime, "stage time", duration, "20m", "wall time of the stage's tests together", func(l *Limits) any { return &l.StageTime }},
	{FlagNodes, "cluster size", count, "32", "nodes the script may ask for", func(l *Limits) any { return &l.Nodes }},
	{FlagConcurrently, "concurrently calls", count, "10000", "calls of one concurrently()", func(l *Limits) any { return &l.Concurrently }},
	{FlagConcurrencyLimit, "concurrency limit", count, "128", "suite's concurrency_limit", func(l *Limits) any { return &l.ConcurrencyLimit }},
	{FlagRequestBody, "request body size", size, "1MiB", "bytes of one request body", func(l *Limits) any { return &l.RequestBody }},
	{FlagResponseBody, "response body size", size, "4MiB", "bytes of a response body read", func(l *Limits) any { return &l.ResponseBody }},
	{FlagRequests, "requests", count, "200000", "requests of the stage", func(l *Limits) any { return &l.Requests }},
	{FlagSleep, "total sleep", duration, "2m", "total of sleep() in the stage", func(l *Limits) any { return &l.Sleep }},
	{FlagDepth, "call depth", count, "1000", "depth of the Starlark call stack", func(l *Limits) any { return &l.Depth }},
	{FlagMemory, "memory", size, "1GiB", "heap the script's values may take", func(l *Limits) any { return &l.Memory }},
	{FlagOutput, "output", size, "16MiB", "bytes print() and log() may write", func(l *Limits) any { return &l.Output }},
	{FlagDisk, "disk space", size, "2GiB", "bytes of the visualizations and the report the run leaves on disk", func(l *Limits) any { return &l.Disk }},
}

// limitOf returns the row of the limit that flag raises, or nil.
func limitOf(flag string) *limit {
	for i := range limits {
		if limits[i].flag == flag {
			return &limits[i]
		}
	}
	return nil
}

// DefaultLimits returns the limits of a sandboxed run unless the user sets
// others: generous enough for the built-in stages.
func DefaultLimits() Limits {
	var l Limits
	for _, r := range limits {
		if err := r.set(&l, r.def); err != nil {
			panic(err) // the table is wrong; TestLimitsTable says where
		}
	}
	return l
}

// Set sets the limit that flag raises from its text: a count ("1000"), a
// duration ("90s") or a size ("512MiB", "4MB", "1048576").
func (l *Limits) Set(flag, value string) error {
	r := limitOf(flag)
	if r == nil {
		return fmt.Errorf("--%s: no such limit", flag)
	}
	return r.set(l, value)
}

// set sets the limit's field of l from its text.
func (r *limit) set(l *Limits, value string) error {
	if r.kind == duration {
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("--%s %q: want a positive duration such as \"90s\" or \"5m\"", r.flag, value)
		}
		*r.field(l).(*time.Duration) = d
		return nil
	}
	if r.kind == size {
		n, err := bytesize.Parse(value)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", r.flag, value, err)
		}
		*r.field(l).(*int64) = n
		return nil
	}
	bits := 64
	switch r.field(l).(type) {
	case *int:
		bits = strconv.IntSize - 1
	case *int64:
		bits = 63
	}
	n, err := strconv.ParseUint(value, 10, bits)
	if err != nil || n < 1 {
		return fmt.Errorf("--%s %q: want a positive whole number", r.flag, value)
	}
	switch p := r.field(l).(type) {
	case *uint64:
		*p = n
	case *int64:
		*p = int64(n)
	case *int:
		*p = int(n)
	}
	return nil
}

// text renders the limit's value in l as a LimitError shows it:
// "10000000", "2m0s", "1 GiB".
func (r *limit) text(l *Limits) string {
	switch p := r.field(l).(type) {
	case *time.Duration:
		return p.String()
	case *int64:
		if r.kind == size {
			return bytesize.Format(*p)
		}
		return strconv.FormatInt(*p, 10)
	case *int:
		return strconv.Itoa(*p)
	case *uint64:
		return strconv.FormatUint(*p, 10)
	}
	return ""
}

// LimitFlag is the command-line flag of one limit.
type LimitFlag struct {
	// Name is the flag without dashes: "max-steps".
	Name string
	// Usage says what the limit bounds: "Starlark execution steps of one
	// test".
	Usage string
	// Default is the limit's value in DefaultLimits, as a LimitError
	// shows it: "10000000", "2m0s", "1 GiB".
	Default string
}

// LimitFlags returns the flags of the limits, in the order the reference
// shows them; Limits.Set takes their values.
func LimitFlags() []LimitFlag {
	def := DefaultLimits()
	flags := make([]LimitFlag, len(limits))
	for i, r := range limits {
		flags[i] = LimitFlag{Name: r.flag, Usage: r.usage, Default: r.text(&def)}
	}
	return flags
}

// Exceeded returns the error of a script that reached the limit that flag
// raises; detail, if not "", says what the script asked for.
func (l *Limits) Exceeded(flag, detail string) *LimitError {
	e := &LimitError{Limit: flag, Flag: flag, Detail: detail}
	if r := limitOf(flag); r != nil {
		e.Limit, e.Value = r.name, r.text(l)
	}
	return e
}

// LimitError says that a sandboxed script reached a limit.
type LimitError struct {
	// Limit names it: "execution steps".
	Limit string
	// Value is its value as the user would write it: "100000000", "2m0s".
	Value string
	// Flag is the flag that raises it, without dashes: "max-steps".
	Flag string
	// Test is the test that reached it; "" for the top level.
	Test string
	// Detail says what the script asked for, if that says more: "the
	// script asks for 500 nodes".
	Detail string
}

func (e *LimitError) Error() string {
	where := "at the top level of the script"
	if e.Test != "" {
		where = fmt.Sprintf("in test %q", e.Test)
	}
	detail := ""
	if e.Detail != "" {
		detail = " (" + e.Detail + ")"
	}
	return fmt.Sprintf("limit: %s (%s) exceeded %s%s; raise it with --%s or pass --trust for a challenge you trust",
		e.Limit, e.Value, where, detail, e.Flag)
}
