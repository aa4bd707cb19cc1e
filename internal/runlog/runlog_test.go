package runlog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/artifact"
)

// A node's log reads back as it was written, merged with the event log
// in time order.
func TestWriteAndRead(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 25, 7, 5, 0, 0, time.UTC)
	n1, err := CreateNodeLog(dir, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	n1.Write(at.Add(2*time.Millisecond), Stdout, "serving on :8080")
	n1.Write(at.Add(4*time.Millisecond), Stderr, "lost the leader [term 2]")
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := OpenEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	events.Add(cluster.Event{Node: "n1", Kind: cluster.EventCut, Peers: []string{"n2"}})
	if err := events.Close(); err != nil {
		t.Fatal(err)
	}
	e := events.Events()[0]
	// The event happened now; the node's lines, in 2026: the event
	// comes last.
	lines, err := NewReader(dir, nil).Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{Time: at.Add(2 * time.Millisecond), Node: "n1", Stream: Stdout, Text: "serving on :8080"},
		{Time: at.Add(4 * time.Millisecond), Node: "n1", Stream: Stderr, Text: "lost the leader [term 2]"},
		{Time: e.Time.UTC().Round(0), Node: "n1", Stream: Events, Text: "CUT TO: n2",
			Event: cluster.Event{Time: e.Time.UTC().Round(0), Node: "n1", Kind: cluster.EventCut, Peers: []string{"n2"}}},
	}
	if len(lines) != len(want) {
		t.Fatalf("read %d lines; want %d: %+v", len(lines), len(want), lines)
	}
	for i := range want {
		if !lines[i].Time.Equal(want[i].Time) || lines[i].Node != want[i].Node || lines[i].Stream != want[i].Stream ||
			lines[i].Text != want[i].Text || lines[i].Event.Kind != want[i].Event.Kind || !slices.Equal(lines[i].Event.Peers, want[i].Event.Peers) {
			t.Errorf("line %d: %+v; want %+v", i, lines[i], want[i])
		}
	}
}

// A node log stops at the run's disk quota with one line that says so.
func TestNodeLogQuota(t *testing.T) {
	dir := t.TempDir()
	l, err := CreateNodeLog(dir, "n2", &artifact.Quota{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 7, 5, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		l.Write(at, Stdout, "twenty bytes of text")
	}
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, "n2.log"))
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(got) < 2 || !strings.Contains(got[len(got)-1], "stderr [clstr: the run's files reached the disk limit (100 bytes)") {
		t.Errorf("log at the quota:\n%s", data)
	}
	if len(got) > 3 {
		t.Errorf("%d lines in 100 bytes:\n%s", len(got), data)
	}
}

func TestFilesOrder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"n10.log", "n2.log", "events.log", "n1.log", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Path)+"="+f.Node)
	}
	if want := []string{"events.log=", "n1.log=n1", "n2.log=n2", "n10.log=n10"}; !slices.Equal(got, want) {
		t.Errorf("files %q; want %q", got, want)
	}
	if nodes, _ := Nodes(dir); !slices.Equal(nodes, []string{"n1", "n2", "n10"}) {
		t.Errorf("nodes %q", nodes)
	}
	if Has(dir) {
		t.Error("empty files are no logs")
	}
}

// A run that starts no node leaves the last run's logs in place; one that
// does replaces them.
func TestStartKeepsTheLastRunsLogs(t *testing.T) {
	root := t.TempDir()
	events := func() string {
		data, _ := os.ReadFile(filepath.Join(root, Dir, eventsFile))
		return string(data)
	}
	run := func(started bool) {
		t.Helper()
		r, err := Start(root)
		if err != nil {
			t.Fatal(err)
		}
		r.Events.Add(cluster.Event{Kind: cluster.EventLogged, Detail: "run"})
		if started {
			r.Events.Add(cluster.Event{Node: "n1", Kind: cluster.EventStart})
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, PreviousDir)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", PreviousDir, err)
		}
	}
	run(false)
	if _, err := os.Stat(filepath.Join(root, Dir)); !os.IsNotExist(err) {
		t.Errorf("a run that started nothing left %s: %v", Dir, err)
	}
	run(true)
	first := events()
	if !strings.Contains(first, "n1 [START]") {
		t.Fatalf("events of a run that started a node: %q", first)
	}
	run(false)
	if got := events(); got != first {
		t.Errorf("a run that started nothing replaced the logs: %q; want %q", got, first)
	}
	run(true)
	if got := events(); got == first {
		t.Error("a run that started a node kept the logs of the run before")
	}
}
