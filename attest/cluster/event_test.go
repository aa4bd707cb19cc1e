package cluster

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// eventLines is one event of every kind and the line it is written as.
var eventLines = []struct {
	event Event
	line  string
}{
	{Event{Kind: EventOther, Detail: "SOMETHING NEW: from a later clstr"}, "n1 [SOMETHING NEW: from a later clstr]"},
	{Event{Kind: EventStart}, "n1 [START]"},
	{Event{Kind: EventStop}, "n1 [STOP]"},
	{Event{Kind: EventStopTimeout, Wait: 10 * time.Second}, "n1 [STOP: no exit 10s after SIGTERM, sending SIGKILL]"},
	{Event{Kind: EventKill}, "n1 [KILL]"},
	{Event{Kind: EventRestart, Signal: "KILL"}, "n1 [RESTART: KILL]"},
	{Event{Kind: EventPause}, "n1 [PAUSE]"},
	{Event{Kind: EventResume}, "n1 [RESUME]"},
	{Event{Kind: EventPartition, Peers: []string{"n3", "n4"}}, "n1 [PARTITIONED FROM: n3, n4]"},
	{Event{Kind: EventHeal}, "n1 [PARTITION HEALED]"},
	{Event{Kind: EventCut, Peers: []string{"n2"}}, "n1 [CUT TO: n2]"},
	{Event{Kind: EventImpair, Impairments: Impairments{{Kind: KindDelay, Delay: 50 * time.Millisecond, Jitter: 5 * time.Millisecond}, {Kind: KindLoss, Percent: 12.5}}},
		"n1 [IMPAIRED: delay 50ms ±5ms, loss 12.5%]"},
	{Event{Kind: EventImpair, Impairments: Impairments{{Kind: KindDuplicate, Percent: 3}, {Kind: KindDelay, Delay: time.Second}, {Kind: KindReorder, Percent: 25}}, Via: "netem"},
		"n1 [IMPAIRED: duplicate 3%, delay 1s, reorder 25% (netem)]"},
	{Event{Kind: EventImpair, Peers: []string{"n2", "n3"}, Impairments: Impairments{{Kind: KindLoss, Percent: 100}}, Via: "nftables+nfqueue"},
		"n1 [IMPAIRED TOWARDS n2, n3: loss 100% (nftables+nfqueue)]"},
	{Event{Kind: EventRepair}, "n1 [REPAIRED]"},
	{Event{Kind: EventShaper, Detail: "shaper saw 12 packets: 3 dropped"}, "n1 [REPAIR: shaper saw 12 packets: 3 dropped]"},
	{Event{Kind: EventReady}, "n1 [CLUSTER READY]"},
	{Event{Kind: EventTest, Detail: "Leader: elected [fast]"}, "n1 [TEST: Leader: elected [fast]]"},
	{Event{Kind: EventLogged, Detail: ""}, "n1 [LOG: ]"},
	{Event{Kind: EventDataDir, Bytes: 4096}, "n1 [DATA_DIR: 4096 bytes]"},
	{Event{Kind: EventConcurrently, Detail: "10 calls, 0 req"}, "n1 [CONCURRENTLY: 10 calls, 0 req]"},
	{Event{Kind: EventLinearizable, Detail: "12 ops, model register"}, "n1 [LINEARIZABLE: 12 ops, model register]"},
	{Event{Kind: EventUndecided, Detail: "12 ops, model register"}, "n1 [LINEARIZABILITY UNDECIDED: 12 ops, model register]"},
	{Event{Kind: EventPowerLoss}, "n1 [POWER LOSS]"},
	{Event{Kind: EventPowerLoss, Detail: "restored from the journal"}, "n1 [POWER LOSS: restored from the journal]"},
	{Event{Kind: EventSetOK, Detail: "5 nodes saw 40 of 40 messages"}, "n1 [SET OK: 5 nodes saw 40 of 40 messages]"},
	{Event{Kind: EventCounterOK, Detail: "3 nodes read 17"}, "n1 [COUNTER OK: 3 nodes read 17]"},
	{Event{Kind: EventNotLinearizable, Detail: "12 ops, model register"}, "n1 [NOT LINEARIZABLE: 12 ops, model register]"},
	{Event{Kind: EventNetwork, Detail: "10.0.0.0/24 taken, using 10.0.1.0/24"}, "n1 [NETWORK: 10.0.0.0/24 taken, using 10.0.1.0/24]"},
	{Event{Kind: EventReuse}, "n1 [REUSING the network and sandboxes of the previous run]"},
	{Event{Kind: EventCleanupFailed, Detail: "daemon said no"}, "n1 [CLEANUP OF OLD RUNS FAILED: daemon said no]"},
	{Event{Kind: EventPrepareFailed, Detail: "daemon said no"}, "n1 [COULD NOT PREPARE THE CONTAINER AHEAD: daemon said no]"},
	{Event{Kind: EventLogsLost, Detail: "EOF"}, "n1 [LOGS LOST: EOF]"},
	{Event{Kind: EventTraffic, Traffic: Count{Packets: 120, Bytes: 14000}, Wait: 2500 * time.Millisecond}, "n1 [TRAFFIC: 120 packets, 14000 bytes in 2.5s]"},
}

