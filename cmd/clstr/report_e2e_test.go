package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/internal/report"
	"github.com/clstr-dev/clstr/internal/testkit/browsertest"
)

// readJSONReport reads the report.json in dir.
func readJSONReport(t *testing.T, dir string) report.Report {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, report.JSONFile))), &r); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if r.Schema != report.Schema || r.Version != report.Version {
		t.Errorf("schema %q version %d; want %q %d", r.Schema, r.Version, report.Schema, report.Version)
	}
	return r
}

// TestReportOfFailingStage runs the crash-recovery stage of kv-store
// against the example kv server with a planted bug (writes acknowledged
// before they reach the disk), in real containers, as a learner in a
// GitHub Actions job would, with --report and --junit. It checks the
// annotation, report.json, and the page in a real browser.
func TestReportOfFailingStage(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	kv := kvBinary(t)
	dir := t.TempDir()
	wantStatus(t, clstrIn(t, dir, "init", "kv-store", "ws"), 0)
	ws := filepath.Join(dir, "ws")

	res := clstrInEnv(t, ws, []string{"GITHUB_ACTIONS=true"}, "test", "crash-recovery", "--binary", kv,
		"--env", "KV_BUG=lost-on-sigkill", "--report", "out", "--junit", "junit.xml")
	wantStatus(t, res, 1)
	// The console says what it always says, and the annotation follows.
	assertContains(t, "output", res.stdout, "Stage 3 of 8", "✗ Acknowledged Writes Survive SIGKILL", "FAILED",
		"::error file=kv-store/crash-recovery.star,line=", ",title=kv-store/crash-recovery%3A Acknowledged Writes Survive SIGKILL::")
	if _, err := os.Stat(filepath.Join(ws, "junit.xml")); err != nil {
		t.Errorf("--junit wrote nothing beside --report: %v", err)
	}

	out := filepath.Join(ws, "out")
	r := readJSONReport(t, out)
	if r.Run.Verdict != "fail" || r.Run.ExitStatus != 1 || !strings.Contains(r.Run.Target, "binary") || len(r.Stages) != 1 {
		t.Fatalf("run %+v with %d stages", r.Run, len(r.Stages))
	}
	st := r.Stages[0]
	if st.Name != "kv-store/crash-recovery" || st.Tests[0].Status != "failed" || st.Tests[1].Status != "not run" {
		t.Errorf("stage %q, tests %+v", st.Name, st.Tests)
	}
	f := st.Tests[0].Failure
	if f == nil || f.Position == nil || f.Position.File != "kv-store/crash-recovery.star" || f.Position.Line == 0 || f.Position.Column == 0 || f.Hint == "" || f.Verdict != "fail" {
		t.Fatalf("failure %+v", f)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].Name != "n1" {
		t.Fatalf("nodes %+v", st.Nodes)
	}
	kills := 0
	for _, fl := range st.Faults {
		if fl.Kind == "killed" && fl.Node == "n1" && fl.End > fl.Start {
			kills++
		}
	}
	if kills == 0 {
		t.Errorf("no kill of n1 among the faults %+v", st.Faults)
	}
	if !slices.ContainsFunc(st.Logs, func(l report.LogLine) bool { return l.Node == "n1" && l.Stream != "event" }) {
		t.Error("no line of n1's output in the logs")
	}

	p := browsertest.Open(t, filepath.Join(out, report.HTMLFile))
	got := browsertest.Eval[map[string]any](t, p, `(() => {
		const n = s => document.querySelectorAll(s).length;
		const text = s => (document.querySelector(s) || {}).textContent || "";
		return {
			ready: !!(window.clstrReport && window.clstrReport.ready),
			verdict: text("#verdict"), lanes: n("g.lane"), killed: n("g.lane rect.state-killed"),
			failedSpan: n("g.test-span.test-failed"), failures: n("#failures article.failure"),
			position: text("#failures .position"), hint: text("#failures .hint"), message: text("#failures .message"),
			around: n("#failures .log-line"), logs: n("#logs .log-line"), filters: n("#logs input[data-node]"),
		};
	})()`)
	want := map[string]any{"ready": true, "verdict": "FAIL", "lanes": 1.0, "failedSpan": 1.0, "failures": 1.0, "filters": 1.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("page %s: %v; want %v", k, got[k], v)
		}
	}
	if got["killed"].(float64) == 0 || got["around"].(float64) == 0 || got["logs"].(float64) == 0 {
		t.Errorf("page: %v killed spans, %v log lines around the failure, %v in the log view", got["killed"], got["around"], got["logs"])
	}
	if !strings.HasPrefix(got["position"].(string), "kv-store/crash-recovery.star:") || !strings.Contains(got["hint"].(string), f.Hint) || got["message"] != f.Message {
		t.Errorf("page failure: position %q, hint %q, message %q", got["position"], got["hint"], got["message"])
	}
	p.Screenshot(t, "report-kv-lost-on-sigkill.png")
	p.CheckClean(t)
}

