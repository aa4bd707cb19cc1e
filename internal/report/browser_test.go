package report

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clstr-dev/clstr/internal/testkit/browsertest"
)

// writeSample writes the report of the sample run with ops operations and
// returns the path of its page.
func writeSample(t testing.TB, ops int) string {
	t.Helper()
	dir := t.TempDir()
	w := NewWriter(dir, "clstr run election.star --report "+dir, "binary ./raft")
	if err := w.Add(sampleRun(t, ops)); err != nil {
		t.Fatal(err)
	}
	if err := w.Save("fail", 1); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, HTMLFile)
}

// TestPageInBrowser renders the sample report, with every kind of lane,
// fault, leader and operation, in Chromium, and checks what it drew.
func TestPageInBrowser(t *testing.T) {
	p := browsertest.Open(t, writeSample(t, 300))
	if !browsertest.Eval[bool](t, p, `window.clstrReport && window.clstrReport.ready`) {
		t.Fatal("the page did not finish rendering")
	}
	counts := browsertest.Eval[map[string]int](t, p, `(() => {
		const n = s => document.querySelectorAll(s).length;
		return {
			lanes: n("g.lane"), upSpans: n("g.lane rect.state-up"), paused: n("rect.state-paused"),
			killed: n("rect.state-killed"), stopped: n("rect.state-stopped"),
			partitionMarks: n("rect.mark-partitioned"), impairedMarks: n("rect.mark-impaired"), cutMarks: n("rect.mark-cut"),
			cutBands: n("g.fault-cut[data-node=n2]"), oneWayBands: [...document.querySelectorAll("g.fault-impaired[data-node=n1]")]
				.filter(g => g.textContent.includes("towards n3: loss 20%")).length,
			faults: n("g.fault"), testSpans: n("g.test-span"), failedSpans: n("g.test-span.test-failed"),
			leaders: n("rect.leader"), failures: n("#failures article.failure"),
			hints: n("#failures .hint"), logLines: n("#logs .log-line"), nodeFilters: n("#logs input[data-node]"),
			aroundLines: n("#failures .log-line"), canvasWidth: document.getElementById("ops-canvas").width,
		};
	})()`)
	want := map[string]int{
		"lanes": 3, "upSpans": 5, "paused": 1, "killed": 1, "stopped": 1, "partitionMarks": 3, "impairedMarks": 2, "cutMarks": 1,
		"cutBands": 1, "oneWayBands": 1, "faults": 9, "testSpans": 2, "failedSpans": 1, "leaders": 2, "failures": 1, "hints": 1,
		"logLines": len(sampleEvents) + 5, "nodeFilters": 3,
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: %d; want %d", k, counts[k], v)
		}
	}
	if counts["aroundLines"] == 0 || counts["canvasWidth"] == 0 {
		t.Errorf("no node logs around the failure (%d) or no operations drawn (canvas %d px)", counts["aroundLines"], counts["canvasWidth"])
	}
	stats := browsertest.Eval[string](t, p, `document.getElementById("op-stats").textContent`)
	if !strings.HasPrefix(stats, "306 operations: ") {
		t.Errorf("operation stats %q", stats)
	}
	// The operations are drawn in their outcome's colour: some pixels of
	// the canvas are the colour of "ok".
	green := browsertest.Eval[int](t, p, `(() => {
		const c = document.getElementById("ops-canvas"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i] === 0x16 && d[i+1] === 0xa3 && d[i+2] === 0x4a) n++;
		return n;
	})()`)
	if green == 0 {
		t.Error("no operation is drawn in the colour of ok")
	}
	// The node log of a failure is escaped text, not markup.
	if got := browsertest.Eval[int](t, p, `document.querySelectorAll("#logs script, #failures script").length`); got != 0 {
		t.Errorf("a log line became %d script elements", got)
	}

	// Filters: unticking n1 hides its lines and only those.
	got := browsertest.Eval[[]int](t, p, `(() => {
		const box = document.querySelector('#logs input[data-node="n1"]');
		const all = document.querySelectorAll("#logs .log-line").length;
		box.click();
		const rest = document.querySelectorAll("#logs .log-line").length;
		const n1 = document.querySelectorAll('#logs .log-line[data-node="n1"]').length;
		box.click();
		return [all, rest, n1];
	})()`)
	if got[1] >= got[0] || got[2] != 0 {
		t.Errorf("after unticking n1: %d of %d lines, %d of n1", got[1], got[0], got[2])
	}
	// Zooming redraws the timeline to the test.
	zoomed := browsertest.Eval[int](t, p, `(() => {
		document.querySelector('tr.test-failed').click();
		return document.querySelectorAll("g.lane").length;
	})()`)
	if zoomed != 3 {
		t.Errorf("after zooming to the failing test, %d lanes", zoomed)
	}
	p.Screenshot(t, "report-sample.png")
	p.CheckClean(t)

	// A report of two stages (clstr test --so-far) shows the one that
	// failed, and the other on demand.
	dir := t.TempDir()
	w := NewWriter(dir, "clstr test --so-far", "binary ./raft")
	passing := sampleRun(t, 0)
	passing.Name = "raft/leader-election"
	passing.Result.Tests = passing.Result.Tests[:1]
	w.Add(passing)
	failing := sampleRun(t, 10)
	failing.Name = "raft/log-replication"
	w.Add(failing)
	if err := w.Save("fail", 1); err != nil {
		t.Fatal(err)
	}
	p.Goto(t, filepath.Join(dir, HTMLFile))
	stages := browsertest.Eval[[]string](t, p, `(() => {
		const sel = document.getElementById("stage-select");
		const shown = document.querySelector("#stage h2").firstChild.textContent;
		sel.value = "0";
		sel.dispatchEvent(new Event("change"));
		return [String(sel.options.length), shown, document.querySelector("#stage h2").firstChild.textContent];
	})()`)
	if want := []string{"2", "raft/log-replication", "raft/leader-election"}; !slices.Equal(stages, want) {
		t.Errorf("stages: %q; want %q", stages, want)
	}
	p.CheckClean(t)
}

