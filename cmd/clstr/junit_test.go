package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/runlog"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// The report as a CI reporter reads it, declared apart from the types that
// write it so that a wrong element or attribute name shows.
type (
	xmlSuites struct {
		XMLName  xml.Name   `xml:"testsuites"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Time     float64    `xml:"time,attr"`
		Suites   []xmlSuite `xml:"testsuite"`
	}
	xmlSuite struct {
		Name      string    `xml:"name,attr"`
		Tests     int       `xml:"tests,attr"`
		Failures  int       `xml:"failures,attr"`
		Errors    int       `xml:"errors,attr"`
		Skipped   int       `xml:"skipped,attr"`
		Time      float64   `xml:"time,attr"`
		Timestamp string    `xml:"timestamp,attr"`
		Cases     []xmlCase `xml:"testcase"`
	}
	xmlCase struct {
		Name      string      `xml:"name,attr"`
		Classname string      `xml:"classname,attr"`
		Time      float64     `xml:"time,attr"`
		Failure   *xmlProblem `xml:"failure"`
		Error     *xmlProblem `xml:"error"`
		Skipped   *xmlProblem `xml:"skipped"`
		SystemOut *string     `xml:"system-out"`
	}
	xmlProblem struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
)

// kind says what became of a case: "passed", "failure", "error" or
// "skipped".
func (c xmlCase) kind() string {
	n := 0
	k := "passed"
	for _, p := range []struct {
		name string
		set  bool
	}{{"failure", c.Failure != nil}, {"error", c.Error != nil}, {"skipped", c.Skipped != nil}} {
		if p.set {
			n++
			k = p.name
		}
	}
	if n > 1 {
		return "several"
	}
	return k
}

func (c xmlCase) problem() *xmlProblem {
	switch {
	case c.Failure != nil:
		return c.Failure
	case c.Error != nil:
		return c.Error
	}
	return c.Skipped
}

// readReport parses the report at path strictly, and checks that it is
// XML 1.0 in UTF-8 with no character that XML forbids.
func readReport(t *testing.T, path string) xmlSuites {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("the report does not start with an XML declaration:\n%.200s", data)
	}
	if !utf8.Valid(data) {
		t.Errorf("the report is not valid UTF-8")
	}
	for i, r := range string(data) {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			t.Errorf("the report holds %U at byte %d, which XML 1.0 forbids", r, i)
		}
	}
	var doc xmlSuites
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("parse the report: %v\n%s", err, data)
	}
	return doc
}

// wantCase is what a test case of the report must say.
type wantCase struct {
	name, kind string
	message    string   // in the message attribute
	text       []string // in the failure or error text
	out        []string // in system-out; nil for no system-out
}

func checkCases(t *testing.T, s xmlSuite, class string, want []wantCase) {
	t.Helper()
	if len(s.Cases) != len(want) {
		t.Fatalf("suite %s has %d test cases; want %d: %+v", s.Name, len(s.Cases), len(want), s.Cases)
	}
	for i, w := range want {
		c := s.Cases[i]
		if c.Name != w.name || c.Classname != class || c.kind() != w.kind {
			t.Errorf("case %d: name %q, classname %q, %s; want %q, %q, %s", i, c.Name, c.Classname, c.kind(), w.name, class, w.kind)
			continue
		}
		if c.Time < 0 {
			t.Errorf("case %s: time %v", c.Name, c.Time)
		}
		if p := c.problem(); p != nil {
			if !strings.Contains(p.Message, w.message) || strings.Contains(p.Message, "\n") {
				t.Errorf("case %s: message %q; want one line with %q", c.Name, p.Message, w.message)
			}
			assertContains(t, "text of "+c.Name, p.Text, w.text...)
		} else if w.message != "" || w.text != nil {
			t.Errorf("case %s has no failure, error or skipped; want message %q", c.Name, w.message)
		}
		switch {
		case w.out == nil && c.SystemOut != nil:
			t.Errorf("case %s has a system-out; want none:\n%s", c.Name, *c.SystemOut)
		case w.out != nil && c.SystemOut == nil:
			t.Errorf("case %s has no system-out; want one with %q", c.Name, w.out)
		case w.out != nil:
			assertContains(t, "system-out of "+c.Name, *c.SystemOut, w.out...)
		}
	}
}

func checkCounts(t *testing.T, what string, got [4]int, tests, failures, errors, skipped int) {
	t.Helper()
	if want := [4]int{tests, failures, errors, skipped}; got != want {
		t.Errorf("%s: tests, failures, errors, skipped = %v; want %v", what, got, want)
	}
}

// TestJUnitScripts runs scripts that pass, fail, stop on a script error
// and fail in setup on the fake target, through runSuite as clstr run
// does, into one report, and reads the report back field by field.
func TestJUnitScripts(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, runlog.Dir)
	scripts := []struct{ name, src string }{
		{"pass.star", `suite(cluster = 2)
test("writes", lambda: put("n1", "/kv/a", "1").status(200).run())
test("reads", lambda: get("n1", "/kv/a").status(200).body("1").run())
`},
		{"fail.star", `suite(cluster = 2)

def reads():
    put("n1", "/kv/k", "v").status(200).run()
    get(all_nodes(), "/kv/k").status(200).body("v").hint("Replicate writes to every node.").run()

test("writes", lambda: put("n1", "/kv/x", "1").status(200).run())
test("reads from every node", reads)
test("never runs", lambda: None)
`},
		{"script_error.star", `suite()

def term(info):
    return info["nope"]

def reads_term():
    term(fetch("n1", "/cluster/info").json())

test("reads the term", reads_term)
test("after", lambda: None)
`},
		{"setup.star", `suite()
setup(lambda: put("n1", "/kv/x", "").status(200).run())
test("never runs", lambda: None)
`},
	}
	var stderr bytes.Buffer
	report := &junitReport{path: filepath.Join(dir, "out", "junit.xml"), stderr: &stderr}
	// The fake target writes no node log; one is put where the run's
	// logs go as each cluster is created.
	rt := nodeLogWriter{starlarktest.New().Runtime, logs}
	sess := session.Open(session.Options{
		Runtime:   func(context.Context) (cluster.Runtime, func() error, error) { return rt, nil, nil },
		Root:      dir,
		Live:      &output{w: io.Discard},
		Reporters: []session.Reporter{report},
	})
	defer sess.Close()
	wantStatus := []int{exitPass, exitFail, exitError, exitFail}
	for i, sc := range scripts {
		path := filepath.Join(dir, sc.name)
		if err := os.WriteFile(path, []byte(sc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := starlark.Load(path, starlark.Options{Stdlib: stdlib.FS})
		if err != nil {
			t.Fatal(err)
		}
		if got := sess.Run(context.Background(), s).Status; got != wantStatus[i] || stderr.Len() > 0 {
			t.Errorf("%s: status %d, stderr %q; want %d and nothing", sc.name, got, stderr.String(), wantStatus[i])
		}
	}

	doc := readReport(t, report.path)
	if doc.Name != "clstr" || len(doc.Suites) != len(scripts) {
		t.Fatalf("testsuites %q with %d suites; want clstr with %d", doc.Name, len(doc.Suites), len(scripts))
	}
	checkCounts(t, "testsuites", [4]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}, 9, 2, 1, 3)
	var sum float64
	for i, s := range doc.Suites {
		class := filepath.Join(dir, scripts[i].name)
		if s.Name != class {
			t.Errorf("suite %d is named %q; want %q", i, s.Name, class)
		}
		ts, err := time.Parse("2006-01-02T15:04:05", s.Timestamp)
		if err != nil || time.Since(ts) > time.Hour || time.Since(ts) < -time.Minute {
			t.Errorf("suite %s: timestamp %q (%v); want the time it started, in UTC", s.Name, s.Timestamp, err)
		}
		if s.Time <= 0 {
			t.Errorf("suite %s: time %v; want the time it took", s.Name, s.Time)
		}
		sum += s.Time
		got := [4]int{s.Tests, s.Failures, s.Errors, s.Skipped}
		switch i {
		case 0:
			checkCounts(t, s.Name, got, 2, 0, 0, 0)
			checkCases(t, s, class, []wantCase{{name: "writes", kind: "passed"}, {name: "reads", kind: "passed"}})
		case 1:
			checkCounts(t, s.Name, got, 3, 1, 0, 1)
			checkCases(t, s, class, []wantCase{
				{name: "writes", kind: "passed"},
				{name: "reads from every node", kind: "failure",
					message: "fail.star:5:96: GET /kv/k on all_nodes(): expected every node to pass",
					text: []string{
						"fail.star:5:96: GET /kv/k on all_nodes()\nexpected every node to pass, 1 of 2 did not (n2)\n",
						"  n1 ✓ GET http://127.0.0.1:",
						"  n2 ✗ GET http://127.0.0.1:",
						"→ 404 Not Found\n",
						"       expected status is 200, got 404\n",
						`body: "key not found\n"`,
						"hint: Replicate writes to every node.\n",
					},
					out: []string{
						"==> " + filepath.Join(logs, "events.log") + " <==\n",
						"[TEST: reads from every node]",
						"==> " + filepath.Join(logs, "n1.log") + " <==\n2026-01-01T00:00:00Z stdout listening on :8080\n",
					}},
				{name: "never runs", kind: "skipped", message: "not run: an earlier test failed"},
			})
		case 2:
			checkCounts(t, s.Name, got, 2, 0, 1, 1)
			checkCases(t, s, class, []wantCase{
				{name: "reads the term", kind: "error", message: `script_error.star:4:16: key "nope" not in dict`,
					text: []string{"Traceback (most recent call last):\n", "script_error.star:7:9: in reads_term\n", "script_error.star:4:16: in term\n"},
					out:  []string{"[TEST: reads the term]"}},
				{name: "after", kind: "skipped", message: "not run: an earlier test failed"},
			})
		case 3:
			checkCounts(t, s.Name, got, 2, 1, 0, 1)
			checkCases(t, s, class, []wantCase{
				{name: "setup failed", kind: "failure", message: "setup.star:2:53: PUT /kv/x on n1: expected status is 200, got 400",
					text: []string{"setup.star:2:53: PUT /kv/x on n1\n", "  n1 ✗ PUT http://127.0.0.1:", `body: "value cannot be empty\n"`},
					out:  []string{"[CLUSTER READY]"}},
				{name: "never runs", kind: "skipped", message: "not run: setup failed"},
			})
		}
	}
	if diff := doc.Time - sum; diff > 0.002 || diff < -0.002 {
		t.Errorf("testsuites time %v; want the sum of the suites', %v", doc.Time, sum)
	}
}

// nodeLogWriter is a runtime that writes, as it creates a cluster, the
// log of n1 into dir, with colours, as a node's log may hold.
type nodeLogWriter struct {
	cluster.Runtime
	dir string
}

func (r nodeLogWriter) Create(ctx context.Context, spec cluster.Spec) (cluster.Cluster, error) {
	if err := os.WriteFile(filepath.Join(r.dir, "n1.log"), []byte("2026-01-01T00:00:00Z stdout \x1b[32mlistening\x1b[0m on :8080\n"), 0o644); err != nil {
		return nil, err
	}
	return r.Runtime.Create(ctx, spec)
}

// TestJUnitStages checks that the stages of a challenge are suites named
// by their keys, with the challenge/stage as class, in the order they ran.
func TestJUnitStages(t *testing.T) {
	report := &junitReport{path: filepath.Join(t.TempDir(), "junit.xml"), stderr: io.Discard}
	stages := []session.Challenge{
		{Key: "kv-store/http-api", Tests: attest.New().Test("PUT Stores Values", func(do *attest.Do) {
			do.PUT(attest.Node("n1"), "/kv/a", "1").Status(attest.Is(200)).Run()
		})},
		{Key: "kv-store/persistence", Tests: attest.New().
			Test("Data Survives SIGTERM", func(do *attest.Do) {
				do.GET(attest.Node("n1"), "/kv/a").Status(attest.Is(200)).Hint("Write every value to DATA_DIR.").Run()
			}).
			Test("Repeated Restarts", func(do *attest.Do) {})},
	}
	for _, st := range stages {
		runOnFake(&output{w: io.Discard}, st, session.Options{Reporters: []session.Reporter{report}})
	}
	doc := readReport(t, report.path)
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites; want 2", len(doc.Suites))
	}
	checkCounts(t, "testsuites", [4]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}, 3, 1, 0, 1)
	a, b := doc.Suites[0], doc.Suites[1]
	if a.Name != "http-api" || b.Name != "persistence" {
		t.Errorf("suites %q, %q; want http-api, persistence", a.Name, b.Name)
	}
	checkCases(t, a, "kv-store/http-api", []wantCase{{name: "PUT Stores Values", kind: "passed"}})
	checkCases(t, b, "kv-store/persistence", []wantCase{
		{name: "Data Survives SIGTERM", kind: "failure", message: "GET /kv/a on n1: expected status is 200, got 404",
			text: []string{"n1 ✗ GET", "hint: Write every value to DATA_DIR.\n"}},
		{name: "Repeated Restarts", kind: "skipped", message: "not run: an earlier test failed"},
	})
}

// ran is the outcome of a stage s that ran as res, with its logs in
// logDir, for results built by hand.
func ran(s session.Stage, res *engine.Result, logDir string) *session.Outcome {
	o := &session.Outcome{Stage: s, Result: res, LogDir: logDir, Ended: time.Now(), Verdict: res.Verdict()}
	if res.Err != nil {
		o.Stopped = session.StopReason(res.Err)
	}
	return o
}

// stub is a session.Stage of given tests, for results built by hand.
type stub struct {
	name  string
	tests []string
}

func (s stub) Name() string          { return s.name }
func (s stub) TestNames() []string   { return s.tests }
func (s stub) Config() engine.Config { return engine.DefaultConfig() }
func (s stub) Suite() *attest.Suite  { return attest.New() }

func notRunResults(names ...string) []engine.TestResult {
	rs := make([]engine.TestResult, len(names))
	for i, n := range names {
		rs[i].Name = n
	}
	return rs
}

// TestJUnitStopped checks the runs that stopped outside a test: the case
// that says why comes first, a <failure> when the target is to blame and
// an <error> when clstr could not judge, and the tests are not run.
func TestJUnitStopped(t *testing.T) {
	interruptedTest := []engine.TestResult{
		{Name: "a", Status: engine.TestPassed, Duration: time.Second},
		{Name: "b", Status: engine.TestFailed, Duration: 1500 * time.Millisecond,
			Err: &engine.Failure{Pos: "s.star:3:4", What: "sleep", Err: context.Canceled}},
		{Name: "c"},
	}
	tests := []struct {
		name  string
		res   *engine.Result
		cases []wantCase
	}{
		{"cluster did not start",
			&engine.Result{Err: fmt.Errorf("create cluster: %w", errors.New("no network left\nremove some")), Tests: notRunResults("a")},
			[]wantCase{
				{name: "the cluster did not start", kind: "error", message: "create cluster: no network left", text: []string{"create cluster: no network left\nremove some\n"}},
				{name: "a", kind: "skipped", message: "not run: the cluster did not start"},
			}},
		{"cluster unhealthy",
			&engine.Result{Err: &cluster.TargetError{Err: errors.New("node n1 did not answer GET /health with 200 within 2s\nlast log lines of n1:\n  panic")}, Tests: notRunResults("a", "b")},
			[]wantCase{
				{name: "the cluster did not become healthy", kind: "failure", message: "node n1 did not answer GET /health", text: []string{"last log lines of n1:\n  panic\n"}},
				{name: "a", kind: "skipped", message: "not run: the cluster did not become healthy"},
				{name: "b", kind: "skipped", message: "not run: the cluster did not become healthy"},
			}},
		{"interrupted in a test",
			&engine.Result{Err: errors.New("run interrupted: interrupt"), Tests: interruptedTest},
			[]wantCase{
				{name: "a", kind: "passed"},
				{name: "b", kind: "error", message: "run interrupted: interrupt", text: []string{"s.star:3:4: sleep: context canceled\n", "run interrupted: interrupt\n"}},
				{name: "c", kind: "skipped", message: "not run: interrupted"},
			}},
		{"filtered",
			&engine.Result{Tests: []engine.TestResult{{Name: "a", Status: engine.TestSkipped}, {Name: "b", Status: engine.TestPassed}}},
			[]wantCase{
				{name: "a", kind: "skipped", message: "skipped: --run does not select it"},
				{name: "b", kind: "passed"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &junitReport{path: filepath.Join(t.TempDir(), "junit.xml")}
			var names []string
			for _, tr := range tc.res.Tests {
				names = append(names, tr.Name)
			}
			tc.res.Duration = 3 * time.Second
			r.Stage(ran(stub{"s.star", names}, tc.res, ""))
			if err := r.save(); err != nil {
				t.Fatal(err)
			}
			doc := readReport(t, r.path)
			if len(doc.Suites) != 1 {
				t.Fatalf("%d suites; want 1", len(doc.Suites))
			}
			if doc.Suites[0].Time != 3 {
				t.Errorf("suite time %v; want 3", doc.Suites[0].Time)
			}
			checkCases(t, doc.Suites[0], "s.star", tc.cases)
		})
	}

	t.Run("no run", func(t *testing.T) {
		r := &junitReport{path: filepath.Join(t.TempDir(), "junit.xml")}
		sess := session.Open(session.Options{Reporters: []session.Reporter{r}})
		if got := sess.NotRun(stub{"s.star", []string{"a"}}, "the run did not start", errors.New("cannot reach the Docker daemon at unix:///x.sock")).Status; got != exitError {
			t.Errorf("status %d; want %d", got, exitError)
		}
		doc := readReport(t, r.path)
		checkCounts(t, "testsuites", [4]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}, 2, 0, 1, 1)
		checkCases(t, doc.Suites[0], "s.star", []wantCase{
			{name: "the run did not start", kind: "error", message: "cannot reach the Docker daemon at unix:///x.sock"},
			{name: "a", kind: "skipped", message: "not run: the run did not start"},
		})
	})
}

// TestJUnitControlCharacters checks that what XML 1.0 cannot hold — control
// characters, bytes that are not UTF-8, a terminal's escape sequences —
// from a test name, a node's answer, its error, a hint or a log is dropped
// or replaced, and that the rest arrives as it was.
func TestJUnitControlCharacters(t *testing.T) {
	var ctl strings.Builder
	for c := 0; c < 0x20; c++ {
		if c != '\n' {
			ctl.WriteByte(byte(c))
		}
	}
	body := "start" + ctl.String() + "end\n\x1b[31mred\x1b[0m <&>\"' ]]>\nthird line\n"
	f := &engine.Failure{
		Pos: "s.star:1:2", What: "GET /kv/k on all_nodes()", Problem: "expected every node to pass, 2 of 2 did not (n1, n2)",
		Nodes: []engine.NodeReport{
			{Response: &engine.Response{Node: "n1", Method: "GET", URL: "http://127.0.0.1:1/kv/k", Status: 200, Body: body},
				Problems: []string{`expected body is "v"`}},
			{Response: &engine.Response{Node: "n2", Method: "GET", URL: "http://127.0.0.1:2/kv/k", Err: errors.New("read body: \xff\xfe\x00 garbage \xef\xbf\xbe")}},
		},
		Hint: "ring \x07 the bell",
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "n1.log"), []byte("x stdout \x00\x1b[1mbold\x1b[0m\xc3\x28\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := &engine.Result{Tests: []engine.TestResult{{Name: "na\x00me\x1b[2m \xff", Status: engine.TestFailed, Err: f}}}
	r := &junitReport{path: filepath.Join(t.TempDir(), "junit.xml")}
	r.Stage(ran(stub{"s\x01.star", nil}, res, dir))
	if err := r.save(); err != nil {
		t.Fatal(err)
	}
	doc := readReport(t, r.path)
	c := doc.Suites[0].Cases[0]
	if doc.Suites[0].Name != "s.star" || c.Classname != "s.star" || c.Name != "name \uFFFD" {
		t.Errorf("suite %q, class %q, name %q; want s.star, s.star, %q", doc.Suites[0].Name, c.Classname, c.Name, "name \uFFFD")
	}
	if c.Failure == nil {
		t.Fatalf("no failure: %+v", c)
	}
	assertContains(t, "failure text", c.Failure.Text,
		"\n         start\t\nend\n",
		"         red <&>\"' ]]>\n",
		"         third line\n",
		"n2 ✗ GET http://127.0.0.1:2/kv/k → read body: \uFFFD\uFFFD garbage \uFFFD\n",
		"hint: ring  the bell\n")
	if c.SystemOut == nil {
		t.Fatal("no system-out")
	}
	assertContains(t, "system-out", *c.SystemOut, "x stdout bold\uFFFD(\n")
}

// TestJUnitLogTail checks that a case's system-out holds the end of the
// event log, then of each node's log in node order, bounded in lines and
// in bytes per line, read from the end of a long file.
func TestJUnitLogTail(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines int, extra string) {
		var b strings.Builder
		for i := 1; i <= lines; i++ {
			fmt.Fprintf(&b, "%s line %d %s\n", name, i, strings.Repeat("x", 1000))
		}
		b.WriteString(extra)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("events.log", 1000, "")
	write("n10.log", 0, "only line\n")
	write("n2.log", 5, "")
	write("n1.log", 100, "last é"+strings.Repeat("é", 300)+"\n")
	write("notes.txt", 10, "")

	got := logTail(dir)
	var heads []string
	for _, l := range strings.Split(got, "\n") {
		if strings.HasPrefix(l, "==> ") {
			heads = append(heads, l)
		}
	}
	want := []string{
		"==> " + filepath.Join(dir, "events.log") + " (last 40 lines) <==",
		"==> " + filepath.Join(dir, "n1.log") + " (last 20 lines) <==",
		"==> " + filepath.Join(dir, "n2.log") + " <==",
		"==> " + filepath.Join(dir, "n10.log") + " <==",
	}
	if strings.Join(heads, "\n") != strings.Join(want, "\n") {
		t.Errorf("headings:\n%s\nwant:\n%s", strings.Join(heads, "\n"), strings.Join(want, "\n"))
	}
	assertContains(t, "tail", got, "events.log line 961 ", "events.log line 1000 ", "n1.log line 82 ", "n2.log line 1 ", "only line\n")
	for _, gone := range []string{"events.log line 960 ", "n1.log line 81 ", "notes.txt"} {
		if strings.Contains(got, gone) {
			t.Errorf("tail holds %q, which is not among the last lines of a log", gone)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if len(l) > tailLineBytes+len("…") || !utf8.ValidString(l) {
			t.Errorf("a line of %d bytes (valid UTF-8: %v): %.60q…", len(l), utf8.ValidString(l), l)
		}
	}
	if max := 4*100 + (40+20+5+1)*(tailLineBytes+len("…\n")); len(got) > max {
		t.Errorf("tail of %d bytes; want at most %d", len(got), max)
	}
	if logTail(filepath.Join(dir, "none")) != "" {
		t.Errorf("a missing log directory gives a tail")
	}
}

// TestJUnitWrite checks that the file is replaced at once, through a
// temporary file that does not stay, and that a report that cannot be
// written makes a pass an error but leaves a failure a failure.
func TestJUnitWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reports", "junit.xml")
	r := &junitReport{path: path}
	r.Stage(ran(stub{"s.star", []string{"a"}}, &engine.Result{Tests: []engine.TestResult{{Name: "a", Status: engine.TestPassed}}}, ""))
	for range 2 {
		var stderr bytes.Buffer
		r.stderr = &stderr
		if got := r.Flush(exitPass); got != exitPass || stderr.Len() > 0 {
			t.Fatalf("status %d, stderr %q; want 0 and nothing", got, stderr.String())
		}
	}
	if doc := readReport(t, path); doc.Tests != 1 {
		t.Errorf("%d tests; want 1", doc.Tests)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the report's directory holds %v; want junit.xml only", names)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("report: %v, mode %v; want 0644", err, st.Mode())
	}

	// A report cannot be written under a file, nor over a directory.
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ path, why string }{
		{filepath.Join(dir, "file", "junit.xml"), "not a directory"},
		{filepath.Join(dir, "reports"), "it is a directory"},
	} {
		for _, tc := range []struct{ status, want int }{{exitPass, exitError}, {exitFail, exitFail}, {exitError, exitError}} {
			r.path = bad.path
			var stderr bytes.Buffer
			r.stderr = &stderr
			if got := r.Flush(tc.status); got != tc.want {
				t.Errorf("%s: status %d becomes %d; want %d", bad.path, tc.status, got, tc.want)
			}
			assertContains(t, "stderr", stderr.String(), "clstr: write the JUnit report "+bad.path+": ", bad.why)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "reports")); len(entries) != 1 {
		t.Errorf("a failed write left %d files in the directory; want 1", len(entries))
	}
}

// TestJUnitFlag checks the mistakes in using --junit, on the commands
// that have it.
func TestJUnitFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--watch", "--junit", "j.xml", "none.star"}, "run: --junit reports a single run; leave out --watch"},
		{[]string{"run", "--junit=", "none.star"}, "run: --junit needs the name of the file to write"},
		{[]string{"test", "--junit="}, "test: --junit needs the name of the file to write"},
		{[]string{"next", "--junit="}, "next: --junit needs the name of the file to write"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), append([]string{"clstr"}, tc.args...), &stdout, &stderr)
			if status != exitError || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("status %d, stderr %q; want %d and %q", status, stderr.String(), exitError, tc.want)
			}
			if _, err := os.Stat("j.xml"); err == nil {
				t.Errorf("a usage error wrote the report")
			}
		})
	}
}

// TestRunJUnit runs clstr run --junit against the test node in a real
// container, once passing and once failing, and reads the reports.
func TestRunJUnit(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	script := `suite()
test("stores", lambda: put("n1", "/kv/a", "1").status(200).run())
test("reads", lambda: get("n1", "/kv/a").status(200).body(BODY).hint("Serve what was stored.").run())
test("echoes", lambda: post("n1", "/echo", "hi").status(200).run())
`
	tests := []struct {
		name, body string
		status     int
		counts     [4]int // tests, failures, errors, skipped
		kinds      []string
	}{
		{"passing", `"1"`, exitPass, [4]int{3, 0, 0, 0}, []string{"passed", "passed", "passed"}},
		{"failing", `"2"`, exitFail, [4]int{3, 1, 0, 1}, []string{"passed", "failure", "skipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := clstrRun(t, map[string]string{"s.star": strings.Replace(script, "BODY", tc.body, 1)}, nil,
				"run", "--binary", testnode, "--junit", "reports/junit.xml", "s.star")
			if res.status != tc.status {
				t.Fatalf("exit status %d; want %d\nstdout:\n%s\nstderr:\n%s", res.status, tc.status, res.stdout, res.stderr)
			}
			doc := readReport(t, filepath.Join(res.dir, "reports/junit.xml"))
			checkCounts(t, "testsuites", [4]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}, tc.counts[0], tc.counts[1], tc.counts[2], tc.counts[3])
			if len(doc.Suites) != 1 {
				t.Fatalf("%d suites; want 1", len(doc.Suites))
			}
			s := doc.Suites[0]
			checkCounts(t, "testsuite", [4]int{s.Tests, s.Failures, s.Errors, s.Skipped}, tc.counts[0], tc.counts[1], tc.counts[2], tc.counts[3])
			if s.Name != "s.star" || len(s.Cases) != len(tc.kinds) {
				t.Fatalf("suite %q with %d cases; want s.star with %d", s.Name, len(s.Cases), len(tc.kinds))
			}
			for i, c := range s.Cases {
				if c.kind() != tc.kinds[i] || c.Classname != "s.star" {
					t.Errorf("case %q (class %q): %s; want %s", c.Name, c.Classname, c.kind(), tc.kinds[i])
				}
			}
			if tc.status == exitFail {
				f := s.Cases[1]
				assertContains(t, "failure", f.Failure.Text, "s.star:3:", "n1 ✗ GET http://127.0.0.1:", "expected body is 2, got 1", "hint: Serve what was stored.")
				if f.SystemOut == nil {
					t.Fatal("the failed test has no system-out")
				}
				assertContains(t, "system-out", *f.SystemOut, "==> .clstr/logs/events.log", "[TEST: reads]", "==> .clstr/logs/n1.log")
			}
		})
	}
}

// TestJUnitScriptDoesNotLoad checks that a script with a syntax error is
// in the report as an error, and that no cluster was needed to say so.
func TestJUnitScriptDoesNotLoad(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("bad.star", []byte("suite()\n\ndef t(:\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"clstr", "run", "--binary", "bad.star", "--junit", "j.xml", "bad.star"}, &stdout, &stderr)
	if status != exitError {
		t.Fatalf("status %d; want %d\nstderr:\n%s", status, exitError, stderr.String())
	}
	assertContains(t, "stderr", stderr.String(), "bad.star:3:8: got ':', want ')'")
	doc := readReport(t, "j.xml")
	checkCounts(t, "testsuites", [4]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}, 1, 0, 1, 0)
	if doc.Suites[0].Name != "bad.star" {
		t.Errorf("suite %q; want bad.star", doc.Suites[0].Name)
	}
	checkCases(t, doc.Suites[0], "bad.star", []wantCase{
		{name: "the script did not load", kind: "error", message: "bad.star:3:8: got ':', want ')'", text: []string{"bad.star:3:8: got ':', want ')'\n"}},
	})
	if _, err := os.Stat(".clstr"); err == nil {
		t.Errorf("a script that does not compile created .clstr/")
	}
}

// TestJUnitSeconds checks the time attributes: to the microsecond, and
// never 0 for what took any time.
func TestJUnitSeconds(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"nothing", 0, "0"},
		{"under a microsecond", 400 * time.Nanosecond, "0.000001"},
		{"under a millisecond", 412 * time.Microsecond, "0.000412"},
		{"rounded to the microsecond", 1234567891 * time.Nanosecond, "1.234568"},
		{"whole seconds", 3 * time.Second, "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := seconds(tc.d); got != tc.want {
				t.Errorf("seconds(%v) = %q; want %q", tc.d, got, tc.want)
			}
		})
	}
}
