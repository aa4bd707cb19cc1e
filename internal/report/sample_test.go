package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/attest/history"
)

// sampleStart is when the sample run's clock starts.
var sampleStart = time.Date(2026, 11, 25, 7, 5, 0, 0, time.UTC)

// sampleEvents is the event log of the sample run, as the log shows it:
// three nodes, a partition, a cut, a kill, a pause, an impairment of all
// of a node's traffic and one of its traffic to one node.
var sampleEvents = []struct {
	at   time.Duration
	node string
	text string
}{
	{10 * time.Millisecond, "n1", "START"},
	{11 * time.Millisecond, "n2", "START"},
	{12 * time.Millisecond, "n3", "START"},
	{300 * time.Millisecond, "", "CLUSTER READY"},
	{310 * time.Millisecond, "", "TEST: Leader Is Elected"},
	{1200 * time.Millisecond, "", "TEST: Writes Survive a Partition"},
	{1300 * time.Millisecond, "n1", "PARTITIONED FROM: n3"},
	{1300 * time.Millisecond, "n2", "PARTITIONED FROM: n3"},
	{1300 * time.Millisecond, "n3", "PARTITIONED FROM: n1, n2"},
	{1350 * time.Millisecond, "n2", "CUT TO: n1"},
	{1500 * time.Millisecond, "n2", "IMPAIRED: delay 50ms (netem)"},
	{1550 * time.Millisecond, "n1", "IMPAIRED TOWARDS n3: loss 20% (nftables)"},
	{1700 * time.Millisecond, "n3", "KILL"},
	{1900 * time.Millisecond, "n3", "START"},
	{2000 * time.Millisecond, "n1", "PAUSE"},
	{2200 * time.Millisecond, "n1", "RESUME"},
	{2400 * time.Millisecond, "", "PARTITION HEALED"},
	{2600 * time.Millisecond, "n2", "REPAIRED"},
	{2650 * time.Millisecond, "n1", "REPAIRED"},
	{2700 * time.Millisecond, "n3", "STOP"},
}

// sampleFailure is the failure of the sample's failing test.
func sampleFailure() *engine.Failure {
	return &engine.Failure{
		Test: "Writes Survive a Partition", Pos: "challenges/raft/election.star:42:9",
		What: "GET /kv/x on n1", Problem: "expected status is 200, got 503",
		Hint: "A node that knows no leader answers 503; after the heal, the majority's leader serves the key.",
	}
}

// sampleRun makes the result, event log and log directory of a run with
// ops operations from 3 clients, and the checks' GET /cluster/info.
func sampleRun(t testing.TB, ops int) StageRun {
	t.Helper()
	var events []cluster.Event
	for _, e := range sampleEvents {
		ev := cluster.ParseEventText(e.text)
		if ev.Kind == cluster.EventOther {
			t.Fatalf("sample event %q is of no kind", e.text)
		}
		ev.Time, ev.Node = sampleStart.Add(e.at), e.node
		events = append(events, ev)
	}
	var h history.History
	for i := 0; i < ops; i++ {
		invoke := 1200*time.Millisecond + time.Duration(i)*1500*time.Millisecond/time.Duration(max(ops, 1))
		o := history.Op{Client: i % 3, Test: "Writes Survive a Partition", Node: fmt.Sprintf("n%d", i%3+1),
			Method: "PUT", Path: fmt.Sprintf("/kv/k%d", i%7), Body: fmt.Sprint(i),
			Invoke: invoke, Complete: invoke + time.Duration(2+i%20)*time.Millisecond}
		switch {
		case i%11 == 0:
			o.Error = "timeout"
		case i%5 == 0:
			o.Status = 307
		default:
			o.Status = 200
		}
		o.Outcome = history.OutcomeOf(o.Status)
		h.Ops = append(h.Ops, o)
	}
	for i, who := range []struct {
		node, role string
		term       int
	}{{"n1", "leader", 1}, {"n1", "leader", 1}, {"n2", "follower", 1}, {"n1", "leader", 1}, {"n2", "leader", 2}, {"n2", "leader", 2}} {
		at := 400*time.Millisecond + time.Duration(i)*300*time.Millisecond
		h.Ops = append(h.Ops, history.Op{Client: history.NoClient, Test: "Leader Is Elected", Node: who.node,
			Method: "GET", Path: "/cluster/info", Status: 200, Outcome: history.OK, Invoke: at, Complete: at + 3*time.Millisecond,
			Response: fmt.Sprintf(`{"id":"10.0.42.10%s:8080","role":%q,"term":%d,"leader":null,"peers":[]}`, who.node[1:], who.role, who.term)})
	}
	h.Events = append(h.Events, history.Event{Time: 1300 * time.Millisecond, Text: "PARTITIONED: n1 n2 | n3", Test: "Writes Survive a Partition"})

	res := &engine.Result{
		Tests: []engine.TestResult{
			{Name: "Leader Is Elected", Status: engine.TestPassed, Duration: 890 * time.Millisecond},
			{Name: "Writes Survive a Partition", Status: engine.TestFailed, Duration: 1600 * time.Millisecond, Err: sampleFailure()},
			{Name: "Later", Status: engine.TestNotRun},
		},
		Duration: 3 * time.Second,
		History:  h,
	}
	dir := t.TempDir()
	var evlog strings.Builder
	for _, e := range events {
		evlog.WriteString(e.String() + "\n")
	}
	line := func(at time.Duration, stream, text string) string {
		return sampleStart.Add(at).Format(time.RFC3339Nano) + " " + stream + " " + text + "\n"
	}
	files := map[string]string{
		"events.log": evlog.String(),
		"n1.log":     line(20*time.Millisecond, "stdout", "n1 serving on :8080") + line(2800*time.Millisecond, "stderr", "n1: no quorum <script>alert(1)</script>"),
		"n2.log":     line(25*time.Millisecond, "stdout", "n2 serving on :8080") + line(2500*time.Millisecond, "stdout", "n2 became leader in term 2"),
		"n3.log":     line(30*time.Millisecond, "stdout", "n3 serving on :8080"),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return StageRun{Name: "election.star", Start: sampleStart, Result: res, Events: events, LogDir: dir}
}

func readText(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeText(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
