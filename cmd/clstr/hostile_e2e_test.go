package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/internal/testkit/browsertest"
)

// diskScript fails check_linearizable again and again inside eventually,
// with a describe() of 4 MB: each failure writes a visualization as large.
const diskScript = `suite(cluster = 1)

def first_only(state, op):
    return (state == 0, state + 1)

def big(state):
    return "<b>" + "x" * 4000000

m = model(0, first_only, describe = big)

def client(i):
    fetch("n1", "/kv/k", method = "PUT", body = "v%d" % i)

def disk():
    h = clients(2, client, ops = 4)
    eventually(lambda: check_linearizable(h, model = m), timeout = "4s")

test("disk", disk)
`

// TestRunDiskBounded checks that a check that keeps failing leaves one
// visualization in the logs and in the report, and that the files a run
// leaves are bounded by --max-disk, with one clear error and exit 2.
func TestRunDiskBounded(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	res := clstrRun(t, map[string]string{"s.star": diskScript}, nil, "run", "--binary", testnode, "--report", "rep", "s.star")
	if res.status != exitFail {
		t.Fatalf("exit status %d; want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	for _, dir := range []string{".clstr/logs", "rep"} {
		files, _ := filepath.Glob(filepath.Join(res.dir, dir, "linearizability-*.html"))
		if len(files) != 1 || filepath.Base(files[0]) != "linearizability-s-star-16.html" {
			t.Errorf("%s holds visualizations %v; want one, of the check site s.star:16", dir, files)
		}
	}

	res = clstrRun(t, map[string]string{"s.star": diskScript}, nil, "run", "--binary", testnode, "--report", "rep", "--max-disk", "6MiB", "s.star")
	if res.status != exitError {
		t.Fatalf("exit status %d; want 2\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	out := res.stdout + res.stderr
	if !strings.Contains(out, "limit: disk space (6 MiB) exceeded") || !strings.Contains(out, "--max-disk") {
		t.Errorf("the output does not name the disk limit:\n%s", out)
	}
	var total int64
	for _, dir := range []string{".clstr/logs", "rep"} {
		files, _ := filepath.Glob(filepath.Join(res.dir, dir, "linearizability-*.html"))
		for _, f := range files {
			st, _ := os.Stat(f)
			total += st.Size()
		}
	}
	if total > 6<<20 {
		t.Errorf("the run's visualizations hold %d bytes; the limit is 6 MiB", total)
	}
}

// TestRunNodeLogsBounded has a node write more output than the run's disk
// limit: its log holds what fits, and says that the rest is not kept.
func TestRunNodeLogsBounded(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	script := `suite(cluster = 1)

def chatty():
    line = "x" * 1023
    for i in range(100):
        post("n1", "/log", "\n".join([line] * 32)).status(200).run()

test("A Node That Talks", chatty)
`
	res := clstrRun(t, map[string]string{"s.star": script}, nil, "run", "--binary", testnode, "--max-disk", "1MiB", "s.star")
	if res.status != exitPass {
		t.Fatalf("exit status %d; want 0\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	log, err := os.ReadFile(filepath.Join(res.dir, ".clstr", "logs", "n1.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(log) > 1<<20+1024 {
		t.Errorf("n1.log holds %d bytes; the disk limit is 1 MiB", len(log))
	}
	if len(log) < 1<<19 {
		t.Errorf("n1.log holds %d bytes; want what fits in 1 MiB", len(log))
	}
	if !strings.Contains(string(log), "the rest of this node's output is not kept: raise it with --max-disk") {
		t.Errorf("n1.log does not say its output was cut:\n%s", log[len(log)-300:])
	}
}

// ciScript sends text that forms workflow commands down every path to
// clstr's output: print, a node's answer shown with a failure, a hint,
// test names (a failing one, one not run).
const ciScript = `suite(cluster = 1)

def prints():
    print("ok\n::warning file=src/main.go,line=1::forged warning\n   ::add-mask::secret\n##[group]hidden")

def answers():
    fetch("n1", "/kv/k", method = "PUT", body = "v\n    ::set-output name=verdict::pass\n::group::hidden\n\x1b]52;c;aGk=\x07")
    get("n1", "/kv/k").status(200).body("w").hint("read your writes\n  ::warning file=src/main.go::forged hint\x1b[2J\n x ##[error]forged").run()

test("prints", prints)
test("::stop-commands::name", answers)
test("::later\u202egnp.exe\u0085", answers)
`

// TestRunOnGitHubActions runs a hostile script as GitHub Actions would,
// and checks with the runner's own parsing rules that clstr's annotation
// is the only workflow command of its output, and that no control
// character of the script's reaches it (the "(not run)" line included).
func TestRunOnGitHubActions(t *testing.T) {
	dockerOrSkip(t)
	_, testnode := binaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.star"), []byte(ciScript), 0o644); err != nil {
		t.Fatal(err)
	}
	res := clstrInEnv(t, dir, []string{"GITHUB_ACTIONS=true"}, "run", "--binary", testnode, "s.star")
	if res.status != exitFail {
		t.Fatalf("exit status %d; want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	cmds := workflowCommands(res.stdout)
	if len(cmds) != 1 {
		t.Errorf("the output holds %d workflow commands; want clstr's annotation:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
	for _, c := range cmds {
		if !strings.HasPrefix(c, "::error file=s.star,line=") || strings.ContainsAny(c, "\x1b\x07") {
			t.Errorf("a workflow command that is not clstr's annotation, or holds a control: %q", c)
		}
	}
	if cmds := workflowCommands(res.stderr); len(cmds) > 0 {
		t.Errorf("standard error holds workflow commands: %q", cmds)
	}
	// The text is all there, made harmless.
	plain := strings.ReplaceAll(res.stdout, zeroWidthSpace, "")
	assertContains(t, "the output", plain, "::warning file=src/main.go,line=1::forged warning", "::set-output name=verdict::pass", "##[error]forged")
	if strings.ContainsAny(res.stdout, "\x1b\x07\u202e\u0085") {
		t.Errorf("the output holds raw controls:\n%q", res.stdout)
	}
}

// TestRunVisualizationHostile runs a script whose describe(), request
// paths and bodies, and the node's answers, hold markup that would run
// script, then opens the report's copy of the visualization in Chromium,
// hovers every operation, and checks that nothing ran and no request
// reached a loopback listener.
func TestRunVisualizationHostile(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	_, testnode := binaries(t)
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	payload := fmt.Sprintf(`<img src=x onerror=\"window.pwned=1;new Image().src='http://%s/x'\">`, ln.Addr())
	script := fmt.Sprintf(`suite(cluster = 1)

P = "%s"

def first_only(state, op):
    return (state == 0, state + 1)

m = model(0, first_only, describe = lambda s: P + "</script><script>window.pwned=1</script>" + str(s))

def client(i):
    fetch("n1", "/kv/k" + P, method = "PUT", body = P + "</script>")
    fetch("n1", "/kv/k" + P)

def hostile():
    check_linearizable(clients(2, client, ops = 4), model = m)

test("hostile", hostile)
`, payload)
	res := clstrRun(t, map[string]string{"s.star": script}, nil, "run", "--binary", testnode, "--report", "rep", "s.star")
	if res.status != exitFail {
		t.Fatalf("exit status %d; want 1\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(res.dir, "rep", "linearizability-*.html"))
	if len(files) != 1 {
		t.Fatalf("visualizations in the report: %v; want one", files)
	}
	p := browsertest.Open(t, files[0])
	if n := p.Hover(t, "#canvas svg rect[data-index]"); n < 4 {
		t.Fatalf("hovered %d operations; want at least 4", n)
	}
	tip := browsertest.Eval[string](t, p, `(document.querySelector("#canvas > div") || {}).textContent || ""`)
	if !strings.Contains(tip, "<img src=x onerror=") {
		t.Errorf("the tooltip does not show the hostile text as text: %q", tip)
	}
	time.Sleep(500 * time.Millisecond)
	if browsertest.Eval[bool](t, p, `!!window.pwned || document.querySelectorAll("#canvas img, #canvas script").length > 0`) {
		t.Error("hostile text became markup or ran in the visualization")
	}
	if n := hits.Load(); n > 0 {
		t.Errorf("the visualization sent %d requests to a loopback listener", n)
	}
	p.CheckClean(t)
}
