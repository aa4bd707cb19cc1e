package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/history"
	"github.com/clstr-dev/clstr/internal/artifact"
)

// TestSaveRefusesLinks plants links in a report directory, as a cloned
// repository could, at the name of a visualization and of index.html, and
// checks that writing the report replaces them and leaves what they point
// at as it was; and that a report directory that is a link is refused.
func TestSaveRefusesLinks(t *testing.T) {
	in := sampleRun(t, 10)
	name := "linearizability-election-star-42.html"
	writeText(t, filepath.Join(in.LogDir, name), "<html>view</html>")
	outside := t.TempDir()
	dir := filepath.Join(t.TempDir(), "report")
	os.Mkdir(dir, 0o755)
	for _, f := range []string{name, HTMLFile, JSONFile} {
		victim := filepath.Join(outside, f)
		writeText(t, victim, "precious")
		if err := os.Symlink(victim, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWriter(dir, "clstr run x.star", "binary ./kv")
	if err := w.Add(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Save("fail", 1); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{name, HTMLFile, JSONFile} {
		if got := readText(t, filepath.Join(outside, f)); got != "precious" {
			t.Errorf("writing the report wrote through the link at %s: %q", f, got)
		}
		if st, err := os.Lstat(filepath.Join(dir, f)); err != nil || st.Mode()&os.ModeSymlink != 0 {
			t.Errorf("%s is still a link (%v)", f, err)
		}
	}
	if got := readText(t, filepath.Join(dir, name)); got != "<html>view</html>" {
		t.Errorf("the visualization's copy holds %q", got)
	}

	linked := filepath.Join(t.TempDir(), "report")
	if err := os.Symlink(outside, linked); err != nil {
		t.Fatal(err)
	}
	w = NewWriter(linked, "clstr run x.star", "binary ./kv")
	addErr := w.Add(in)
	saveErr := w.Save("fail", 1)
	if addErr == nil || saveErr == nil || !strings.Contains(saveErr.Error(), "symbolic link") {
		t.Errorf("a report directory that is a link: add %v, save %v; want both refused", addErr, saveErr)
	}
}

// TestSaveQuota checks that the report's files count against the run's
// disk quota, with one clear error past it.
func TestSaveQuota(t *testing.T) {
	dir := t.TempDir()
	q := &artifact.Quota{Limit: 64 << 10, Flag: "max-disk"}
	w := NewWriter(dir, "clstr run x.star", "binary ./kv")
	w.Quota = q
	if err := w.Add(bigRun(t, 200, 1024)); err != nil {
		t.Fatal(err)
	}
	err := w.Save("pass", 0)
	if err == nil || !strings.Contains(err.Error(), "limit: disk space (64 KiB) exceeded") {
		t.Errorf("a report past the quota: %v", err)
	}
	if q.Used() > q.Limit {
		t.Errorf("the quota counts %d bytes; its limit is %d", q.Used(), q.Limit)
	}
}

// bigRun is a passing run whose history holds ops operations with bodies
// of size bytes, as a long test of a store makes.
func bigRun(t testing.TB, ops, size int) StageRun {
	in := sampleRun(t, 0)
	in.LogDir = ""
	body := strings.Repeat("v", size)
	h := history.History{Ops: make([]history.Op, ops)}
	for i := range h.Ops {
		at := time.Duration(i) * time.Millisecond
		h.Ops[i] = history.Op{Client: i % 16, Test: "load", Node: fmt.Sprintf("n%d", i%3+1), Method: "PUT",
			Path: fmt.Sprintf("/kv/k%d", i%100), Body: body, Status: 200, Invoke: at, Complete: at + time.Millisecond, Outcome: history.OK}
	}
	in.Result.History = h
	return in
}

// TestSaveStreams checks that writing the report of a long history
// holds far less than the report in memory: the report is written a
// piece at a time, so that a run that passed within the memory limit can
// write its report (76 800 operations of 1 KiB make a report of
// hundreds of megabytes). Scaled down to 7 680 operations. What counts is
// the heap's peak while it writes, sampled with the collector made eager,
// not what it allocates in all: that depends on how often sync.Pool keeps
// a buffer, which the race detector makes rarer on purpose.
func TestSaveStreams(t *testing.T) {
	w := NewWriter(t.TempDir(), "clstr run x.star", "binary ./kv")
	if err := w.Add(bigRun(t, 7680, 1024)); err != nil {
		t.Fatal(err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop, sampled := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				sampled <- peak
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	err := w.Save("pass", 0)
	close(stop)
	peak := <-sampled
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(w.Dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak) - int64(base.HeapAlloc)
	t.Logf("report.json: %d bytes; the heap grew by at most %d bytes while Save wrote it", st.Size(), grew)
	if grew > st.Size()/2 {
		t.Errorf("the heap grew by %d bytes while Save wrote a report of %d: it holds the report in memory", grew, st.Size())
	}
	var r Report
	if err := json.Unmarshal([]byte(readText(t, filepath.Join(w.Dir, JSONFile))), &r); err != nil {
		t.Fatalf("report.json is not JSON: %v", err)
	}
	if n := len(r.Stages[0].History.Ops); n != 7680 {
		t.Errorf("report.json holds %d operations; want 7680", n)
	}
}

// BenchmarkSave measures writing the report of 76 800 operations with
// 1 KiB bodies, as the passing run had.
func BenchmarkSave(b *testing.B) {
	w := NewWriter(b.TempDir(), "clstr run x.star", "binary ./kv")
	if err := w.Add(bigRun(b, 76800, 1024)); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := w.Save("pass", 0); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	st, _ := os.Stat(filepath.Join(w.Dir, JSONFile))
	b.ReportMetric(float64(st.Size())/(1<<20), "json-MiB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MiB/op")
}
