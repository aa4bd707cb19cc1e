package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

func TestNewStage(t *testing.T) {
	st, err := NewStage(sampleRun(t, 30))
	if err != nil {
		t.Fatal(err)
	}
	if st.Verdict != "fail" {
		t.Errorf("verdict %q; want fail", st.Verdict)
	}
	var statuses []string
	for _, tc := range st.Tests {
		statuses = append(statuses, tc.Status)
	}
	if want := []string{"passed", "failed", "not run"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses %v; want %v", statuses, want)
	}
	if s := st.Tests[1].Start; s == nil || *s != 1200 {
		t.Errorf("the failing test starts at %v; want 1200 ms, from its TEST event", s)
	}
	if st.Tests[2].Start != nil {
		t.Errorf("a test that did not run has a start: %v", *st.Tests[2].Start)
	}
	f := st.Tests[1].Failure
	if f == nil {
		t.Fatal("the failing test has no failure")
	}
	if want := (Position{File: "challenges/raft/election.star", Line: 42, Column: 9}); f.Position == nil || *f.Position != want {
		t.Errorf("position %v; want %v", f.Position, want)
	}
	if !strings.HasPrefix(f.Hint, "A node that knows no leader") || f.Verdict != "fail" {
		t.Errorf("hint %q, verdict %q", f.Hint, f.Verdict)
	}
	if !strings.Contains(f.Text, "expected status is 200, got 503") {
		t.Errorf("text %q does not say what failed", f.Text)
	}
	if st.History == nil || len(st.History.Ops) != 36 || len(st.History.Events) != 1 {
		t.Fatalf("history %+v; want 36 ops and 1 event", st.History)
	}
	if got := st.History.Ops[0]; got.Invoke != 1200 || got.Outcome != "unknown" || got.Error != "timeout" {
		t.Errorf("first op %+v", got)
	}
	if names := nodeNamesOf(st.Nodes); !reflect.DeepEqual(names, []string{"n1", "n2", "n3"}) {
		t.Errorf("nodes %v", names)
	}
	// Logs: the event log and three node logs, interleaved in time.
	if len(st.Logs) != len(sampleEvents)+5 {
		t.Errorf("%d log lines; want %d", len(st.Logs), len(sampleEvents)+5)
	}
	for i := 1; i < len(st.Logs); i++ {
		if st.Logs[i].Time < st.Logs[i-1].Time {
			t.Fatalf("logs out of order at %d: %+v after %+v", i, st.Logs[i], st.Logs[i-1])
		}
	}
	if l := st.Logs[len(st.Logs)-1]; l.Node != "n1" || l.Stream != "stderr" || l.Time != 2800 {
		t.Errorf("last log line %+v; want n1's stderr at 2800 ms", l)
	}
}