// TestRunReportFaults runs clients against three test nodes, which do
// not replicate, in real containers with clstr run --report, while a
// nemesis partitions them and after a kill; the history is not
// linearizable. It checks the history, faults, lanes and visualization of
// the report and its page in a real browser, then renders the logs of the
// run with clstr logs --html.
func TestRunReportFaults(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	script := `suite(cluster = 3)

def client(i):
    if i == 0:
        fetch("n1", "/kv/k", method = "PUT", body = unique("v"))
    else:
        fetch("n2", "/kv/k")

def nemesis():
    partition(["n1", "n2"], ["n3"])
    sleep("100ms")
    heal()
    sleep("100ms")

def faults():
    fetch("n2", "/kv/k", method = "PUT", body = "first")
    kill("n3")
    start("n3")
    h = clients(2, client, ops = 40, nemesis = nemesis)
    heal()
    check_linearizable(h, hint = "Read from the node you wrote to.")

test("faults", faults)
`
	res := clstrRun(t, map[string]string{"s.star": script}, nil, "run", "--binary", testnode, "--seed", "42", "--report", "rep", "s.star")
	if res.status != exitFail {
		t.Fatalf("exit status %d; want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "::error") {
		t.Errorf("annotations outside GitHub Actions:\n%s", res.stdout)
	}
	t.Logf("clstr run took %v", res.took)
	rep := filepath.Join(res.dir, "rep")
	r := readJSONReport(t, rep)
	st := r.Stages[0]
	if r.Run.Seed != "42" {
		t.Errorf("seed %q; want 42", r.Run.Seed)
	}
	f := st.Tests[0].Failure
	if f == nil || f.Position == nil || *f.Position != (report.Position{File: "s.star", Line: 21, Column: 23}) {
		t.Fatalf("failure %+v; want one at s.star:21:23", f)
	}
	if f.Visualization == "" || !strings.HasPrefix(f.Visualization, "linearizability-") {
		t.Errorf("the failure links no visualization: %+v", f)
	} else if _, err := os.Stat(filepath.Join(rep, f.Visualization)); err != nil {
		t.Errorf("the visualization is not beside the report: %v", err)
	}
	if st.History == nil || len(st.History.Ops) < 80 {
		t.Fatalf("history %+v; want the clients' 80 operations and the test's", st.History)
	}
	kinds := map[string]int{}
	for _, f := range st.Faults {
		kinds[f.Kind+" "+f.Node+" "+f.Side]++
		if f.Open {
			t.Errorf("fault %+v still in force at the end", f)
		}
	}
	for _, k := range []string{"partitioned n1 n1 n2", "partitioned n2 n1 n2", "partitioned n3 n3"} {
		if kinds[k] == 0 {
			t.Errorf("faults %v; want %q", kinds, k)
		}
	}
	if kinds["killed n3 "] != 1 {
		t.Errorf("faults %v; want one kill of n3", kinds)
	}
	if len(st.Nodes) != 3 || len(st.Nodes[2].Spans) != 3 {
		t.Errorf("lanes %+v; want n3 up, killed, up", st.Nodes)
	}

	p := browsertest.Open(t, filepath.Join(rep, report.HTMLFile))
	got := browsertest.Eval[map[string]any](t, p, `({
		lanes: document.querySelectorAll("g.lane").length,
		partitions: document.querySelectorAll("rect.mark-partitioned").length,
		canvas: document.getElementById("ops-canvas").width,
		stats: document.getElementById("op-stats").textContent,
		link: (document.querySelector("#failures a.visualization") || {}).getAttribute?.("href") || "",
	})`)
	if got["lanes"] != 3.0 || got["partitions"].(float64) < 3 || got["canvas"].(float64) == 0 || got["link"] != f.Visualization ||
		!strings.Contains(got["stats"].(string), " operations: ") {
		t.Errorf("page: %v", got)
	}
	p.Screenshot(t, "report-not-linearizable.png")
	p.CheckClean(t)

	logs := clstrIn(t, res.dir, "logs", "--html", "logs.html")
	wantStatus(t, logs, 0)
	p = browsertest.Open(t, filepath.Join(res.dir, "logs.html"))
	counts := browsertest.Eval[[]int](t, p, `[document.querySelectorAll("g.lane").length,
		document.querySelectorAll("#logs .log-line").length,
		document.querySelectorAll('#logs .log-line[data-node="n3"]').length,
		document.querySelectorAll("#logs input[data-node]").length,
		document.querySelectorAll("rect.mark-partitioned").length]`)
	if counts[0] != 3 || counts[1] == 0 || counts[2] == 0 || counts[3] != 3 || counts[4] < 3 {
		t.Errorf("logs page: %d lanes, %d lines (%d of n3), %d node filters, %d partition marks", counts[0], counts[1], counts[2], counts[3], counts[4])
	}
	p.Screenshot(t, "logs-faults.png")
	p.CheckClean(t)
}

// TestReportFromConfig checks that the report key of clstr.yaml asks for
// a report as --report does, and that a script that does not load is in
// it, and annotated on GitHub Actions, at its syntax error.
func TestReportFromConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("GITHUB_ACTIONS", "true")
	os.WriteFile("clstr.yaml", []byte("challenge: kv-store\nstage: http-api\nreport: reports/clstr # for CI\n"), 0o644)
	os.WriteFile("bad.star", []byte("suite()\n\ndef t(:\n    pass\n"), 0o644)
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), []string{"clstr", "run", "--binary", "bad.star", "bad.star"}, &stdout, &stderr)
	if status != exitError {
		t.Fatalf("exit status %d; want 2\n%s", status, stderr.String())
	}
	if want := "::error file=bad.star,line=3,col=8,title=bad.star%3A the script did not load::"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q lacks %q", stdout.String(), want)
	}
	r := readJSONReport(t, "reports/clstr")
	if st := r.Stages[0]; r.Run.ExitStatus != 2 || st.Error == nil || st.Error.Position == nil || st.Error.Position.Line != 3 || st.Error.Verdict != "error" {
		t.Errorf("report %+v", r)
	}
	// --report reports one run: not with --watch, where clstr.yaml's
	// report is left aside.
	if status := run(context.Background(), []string{"clstr", "run", "--watch", "--binary", "bad.star", "--report", "w", "bad.star"}, &stdout, &stderr); status != exitError ||
		!strings.Contains(stderr.String(), "--report reports a single run; leave out --watch") {
		t.Errorf("--report with --watch: exit %d\n%s", status, stderr.String())
	}
	// --report wins over clstr.yaml.
	run(context.Background(), []string{"clstr", "run", "--binary", "bad.star", "--report", "mine", "bad.star"}, &stdout, &stderr)
	if _, err := os.Stat(filepath.Join("mine", report.JSONFile)); err != nil {
		t.Errorf("--report mine: %v", err)
	}
}

func TestConfiguredReport(t *testing.T) {
	dir := t.TempDir()
	if got, err := configuredReport(dir); got != "" || err != nil {
		t.Errorf("no clstr.yaml: %q, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, progressFile), []byte("challenge: raft\nstage: x\nreport: \"out dir\"\n"), 0o644)
	if got, err := configuredReport(dir); got != "out dir" || err != nil {
		t.Errorf("report key: %q, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, progressFile), []byte("  report: x\n"), 0o644)
	if _, err := configuredReport(dir); err == nil || !strings.Contains(err.Error(), "clstr.yaml:1") {
		t.Errorf("a bad line: %v", err)
	}
}