// TestPageScriptErrorsSeen checks that the browser test would see a
// script error: a page whose data is broken must report one.
func TestPageScriptErrorsSeen(t *testing.T) {
	path := writeSample(t, 0)
	page := strings.Replace(readText(t, path), `"stages":[`, `"stages":[{"nodes":null},`, 1)
	writeText(t, path, page)
	p := browsertest.Open(t, path)
	browsertest.Eval[bool](t, p, `true`)
	if len(p.Problems()) == 0 {
		t.Error("a page that throws reported no problem")
	}
}

// BenchmarkPage20000Ops opens a report of 20 000 operations in Chromium
// and reports the time from the start of the navigation until the page
// has drawn everything (page-ms), the part of it the page's script took
// (script-ms), and page-ms as a ratio to the page of the same run with no
// operations (x-base), opened in the same benchmark run.
func BenchmarkPage20000Ops(b *testing.B) {
	base := writeSample(b, 0)
	big := writeSample(b, 20000)
	var baseMS, bigMS, scriptMS float64
	for i := 0; i < b.N; i++ {
		ms, _ := pageMS(b, base)
		baseMS += ms
		ms, script := pageMS(b, big)
		bigMS += ms
		scriptMS += script
	}
	b.ReportMetric(bigMS/float64(b.N), "page-ms")
	b.ReportMetric(scriptMS/float64(b.N), "script-ms")
	b.ReportMetric(baseMS/float64(b.N), "base-page-ms")
	b.ReportMetric(bigMS/baseMS, "x-base")
}

// pageMS opens the page and returns the times it took: from the start of
// the navigation, and in its script. It measures a second load, from a
// blank page, so that the browser's own start is not counted.
func pageMS(b *testing.B, path string) (page, script float64) {
	p := browsertest.Open(b, path)
	ctx, cancel := context.WithTimeout(p.Ctx, time.Minute)
	defer cancel()
	abs, _ := filepath.Abs(path)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate("file://"+abs)); err != nil {
		b.Fatal(err)
	}
	ms := browsertest.Eval[[]float64](b, p, `[window.clstrReport.pageMs, window.clstrReport.renderMs]`)
	p.CheckClean(b)
	return ms[0], ms[1]
}