func nodeNamesOf(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

// events reads events as the event log shows them, "MS NODE [TEXT]", on
// a clock that starts at sampleStart.
func events(t *testing.T, lines ...string) []cluster.Event {
	t.Helper()
	var out []cluster.Event
	for _, l := range lines {
		var at int
		var node string
		if _, err := fmt.Sscanf(l, "%d %s", &at, &node); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		text := l[strings.Index(l, "[")+1 : len(l)-1]
		e := cluster.ParseEventText(text)
		if e.Kind == cluster.EventOther {
			t.Fatalf("event %q is of no kind", l)
		}
		e.Time = sampleStart.Add(time.Duration(at) * time.Millisecond)
		if node != cluster.ClusterWide {
			e.Node = node
		}
		out = append(out, e)
	}
	return out
}

func sampleClock(t time.Time) MS { return ms(t.Sub(sampleStart)) }

func TestLanes(t *testing.T) {
	nodes, faults := lanes([]string{"n1", "n2", "n3"}, sampleRun(t, 0).Events, sampleClock, 3000)
	spans := map[string][]Span{}
	for _, n := range nodes {
		spans[n.Name] = n.Spans
	}
	want := map[string][]Span{
		"n1": {{"up", 10, 2000}, {"paused", 2000, 2200}, {"up", 2200, 3000}},
		"n2": {{"up", 11, 3000}},
		"n3": {{"up", 12, 1700}, {"killed", 1700, 1900}, {"up", 1900, 2700}, {"stopped", 2700, 3000}},
	}
	if !reflect.DeepEqual(spans, want) {
		t.Errorf("spans\n%+v\nwant\n%+v", spans, want)
	}
	wantFaults := []Fault{
		{Kind: "partitioned", Node: "n1", Detail: "from n3", Side: "n1 n2", Start: 1300, End: 2400},
		{Kind: "partitioned", Node: "n2", Detail: "from n3", Side: "n1 n2", Start: 1300, End: 2400},
		{Kind: "partitioned", Node: "n3", Detail: "from n1, n2", Side: "n3", Start: 1300, End: 2400},
		{Kind: "cut", Node: "n2", Detail: "to n1", Start: 1350, End: 2400},
		{Kind: "impaired", Node: "n2", Detail: "delay 50ms (netem)", Start: 1500, End: 2600},
		{Kind: "impaired", Node: "n1", Detail: "towards n3: loss 20% (nftables)", Start: 1550, End: 2650},
		{Kind: "killed", Node: "n3", Start: 1700, End: 1900},
		{Kind: "paused", Node: "n1", Start: 2000, End: 2200},
		{Kind: "stopped", Node: "n3", Start: 2700, End: 3000, Open: true},
	}
	if !reflect.DeepEqual(faults, wantFaults) {
		t.Errorf("faults\n%+v\nwant\n%+v", faults, wantFaults)
	}
}

// TestLanesFaults checks the band of every fault the engine can inject,
// from the events a runtime writes for it to the end of the fault.
func TestLanesFaults(t *testing.T) {
	start := []string{"0 n1 [START]", "0 n2 [START]", "0 n3 [START]"}
	tests := []struct {
		name   string
		events []string
		want   []Fault
	}{
		{"partition healed", []string{"10 n1 [PARTITIONED FROM: n2, n3]", "10 n2 [PARTITIONED FROM: n1]", "10 n3 [PARTITIONED FROM: n1]", "40 ** [PARTITION HEALED]"},
			[]Fault{{Kind: "partitioned", Node: "n1", Detail: "from n2, n3", Side: "n1", Start: 10, End: 40},
				{Kind: "partitioned", Node: "n2", Detail: "from n1", Side: "n2 n3", Start: 10, End: 40},
				{Kind: "partitioned", Node: "n3", Detail: "from n1", Side: "n2 n3", Start: 10, End: 40}}},
		{"cuts add up until a heal", []string{"10 n1 [CUT TO: n2]", "20 n1 [CUT TO: n3]", "30 n3 [CUT TO: n1, n2]", "40 ** [PARTITION HEALED]"},
			[]Fault{{Kind: "cut", Node: "n1", Detail: "to n2", Start: 10, End: 40},
				{Kind: "cut", Node: "n1", Detail: "to n3", Start: 20, End: 40},
				{Kind: "cut", Node: "n3", Detail: "to n1, n2", Start: 30, End: 40}}},
		{"cut left in force", []string{"10 n2 [CUT TO: n1]"},
			[]Fault{{Kind: "cut", Node: "n2", Detail: "to n1", Start: 10, End: 100, Open: true}}},
		{"impairment repaired", []string{"10 n2 [IMPAIRED: delay 50ms ±5ms, loss 10%]", "30 n2 [REPAIRED]"},
			[]Fault{{Kind: "impaired", Node: "n2", Detail: "delay 50ms ±5ms, loss 10%", Start: 10, End: 30}}},
		{"one-way impairment", []string{"10 n1 [IMPAIRED TOWARDS n2, n3: duplicate 5% (nftables+nfqueue)]", "30 n1 [REPAIRED]"},
			[]Fault{{Kind: "impaired", Node: "n1", Detail: "towards n2, n3: duplicate 5% (nftables+nfqueue)", Start: 10, End: 30}}},
		{"impairment replaced", []string{"10 n1 [IMPAIRED: loss 10%]", "20 n1 [IMPAIRED TOWARDS n2: loss 50%]", "30 n1 [REPAIRED]"},
			[]Fault{{Kind: "impaired", Node: "n1", Detail: "loss 10%", Start: 10, End: 20},
				{Kind: "impaired", Node: "n1", Detail: "towards n2: loss 50%", Start: 20, End: 30}}},
		{"pause", []string{"10 n3 [PAUSE]", "20 n3 [RESUME]"},
			[]Fault{{Kind: "paused", Node: "n3", Start: 10, End: 20}}},
		{"stop, with a timeout", []string{"10 n2 [STOP: no exit 10s after SIGTERM, sending SIGKILL]", "15 n2 [STOP]", "50 n2 [START]"},
			[]Fault{{Kind: "stopped", Node: "n2", Start: 15, End: 50}}},
		{"kill and restart", []string{"10 n1 [RESTART: KILL]", "10 n1 [KILL]", "20 n1 [START]"},
			[]Fault{{Kind: "killed", Node: "n1", Start: 10, End: 20}}},
		{"power loss and start", []string{"10 n2 [POWER LOSS]", "30 n2 [START]"},
			[]Fault{{Kind: "unpowered", Node: "n2", Start: 10, End: 30}}},
		{"kill left in force", []string{"10 n1 [KILL]"},
			[]Fault{{Kind: "killed", Node: "n1", Start: 10, End: 100, Open: true}}},
		{"not faults", []string{"5 ** [CLUSTER READY]", "6 ** [TEST: t]", "7 ** [LOG: hello]", "8 n1 [DATA_DIR: 10 bytes]", "9 n1 [REPAIR: shaper saw 0 packets]"},
			[]Fault{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := lanes([]string{"n1", "n2", "n3"}, events(t, append(slices.Clone(start), tc.events...)...), sampleClock, 100)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("faults\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestLanesPartitionReplaced(t *testing.T) {
	evs := events(t,
		"1 n1 [START]", "1 n2 [START]", "1 n3 [START]",
		"10 n1 [PARTITIONED FROM: n2, n3]",
		"10 n2 [PARTITIONED FROM: n1]",
		"10 n3 [PARTITIONED FROM: n1]",
		"20 ** [LOG: next]",
		"30 n3 [PARTITIONED FROM: n1, n2]",
		"30 n1 [PARTITIONED FROM: n3]",
		"30 n2 [PARTITIONED FROM: n3]",
	)
	_, faults := lanes([]string{"n1", "n2", "n3"}, evs, sampleClock, 50)
	var got []string
	for _, f := range faults {
		got = append(got, f.Node+" "+f.Side+" "+ftoa(f.Start)+"-"+ftoa(f.End))
	}
	want := []string{"n1 n1 10-30", "n2 n2 n3 10-30", "n3 n2 n3 10-30", "n3 n3 30-50", "n1 n1 n2 30-50", "n2 n1 n2 30-50"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("faults %q; want %q", got, want)
	}
}

func ftoa(m MS) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func TestLeaders(t *testing.T) {
	st, err := NewStage(sampleRun(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	// n1 leads in term 1 at 400, 700 and 1300 ms (n2's follower answer at
	// 1000 ms says nothing of n1); n2 in term 2 from 1600 to 1900 ms.
	want := []Leader{{"n1", 1, 403, 1303}, {"n2", 2, 1603, 1903}}
	if !reflect.DeepEqual(st.Leaders, want) {
		t.Errorf("leaders %+v; want %+v", st.Leaders, want)
	}
}

func TestParsePosition(t *testing.T) {
	tests := []struct {
		in   string
		want *Position
	}{
		{"election.star:42:9", &Position{"election.star", 42, 9}},
		{"kv_test.go:42", &Position{"kv_test.go", 42, 0}},
		{"dir/with:colon/x.star:1:2", &Position{"dir/with:colon/x.star", 1, 2}},
		{"?", nil},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := ParsePosition(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePosition(%q) = %v; want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewFailureOfPlainError(t *testing.T) {
	f := NewFailure(errors.New("run interrupted: interrupt\nmore"))
	if f.Message != "run interrupted: interrupt" || f.Position != nil || f.Verdict != "error" {
		t.Errorf("%+v", f)
	}
}

// TestHTML checks that the page holds the report as data that no string
// in it can break out of, and nothing that would load from elsewhere.
func TestHTML(t *testing.T) {
	st, err := NewStage(sampleRun(t, 30))
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{Schema: Schema, Version: Version, Run: Run{Command: "clstr run </script><b>x"}, Stages: []Stage{st}}
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(page, []byte("</script>")); n != 2 {
		t.Errorf("the page has %d </script>; want 2 (data, code): a string of the report ended a script", n)
	}
	if bytes.Contains(page, []byte("{{")) && bytes.Contains(page, []byte("{{DATA}}")) {
		t.Error("a placeholder was left in the page")
	}
	if !bytes.Contains(page, []byte("script-src 'sha256-")) || bytes.Contains(page, []byte("script-src 'unsafe-inline'")) {
		t.Error("the page's policy allows inline scripts and handlers; it must name its one script by hash")
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).Find(page); m != nil {
		t.Errorf("the page loads something from elsewhere: %s", m)
	}
	start := bytes.Index(page, []byte(`id="report-data">`)) + len(`id="report-data">`)
	end := bytes.Index(page[start:], []byte("</script>"))
	var back Report
	if err := json.Unmarshal(page[start:start+end], &back); err != nil {
		t.Fatalf("the data in the page is not the report: %v", err)
	}
	if back.Run.Command != r.Run.Command || len(back.Stages[0].History.Ops) != 36 {
		t.Errorf("the data in the page differs from the report")
	}
}

func TestWriterSave(t *testing.T) {
	in := sampleRun(t, 10)
	viz := filepath.Join(in.LogDir, "linearizability-Writes_Survive_a_Partition.html")
	if err := os.WriteFile(viz, []byte("<html>porcupine</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	w := NewWriter(dir, "clstr run election.star --report report", "binary ./kv")
	if err := w.Add(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Save("fail", 1); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Schema != Schema || r.Version != Version || r.Run.Verdict != "fail" || r.Run.ExitStatus != 1 || r.Run.Target != "binary ./kv" {
		t.Errorf("run %+v", r.Run)
	}
	if got := r.Stages[0].Tests[1].Failure.Visualization; got != filepath.Base(viz) {
		t.Errorf("the failing test links %q; want %q", got, filepath.Base(viz))
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.Base(viz))); err != nil {
		t.Errorf("the visualization was not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, HTMLFile)); err != nil {
		t.Error(err)
	}
	// A file where the directory should be is one clear error.
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if err := NewWriter(file, "", "").Save("pass", 0); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("Save into a file: %v", err)
	}
}

func TestAnnotations(t *testing.T) {
	st, err := NewStage(sampleRun(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	st.Tests[1].Failure.Message = "100% wrong, a: b\r\nsecond line"
	st.Tests[1].Failure.Position.File = "/repo/challenges/raft/election.star"
	var b bytes.Buffer
	if err := Annotations(&b, st, "/repo"); err != nil {
		t.Fatal(err)
	}
	want := "::error file=challenges/raft/election.star,line=42,col=9,title=election.star%3A Writes Survive a Partition::" +
		"100%25 wrong, a: b\\x0d%0Asecond line%0AHint: A node that knows no leader answers 503; after the heal, the majority's leader serves the key.\n"
	if b.String() != want {
		t.Errorf("annotations\n%s\nwant\n%s", b.String(), want)
	}
	// Controls of the script's text are escaped, not only % and line
	// ends: no ESC reaches the log or the annotation.
	b.Reset()
	st.Tests[1].Failure.Hint = "\x1b]52;c;aGk=\x07\x1b[2J\u202e\u0085"
	Annotations(&b, st, "/repo")
	if strings.ContainsAny(b.String(), "\x1b\x07\u202e\u0085") || !strings.Contains(b.String(), `Hint: \x1b]52;c;aGk=\x07\x1b[2J\u202e\x85`) {
		t.Errorf("annotation with controls: %q", b.String())
	}
	// A failure without a position is still an annotation, of the run.
	b.Reset()
	st.Tests[1].Failure.Position = nil
	Annotations(&b, st, "/repo")
	if !strings.HasPrefix(b.String(), "::error title=") {
		t.Errorf("annotation without a position: %q", b.String())
	}
}

func TestLogStage(t *testing.T) {
	in := sampleRun(t, 0)
	st, err := LogStage(in.LogDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Logs[0].Time != 0 || len(st.Nodes) != 3 || len(st.Faults) == 0 {
		t.Errorf("first line at %v, %d nodes, %d faults", st.Logs[0].Time, len(st.Nodes), len(st.Faults))
	}
	if _, err := LogStage(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no logs") {
		t.Errorf("LogStage of an empty directory: %v", err)
	}
}
