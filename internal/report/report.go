// Package report writes the report of a clstr run into a directory:
// report.json, a versioned description of the run that tools can read, and
// index.html, one self-contained page that shows it as a timeline (one
// lane per node, fault bands, tests as spans, operations coloured by
// outcome), with the failure of a failing test, its hint and the node logs
// around it, and an interleaved log view with per-node filters.
//
// docs/report.md documents the schema of report.json; Version changes
// whenever a field changes meaning or goes away.
package report

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// Schema names the format of report.json; Version is its version.
const (
	Schema  = "clstr-report"
	Version = 1
)

// Report is the document report.json holds. Times inside a stage are
// milliseconds since that stage's run started (MS), on one clock for the
// event log, the history and the node logs.
type Report struct {
	Schema  string  `json:"schema"`
	Version int     `json:"version"`
	Run     Run     `json:"run"`
	Stages  []Stage `json:"stages"`
}

// Run describes the command as a whole.
type Run struct {
	// Command is the command line that ran: "clstr run election.star".
	Command string `json:"command"`
	// Target says what ran: "Dockerfile in .", "binary ./kv".
	Target string `json:"target,omitempty"`
	// Seed is the seed of the random source of the last stage (the one
	// that failed, when one did), in decimal: --seed replays it. A string,
	// because it may exceed what a JSON number holds exactly.
	Seed string `json:"seed,omitempty"`
	// Started is the wall-clock time the first stage started.
	Started time.Time `json:"started"`
	// Duration is the sum of the stages' durations.
	Duration MS `json:"duration_ms"`
	// Verdict is "pass", "fail" (the target failed) or "error" (clstr
	// could not judge), as the exit status says: 0, 1, 2. It is empty in
	// the page of clstr logs --html, which judges nothing.
	Verdict    string `json:"verdict"`
	ExitStatus int    `json:"exit_status"`
}

// Stage is one run of a script or challenge stage on its own cluster.
type Stage struct {
	// Name is the script or the stage ("kv-store/http-api").
	Name string `json:"name"`
	// Seed is the seed of the stage's random source, in decimal.
	Seed    string    `json:"seed,omitempty"`
	Started time.Time `json:"started"`
	// Duration is the whole run, cluster start and cleanup included.
	Duration MS     `json:"duration_ms"`
	Verdict  string `json:"verdict"`
	// Stopped says what stopped the run outside any test ("the cluster
	// did not start"), with Error its failure; both empty otherwise.
	Stopped string   `json:"stopped,omitempty"`
	Error   *Failure `json:"error,omitempty"`
	// Nodes are the cluster's nodes, each with the spans of its states.
	Nodes  []Node  `json:"nodes"`
	Tests  []Test  `json:"tests"`
	Events []Event `json:"events"`
	Faults []Fault `json:"faults"`
	// Leaders are the spans in which a node said it led, from the
	// answers to GET /cluster/info in the history.
	Leaders []Leader `json:"leaders"`
	// History is every operation and history event of the run; absent
	// when the run recorded none.
	History *History `json:"history,omitempty"`
	// Logs are the nodes' output and the events, interleaved in time, at
	// most MaxLogLines per node (the last ones); LogsCut counts the lines
	// left out per node.
	Logs    []LogLine      `json:"logs"`
	LogsCut map[string]int `json:"logs_cut,omitempty"`
	// Visualizations are files copied beside report.json, such as the
	// visualization of a history that is not linearizable.
	Visualizations []string `json:"visualizations,omitempty"`
}

// MS is a time or a duration in milliseconds.
type MS float64

// ms converts d to milliseconds, to the microsecond.
func ms(d time.Duration) MS { return MS(d.Microseconds()) / 1000 }

// Test is one test of a stage.
type Test struct {
	Name string `json:"name"`
	// Status is "passed", "failed", "skipped" or "not run".
	Status string `json:"status"`
	// Start is when the test began; absent for a test that did not run.
	Start    *MS `json:"start_ms,omitempty"`
	Duration MS  `json:"duration_ms"`
	// Failure is why a failed test failed.
	Failure *Failure `json:"failure,omitempty"`
}

// Failure is why a test or a run failed.
type Failure struct {
	// Verdict is "fail" when the target is to blame, "error" when clstr
	// could not judge it (a script error, a cancelled run).
	Verdict string `json:"verdict"`
	// Message is the failure on one line.
	Message string `json:"message"`
	// Position is where in the script (or Go source) the failing call is.
	Position *Position `json:"position,omitempty"`
	Hint     string    `json:"hint,omitempty"`
	// Text is the failure as the terminal shows it, without colour: what
	// was checked, every node's answer and the hint.
	Text string `json:"text"`
	// Visualization names a file beside report.json that shows the failing
	// history, when the failure has one.
	Visualization string `json:"visualization,omitempty"`
}

// Position is a source position; Column is 0 when unknown.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column,omitempty"`
}

