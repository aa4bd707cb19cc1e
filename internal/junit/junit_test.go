package junit

import (
	"bytes"
	"context"
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
	"github.com/clstr-dev/clstr/internal/junit/junittest"
	"github.com/clstr-dev/clstr/internal/runlog"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark"
	"github.com/clstr-dev/clstr/starlark/starlarktest"
	"github.com/clstr-dev/clstr/stdlib"
)

// TestJUnitScripts runs scripts that pass, fail, stop on a script error
// and fail in setup on the fake target, in one session as clstr run
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
	report := &Report{path: filepath.Join(dir, "out", "junit.xml"), stderr: &stderr}
	// The fake target writes no node log; one is put where the run's
	// logs go as each cluster is created.
	rt := nodeLogWriter{starlarktest.New().Runtime, logs}
	sess := session.Open(session.Options{
		Runtime:   func(context.Context) (cluster.Runtime, func() error, error) { return rt, nil, nil },
		Root:      dir,
		Reporters: []session.Reporter{report},
	})
	defer sess.Close()
	wantStatus := []int{session.Pass, session.Fail, session.Error, session.Fail}
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

	doc := junittest.Read(t, report.path)
	if doc.Name != "clstr" || len(doc.Suites) != len(scripts) {
		t.Fatalf("testsuites %q with %d suites; want clstr with %d", doc.Name, len(doc.Suites), len(scripts))
	}
	junittest.CheckCounts(t, "testsuites", doc.Counts, 9, 2, 1, 3)
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
		switch i {
		case 0:
			junittest.CheckCounts(t, s.Name, s.Counts, 2, 0, 0, 0)
			junittest.CheckCases(t, s, class, []junittest.Want{{Name: "writes", Kind: "passed"}, {Name: "reads", Kind: "passed"}})
		case 1:
			junittest.CheckCounts(t, s.Name, s.Counts, 3, 1, 0, 1)
			junittest.CheckCases(t, s, class, []junittest.Want{
				{Name: "writes", Kind: "passed"},
				{Name: "reads from every node", Kind: "failure",
					Message: "fail.star:5:96: GET /kv/k on all_nodes(): expected every node to pass",
					Text: []string{
						"fail.star:5:96: GET /kv/k on all_nodes()\nexpected every node to pass, 1 of 2 did not (n2)\n",
						"  n1 ✓ GET http://127.0.0.1:",
						"  n2 ✗ GET http://127.0.0.1:",
						"→ 404 Not Found\n",
						"       expected status is 200, got 404\n",
						`body: "key not found\n"`,
						"hint: Replicate writes to every node.\n",
					},
					Out: []string{
						"==> " + filepath.Join(logs, "events.log") + " <==\n",
						"[TEST: reads from every node]",
						"==> " + filepath.Join(logs, "n1.log") + " <==\n2026-01-01T00:00:00Z stdout listening on :8080\n",
					}},
				{Name: "never runs", Kind: "skipped", Message: "not run: an earlier test failed"},
			})
		case 2:
			junittest.CheckCounts(t, s.Name, s.Counts, 2, 0, 1, 1)
			junittest.CheckCases(t, s, class, []junittest.Want{
				{Name: "reads the term", Kind: "error", Message: `script_error.star:4:16: key "nope" not in dict`,
					Text: []string{"Traceback (most recent call last):\n", "script_error.star:7:9: in reads_term\n", "script_error.star:4:16: in term\n"},
					Out:  []string{"[TEST: reads the term]"}},
				{Name: "after", Kind: "skipped", Message: "not run: an earlier test failed"},
			})
		case 3:
			junittest.CheckCounts(t, s.Name, s.Counts, 2, 1, 0, 1)
			junittest.CheckCases(t, s, class, []junittest.Want{
				{Name: "setup failed", Kind: "failure", Message: "setup.star:2:53: PUT /kv/x on n1: expected status is 200, got 400",
					Text: []string{"setup.star:2:53: PUT /kv/x on n1\n", "  n1 ✗ PUT http://127.0.0.1:", `body: "value cannot be empty\n"`},
					Out:  []string{"[CLUSTER READY]"}},
				{Name: "never runs", Kind: "skipped", Message: "not run: setup failed"},
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
	report := &Report{path: filepath.Join(t.TempDir(), "junit.xml"), stderr: io.Discard}
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
		// Each stage on a target of its own, with empty stores.
		rt := starlarktest.New().Runtime
		sess := session.Open(session.Options{
			Runtime:   func(context.Context) (cluster.Runtime, func() error, error) { return rt, nil, nil },
			Reporters: []session.Reporter{report},
		})
		sess.Run(context.Background(), st)
		sess.Close()
	}
	doc := junittest.Read(t, report.path)
	if len(doc.Suites) != 2 {
		t.Fatalf("%d suites; want 2", len(doc.Suites))
	}
	junittest.CheckCounts(t, "testsuites", doc.Counts, 3, 1, 0, 1)
	a, b := doc.Suites[0], doc.Suites[1]
	if a.Name != "http-api" || b.Name != "persistence" {
		t.Errorf("suites %q, %q; want http-api, persistence", a.Name, b.Name)
	}
	junittest.CheckCases(t, a, "kv-store/http-api", []junittest.Want{{Name: "PUT Stores Values", Kind: "passed"}})
	junittest.CheckCases(t, b, "kv-store/persistence", []junittest.Want{
		{Name: "Data Survives SIGTERM", Kind: "failure", Message: "GET /kv/a on n1: expected status is 200, got 404",
			Text: []string{"n1 ✗ GET", "hint: Write every value to DATA_DIR.\n"}},
		{Name: "Repeated Restarts", Kind: "skipped", Message: "not run: an earlier test failed"},
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
		cases []junittest.Want
	}{
		{"cluster did not start",
			&engine.Result{Err: fmt.Errorf("create cluster: %w", errors.New("no network left\nremove some")), Tests: notRunResults("a")},
			[]junittest.Want{
				{Name: "the cluster did not start", Kind: "error", Message: "create cluster: no network left", Text: []string{"create cluster: no network left\nremove some\n"}},
				{Name: "a", Kind: "skipped", Message: "not run: the cluster did not start"},
			}},
		{"cluster unhealthy",
			&engine.Result{Err: &cluster.TargetError{Err: errors.New("node n1 did not answer GET /health with 200 within 2s\nlast log lines of n1:\n  panic")}, Tests: notRunResults("a", "b")},
			[]junittest.Want{
				{Name: "the cluster did not become healthy", Kind: "failure", Message: "node n1 did not answer GET /health", Text: []string{"last log lines of n1:\n  panic\n"}},
				{Name: "a", Kind: "skipped", Message: "not run: the cluster did not become healthy"},
				{Name: "b", Kind: "skipped", Message: "not run: the cluster did not become healthy"},
			}},
		{"interrupted in a test",
			&engine.Result{Err: errors.New("run interrupted: interrupt"), Tests: interruptedTest},
			[]junittest.Want{
				{Name: "a", Kind: "passed"},
				{Name: "b", Kind: "error", Message: "run interrupted: interrupt", Text: []string{"s.star:3:4: sleep: context canceled\n", "run interrupted: interrupt\n"}},
				{Name: "c", Kind: "skipped", Message: "not run: interrupted"},
			}},
		{"filtered",
			&engine.Result{Tests: []engine.TestResult{{Name: "a", Status: engine.TestSkipped}, {Name: "b", Status: engine.TestPassed}}},
			[]junittest.Want{
				{Name: "a", Kind: "skipped", Message: "skipped: --run does not select it"},
				{Name: "b", Kind: "passed"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{path: filepath.Join(t.TempDir(), "junit.xml")}
			var names []string
			for _, tr := range tc.res.Tests {
				names = append(names, tr.Name)
			}
			tc.res.Duration = 3 * time.Second
			r.Stage(ran(stub{"s.star", names}, tc.res, ""))
			if err := r.save(); err != nil {
				t.Fatal(err)
			}
			doc := junittest.Read(t, r.path)
			if len(doc.Suites) != 1 {
				t.Fatalf("%d suites; want 1", len(doc.Suites))
			}
			if doc.Suites[0].Time != 3 {
				t.Errorf("suite time %v; want 3", doc.Suites[0].Time)
			}
			junittest.CheckCases(t, doc.Suites[0], "s.star", tc.cases)
		})
	}

	t.Run("no run", func(t *testing.T) {
		r := &Report{path: filepath.Join(t.TempDir(), "junit.xml")}
		sess := session.Open(session.Options{Reporters: []session.Reporter{r}})
		if got := sess.NotRun(stub{"s.star", []string{"a"}}, "the run did not start", errors.New("cannot reach the Docker daemon at unix:///x.sock")).Status; got != session.Error {
			t.Errorf("status %d; want %d", got, session.Error)
		}
		doc := junittest.Read(t, r.path)
		junittest.CheckCounts(t, "testsuites", doc.Counts, 2, 0, 1, 1)
		junittest.CheckCases(t, doc.Suites[0], "s.star", []junittest.Want{
			{Name: "the run did not start", Kind: "error", Message: "cannot reach the Docker daemon at unix:///x.sock"},
			{Name: "a", Kind: "skipped", Message: "not run: the run did not start"},
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
	r := &Report{path: filepath.Join(t.TempDir(), "junit.xml")}
	r.Stage(ran(stub{"s\x01.star", nil}, res, dir))
	if err := r.save(); err != nil {
		t.Fatal(err)
	}
	doc := junittest.Read(t, r.path)
	c := doc.Suites[0].Cases[0]
	if doc.Suites[0].Name != "s.star" || c.Classname != "s.star" || c.Name != "name \uFFFD" {
		t.Errorf("suite %q, class %q, name %q; want s.star, s.star, %q", doc.Suites[0].Name, c.Classname, c.Name, "name \uFFFD")
	}
	if c.Failure == nil {
		t.Fatalf("no failure: %+v", c)
	}
	junittest.Contains(t, "failure text", c.Failure.Text,
		"\n         start\t\nend\n",
		"         red <&>\"' ]]>\n",
		"         third line\n",
		"n2 ✗ GET http://127.0.0.1:2/kv/k → read body: \uFFFD\uFFFD garbage \uFFFD\n",
		"hint: ring  the bell\n")
	if c.SystemOut == nil {
		t.Fatal("no system-out")
	}
	junittest.Contains(t, "system-out", *c.SystemOut, "x stdout bold\uFFFD(\n")
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
	junittest.Contains(t, "tail", got, "events.log line 961 ", "events.log line 1000 ", "n1.log line 82 ", "n2.log line 1 ", "only line\n")
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
	r := &Report{path: path}
	r.Stage(ran(stub{"s.star", []string{"a"}}, &engine.Result{Tests: []engine.TestResult{{Name: "a", Status: engine.TestPassed}}}, ""))
	for range 2 {
		var stderr bytes.Buffer
		r.stderr = &stderr
		if got := r.Flush(session.Pass); got != session.Pass || stderr.Len() > 0 {
			t.Fatalf("status %d, stderr %q; want 0 and nothing", got, stderr.String())
		}
	}
	if doc := junittest.Read(t, path); doc.Tests != 1 {
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
		for _, tc := range []struct{ status, want int }{{session.Pass, session.Error}, {session.Fail, session.Fail}, {session.Error, session.Error}} {
			r.path = bad.path
			var stderr bytes.Buffer
			r.stderr = &stderr
			if got := r.Flush(tc.status); got != tc.want {
				t.Errorf("%s: status %d becomes %d; want %d", bad.path, tc.status, got, tc.want)
			}
			junittest.Contains(t, "stderr", stderr.String(), "clstr: write the JUnit report "+bad.path+": ", bad.why)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "reports")); len(entries) != 1 {
		t.Errorf("a failed write left %d files in the directory; want 1", len(entries))
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
