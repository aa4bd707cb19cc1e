package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
