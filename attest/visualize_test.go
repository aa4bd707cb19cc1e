package attest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/internal/artifact"
)

// stale is a history that is not linearizable: a read, after a write of
// 1 completed, sees 2, which nobody wrote.
func stale(describe string) (history.History, history.Model) {
	ms := time.Millisecond
	h := history.History{Ops: []history.Op{
		{Client: 0, Method: "PUT", Path: "/kv/x", Body: "1", Status: 200, Outcome: history.OK, Invoke: 0, Complete: ms},
		{Client: 1, Method: "GET", Path: "/kv/x", Status: 200, Response: "2", Outcome: history.OK, Invoke: 2 * ms, Complete: 3 * ms},
	}}
	m := history.KV()
	m.DescribeState = func(any) string { return describe }
	return h, m
}

// TestOneVisualizationPerSite checks that failures at one check site,
// retried, leave one visualization, replaced by the last; another site
// has its own.
func TestOneVisualizationPerSite(t *testing.T) {
	dir := t.TempDir()
	res, _ := run(t, suite(1).Test("retried", func(do *attest.Do) {
		for i := range 5 {
			h, m := stale(strings.Repeat("s", i+1))
			if err := do.Ops("hostile.star:12:5").CheckLinearizable(h, m, 0); err == nil {
				t.Error("a stale read passed")
			}
		}
		h, m := stale("other")
		if err := do.Ops("hostile.star:20:5").CheckLinearizable(h, m, 0); err == nil {
			t.Error("a stale read passed")
		}
	}), replicated(0), func(o *engine.RunOptions) { o.ArtifactDir = dir })
	passes(t, res)
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"linearizability-hostile-star-12.html", "linearizability-hostile-star-20.html"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v; want %v", names, want)
	}
	page, _ := os.ReadFile(filepath.Join(dir, want[0]))
	if !strings.Contains(string(page), `"sssss"`) || strings.Contains(string(page), `"ssss"`) {
		t.Errorf("the visualization of site 12 is not the last failure's")
	}
}

// TestVisualizationQuota checks that a visualization past the run's disk
// quota is not written and fails the test as clstr's failure, with the
// limit in the message.
func TestVisualizationQuota(t *testing.T) {
	dir := t.TempDir()
	q := &artifact.Quota{Limit: 1 << 20, Flag: "max-disk"}
	res, _ := run(t, suite(1).Test("big", func(do *attest.Do) {
		h, m := stale(strings.Repeat("x", 2<<20))
		do.Fail(do.Ops("hostile.star:12:5").CheckLinearizable(h, m, 0))
	}), replicated(0), func(o *engine.RunOptions) { o.ArtifactDir, o.Disk = dir, q })
	if v := res.Verdict(); v != engine.VerdictError {
		t.Fatalf("verdict %v; want %v", v, engine.VerdictError)
	}
	var qe *artifact.Error
	if err := res.FirstError(); !errors.As(err, &qe) || !strings.Contains(err.Error(), "--max-disk") {
		t.Errorf("error %v; want the disk limit", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("files left past the quota: %v", files)
	}
}
