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

	"github.com/clstr-dev/clstr/internal/browsertest"
	"github.com/clstr-dev/clstr/internal/report"
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
	kv := kvBinary(t)
	dir := t.TempDir()
	wantStatus(t, clstrIn(t, dir, "init", "kv-store", "ws"), 0)
	ws := filepath.Join(dir, "ws")

	res := clstrInEnv(t, ws, []string{"GITHUB_ACTIONS=true"}, "test", "crash-recovery", "--binary", kv,
		"--env", "KV_BUG=lost-on-sigkill", "--report", "out", "--junit", "junit.xml")
	wantStatus(t, res, 1)
	// The console says what it always says, and the annotation follows.
	assertContains(t, "output", res.stdout, "Stage 3 of 5", "✗ Acknowledged Writes Survive SIGKILL", "FAILED",
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

// TestRunReportFaults runs a script with a partition, a kill and a
// failing check on three test nodes in real containers with clstr run
// --report, checks the faults and lanes of report.json, and renders the
// logs of the run with clstr logs --html in a real browser.
func TestRunReportFaults(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	script := `suite(cluster = 3)
def faults():
    partition(["n1", "n2"], ["n3"])
    kill("n2")
    start("n2")
    heal()
    put("n1", "/kv/a", "1").status(200).run()
    get("n2", "/kv/a").status(200).body("1").hint("Replicate writes to every node.").run()
test("faults", faults)
`
	res := clstrRun(t, map[string]string{"s.star": script}, nil, "run", "--binary", testnode, "--report", "rep", "s.star")
	if res.status != exitFail {
		t.Fatalf("exit status %d; want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "::error") {
		t.Errorf("annotations outside GitHub Actions:\n%s", res.stdout)
	}
	r := readJSONReport(t, filepath.Join(res.dir, "rep"))
	st := r.Stages[0]
	if f := st.Tests[0].Failure; f == nil || f.Position == nil || *f.Position != (report.Position{File: "s.star", Line: 8, Column: 89}) {
		t.Errorf("failure %+v at %+v; want s.star:8:89", f, f.Position)
	}
	kinds := map[string]int{}
	for _, f := range st.Faults {
		kinds[f.Kind+" "+f.Node+" "+f.Side]++
		if f.Open {
			t.Errorf("fault %+v still in force at the end", f)
		}
	}
	for _, k := range []string{"partitioned n1 n1 n2", "partitioned n2 n1 n2", "partitioned n3 n3", "killed n2 "} {
		if kinds[k] != 1 {
			t.Errorf("faults %v; want one %q", kinds, k)
		}
	}
	if len(st.Nodes) != 3 || len(st.Nodes[1].Spans) != 3 {
		t.Errorf("lanes %+v; want n2 up, killed, up", st.Nodes)
	}

	logs := clstrIn(t, res.dir, "logs", "--html", "logs.html")
	wantStatus(t, logs, 0)
	p := browsertest.Open(t, filepath.Join(res.dir, "logs.html"))
	got := browsertest.Eval[[]int](t, p, `[document.querySelectorAll("g.lane").length,
		document.querySelectorAll("#logs .log-line").length,
		document.querySelectorAll('#logs .log-line[data-node="n3"]').length,
		document.querySelectorAll("#logs input[data-node]").length,
		document.querySelectorAll("rect.mark-partitioned").length]`)
	if got[0] != 3 || got[1] == 0 || got[2] == 0 || got[3] != 3 || got[4] != 3 {
		t.Errorf("logs page: %d lanes, %d lines (%d of n3), %d node filters, %d partition marks", got[0], got[1], got[2], got[3], got[4])
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