func TestEventRoundTrip(t *testing.T) {
	seen := map[EventKind]bool{}
	at := time.Date(2026, 11, 25, 7, 5, 1, 123456789, time.UTC)
	for _, tc := range eventLines {
		t.Run(tc.event.Kind.String(), func(t *testing.T) {
			seen[tc.event.Kind] = true
			e := tc.event
			e.Time, e.Node = at, "n1"
			line := e.String()
			if want := "2026-11-25T07:05:01.123456789Z " + tc.line; line != want {
				t.Errorf("String() = %q; want %q", line, want)
			}
			got, err := ParseEvent(line)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("ParseEvent(%q) = %+v; want %+v", line, got, e)
			}
		})
	}
	for k := EventOther; k < eventKinds; k++ {
		if !seen[k] {
			t.Errorf("no line of kind %v in the table", k)
		}
	}
}

func TestParseEventClusterWide(t *testing.T) {
	e, err := ParseEvent("2026-11-25T07:05:01Z ** [PARTITION HEALED]")
	if err != nil {
		t.Fatal(err)
	}
	if e.Node != "" || e.Kind != EventHeal {
		t.Errorf("got %+v; want a cluster-wide heal", e)
	}
}

// Lines that look like a kind but do not read back as written stay whole,
// as text, so that no event of an older or newer clstr is lost.
func TestParseEventTolerant(t *testing.T) {
	for _, text := range []string{
		"PAUSED", "START: again", "IMPAIRED: delay soon", "IMPAIRED: loss 10.0%",
		"DATA_DIR: many bytes", "STOP: no exit ever", "PARTITIONED: n1 n2 | n3", "", "IMPAIRED TOWARDS n2",
		"TRAFFIC: lots", "TRAFFIC: 1 packets, 2 bytes", "TRAFFIC: 1 packets, 2 bytes in a while", "TRAFFIC: +1 packets, 2 bytes in 1s",
	} {
		e := ParseEventText(text)
		if e.Kind != EventOther || e.Detail != text || e.Text() != text {
			t.Errorf("ParseEventText(%q) = %+v; want it kept as text", text, e)
		}
	}
	for _, line := range []string{"", "2026-11-25T07:05:01Z", "yesterday n1 [KILL]", "2026-11-25T07:05:01Z n1 KILL", "2026-11-25T07:05:01Z n1 ["} {
		if _, err := ParseEvent(line); err == nil {
			t.Errorf("ParseEvent(%q) read a line that is not an event", line)
		}
	}
}

func TestEventKindJSON(t *testing.T) {
	b, err := json.Marshal(struct{ Kind EventKind }{EventStopTimeout})
	if err != nil || string(b) != `{"Kind":"stop_timeout"}` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var back struct{ Kind EventKind }
	if err := json.Unmarshal(b, &back); err != nil || back.Kind != EventStopTimeout {
		t.Errorf("unmarshal: %v, %v", back.Kind, err)
	}
}

// Add escapes what would break a line: the log stays one event a line.
func TestEventLogEscapes(t *testing.T) {
	var buf bytes.Buffer
	l := NewEventLog(&buf)
	l.now = func() time.Time { return time.Date(2026, 11, 25, 7, 5, 1, 0, time.UTC) }
	l.Add(Event{Kind: EventLogged, Detail: "two\nlines \x1b[31mred"})
	l.Add(Event{Node: "n1", Kind: EventCut, Peers: []string{"n2\n"}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines for 2 events:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		e, err := ParseEvent(line)
		if err != nil {
			t.Fatal(err)
		}
		if want := l.Events()[i]; !reflect.DeepEqual(e, want) {
			t.Errorf("line %q reads as %+v; the log holds %+v", line, e, want)
		}
	}
}

// FuzzParseEvent checks that whatever a line holds, what ParseEvent reads
// from it is written back as the same line.
func FuzzParseEvent(f *testing.F) {
	for _, tc := range eventLines {
		f.Add("2026-11-25T07:05:01.5Z " + tc.line)
	}
	f.Add("2026-11-25T07:05:01Z ** [IMPAIRED TOWARDS : delay 1ns ±0s ()]")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEvent(line)
		if err != nil {
			return
		}
		again, err := ParseEvent(e.String())
		if err != nil {
			t.Fatalf("ParseEvent(%q) = %+v, whose line %q does not read: %v", line, e, e.String(), err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("ParseEvent(%q) = %+v; its line %q reads as %+v", line, e, e.String(), again)
		}
		_, rest, _ := strings.Cut(line, " ")
		_, text, _ := strings.Cut(rest, " ")
		if e.Text() != text[1:len(text)-1] {
			t.Fatalf("ParseEvent(%q).Text() = %q: not the text of the line", line, e.Text())
		}
	})
}