// String renders the position as "file:line:col".
func (p Position) String() string {
	if p.Column == 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Event is one entry of the event log.
type Event struct {
	Time MS `json:"t"`
	// Node is the node it concerns; "" for the whole cluster.
	Node string `json:"node,omitempty"`
	Text string `json:"text"`
}

// History is attest's history of the run, on the stage's clock.
type History struct {
	Ops    []Op    `json:"ops"`
	Events []Event `json:"events"`
}

// Op is one operation of the history. Body and Response are cut to
// MaxOpText bytes.
type Op struct {
	Client   int    `json:"client"`
	Test     string `json:"test"`
	Node     string `json:"node"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Body     string `json:"body,omitempty"`
	Status   int    `json:"status"`
	Response string `json:"response,omitempty"`
	Error    string `json:"error,omitempty"`
	Invoke   MS     `json:"invoke_ms"`
	Complete MS     `json:"complete_ms"`
	// Outcome is "ok", "fail" or "unknown".
	Outcome string `json:"outcome"`
}

// MaxOpText bounds the body and response of an operation in a report.
const MaxOpText = 1024

// StageRun is what a stage's report is made from.
type StageRun struct {
	Name string
	// Start is when the run's clock started: just before Suite.Run.
	Start  time.Time
	Result *engine.Result
	// Events are the run's event log.
	Events []cluster.Event
	// Nodes are the names of the cluster's nodes; when nil they are
	// found in the events and logs.
	Nodes []string
	// LogDir holds the run's node logs and any visualization it wrote;
	// "" for none.
	LogDir string
	// Stopped says what stopped the run outside any test, if anything.
	Stopped string
}

// NewStage builds the report of a stage. It reads the node logs in
// in.LogDir but copies nothing; see Writer.Add.
func NewStage(in StageRun) (Stage, error) {
	res := in.Result
	st := Stage{
		Name:     in.Name,
		Started:  in.Start.UTC(),
		Duration: ms(res.Duration),
		Verdict:  res.Verdict().String(),
		Stopped:  in.Stopped,
		Seed:     seedText(res.Seed),
		Tests:    []Test{},
		Events:   []Event{},
	}
	at := func(t time.Time) MS { return ms(t.Sub(in.Start)) }
	for _, e := range in.Events {
		st.Events = append(st.Events, Event{Time: at(e.Time), Node: e.Node, Text: e.Text()})
	}
	if res.Err != nil {
		st.Error = NewFailure(res.Err)
	}
	for _, t := range res.Tests {
		rt := Test{Name: t.Name, Status: t.Status.String(), Duration: ms(t.Duration)}
		if start, ok := testStart(in.Events, t.Name, at); ok && t.Status != engine.TestNotRun && t.Status != engine.TestSkipped {
			rt.Start = &start
		}
		if t.Status == engine.TestFailed && t.Err != nil {
			rt.Failure = NewFailure(t.Err)
		}
		st.Tests = append(st.Tests, rt)
	}
	if h := newHistory(res.History); h != nil {
		st.History = h
	}
	var err error
	if in.LogDir != "" {
		st.Logs, _, st.LogsCut, err = readLogs(in.LogDir, in.Start)
	}
	names := in.Nodes
	if names == nil {
		names = nodeNames(st.Events, st.Logs)
	}
	end := st.Duration
	st.Nodes, st.Faults = lanes(names, in.Events, at, end)
	st.Leaders = leaders(st.History)
	if st.Logs == nil {
		st.Logs = []LogLine{}
	}
	return st, err
}

func seedText(seed uint64) string {
	if seed == 0 {
		return ""
	}
	return strconv.FormatUint(seed, 10)
}

// testStart finds when a test began: its EventTest, on the stage's clock.
func testStart(events []cluster.Event, name string, at func(time.Time) MS) (MS, bool) {
	for _, e := range events {
		if e.Kind == cluster.EventTest && e.Detail == name {
			return at(e.Time), true
		}
	}
	return 0, false
}

func newHistory(h history.History) *History {
	if len(h.Ops) == 0 && len(h.Events) == 0 {
		return nil
	}
	out := &History{Ops: make([]Op, len(h.Ops)), Events: make([]Event, len(h.Events))}
	for i, o := range h.Ops {
		out.Ops[i] = Op{
			Client: o.Client, Test: o.Test, Node: o.Node, Method: o.Method, Path: o.Path,
			Body: cut(o.Body, MaxOpText), Status: o.Status, Response: cut(o.Response, MaxOpText),
			Error: o.Error, Invoke: ms(o.Invoke), Complete: ms(o.Complete), Outcome: string(o.Outcome),
		}
	}
	for i, e := range h.Events {
		out.Events[i] = Event{Time: ms(e.Time), Node: e.Node, Text: e.Text}
	}
	return out
}

// NewFailure describes err, the error of a test or of a run.
func NewFailure(err error) *Failure {
	f := &Failure{
		Verdict: (&engine.Result{Err: err}).Verdict().String(),
		Message: firstLine(err.Error()),
		Text:    strings.TrimRight(err.Error(), "\n") + "\n",
	}
	var af *engine.Failure
	var sf engine.ScriptFault
	switch {
	case errors.As(err, &af):
		f.Position = ParsePosition(af.Pos)
		var b strings.Builder
		af.Format(&b, false)
		f.Text = b.String()
		for x := af; x != nil; {
			if x.Hint != "" {
				f.Hint = x.Hint
				break
			}
			if !errors.As(x.Err, &x) {
				break
			}
		}
	case errors.As(err, &sf):
		f.Position = ParsePosition(sf.ScriptFault())
	}
	return f
}

// positionPattern matches "file:line" and "file:line:col".
var positionPattern = regexp.MustCompile(`^(.+?):(\d+)(?::(\d+))?$`)

// ParsePosition reads "election.star:42:9" or "kv_test.go:42"; nil if pos
// is not a position.
func ParsePosition(pos string) *Position {
	m := positionPattern.FindStringSubmatch(pos)
	if m == nil {
		return nil
	}
	p := &Position{File: m[1]}
	p.Line, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		p.Column, _ = strconv.Atoi(m[3])
	}
	return p
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// cut cuts s to at most n bytes, at the start of a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
