package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EventKind says what an event is about. The zero kind, EventOther, holds
// a line of a kind this version of clstr does not know, as its text.
type EventKind uint8

// The kinds of events the runtimes and the engine write.
const (
	// EventOther is an event of no known kind; Detail is its whole text.
	EventOther EventKind = iota
	// EventStart: Node started (or restarted) and answers.
	EventStart
	// EventStop: Node exited after SIGTERM.
	EventStop
	// EventStopTimeout: Node did not exit Wait after SIGTERM and is sent
	// SIGKILL; an EventKill follows.
	EventStopTimeout
	// EventKill: Node was killed with SIGKILL.
	EventKill
	// EventRestart: Node is restarted after a stop by Signal, "KILL" or
	// "TERM".
	EventRestart
	// EventPowerLoss: Node lost power: its process ended and its data
	// directory lost what was not durable (Detail says how, if anything).
	EventPowerLoss
	// EventPause: Node's processes are frozen.
	EventPause
	// EventResume: Node's processes run again.
	EventResume
	// EventPartition: Node no longer exchanges packets with Peers.
	EventPartition
	// EventHeal: every partition and cut is gone.
	EventHeal
	// EventCut: what Node sends to Peers is dropped on the way.
	EventCut
	// EventImpair: Node's outgoing traffic (only that to Peers, when
	// there are Peers) suffers Impairments, applied Via a way of the
	// runtime's ("" when it says none).
	EventImpair
	// EventRepair: Node's impairments are gone.
	EventRepair
	// EventShaper: what the userspace shaper did to Node's traffic while
	// it was impaired (Detail).
	EventShaper
	// EventReady: every node of the cluster answers.
	EventReady
	// EventTest: the test named Detail starts.
	EventTest
	// EventLogged: a line the test logged (Detail).
	EventLogged
	// EventDataDir: Node's data directory holds Bytes bytes.
	EventDataDir
	// EventConcurrently: the latencies and errors of a concurrent batch
	// of requests (Detail), over all nodes or for Node.
	EventConcurrently
	// EventLinearizable, EventUndecided and EventNotLinearizable: a
	// linearizability check's verdict on a history (Detail says which
	// and under what model).
	EventLinearizable
	EventUndecided
	EventNotLinearizable
	// EventSetOK and EventCounterOK: a set or a counter check passed
	// (Detail summarises what it saw).
	EventSetOK
	EventCounterOK
	// EventNetwork: the run's network had to differ from the default
	// (Detail says how).
	EventNetwork
	// EventReuse: the run reuses the network and sandboxes of the run
	// before.
	EventReuse
	// EventCleanupFailed: the leftovers of old runs could not be removed
	// (Detail says why).
	EventCleanupFailed
	// EventPrepareFailed: Node's container could not be made ahead of its
	// start (Detail says why).
	EventPrepareFailed
	// EventLogsLost: Node's output can no longer be read (Detail says why).
	EventLogsLost
	// EventTraffic: the nodes sent each other Traffic over Wait, as a
	// script measured it.
	EventTraffic

	eventKinds // how many kinds there are
)

// kindInfo is how a kind reads: its name in data (JSON, Starlark) and its
// label in the event log.
var kindInfo = [eventKinds]struct{ name, label string }{
	EventOther:           {"other", ""},
	EventStart:           {"start", "START"},
	EventStop:            {"stop", "STOP"},
	EventStopTimeout:     {"stop_timeout", "STOP"},
	EventKill:            {"kill", "KILL"},
	EventRestart:         {"restart", "RESTART"},
	EventPowerLoss:       {"power_loss", "POWER LOSS"},
	EventPause:           {"pause", "PAUSE"},
	EventResume:          {"resume", "RESUME"},
	EventPartition:       {"partition", "PARTITIONED FROM"},
	EventHeal:            {"heal", "PARTITION HEALED"},
	EventCut:             {"cut", "CUT TO"},
	EventImpair:          {"impair", "IMPAIRED"},
	EventRepair:          {"repair", "REPAIRED"},
	EventShaper:          {"shaper", "REPAIR"},
	EventReady:           {"ready", "CLUSTER READY"},
	EventTest:            {"test", "TEST"},
	EventLogged:          {"log", "LOG"},
	EventDataDir:         {"data_dir", "DATA_DIR"},
	EventConcurrently:    {"concurrently", "CONCURRENTLY"},
	EventLinearizable:    {"linearizable", "LINEARIZABLE"},
	EventUndecided:       {"undecided", "LINEARIZABILITY UNDECIDED"},
	EventSetOK:           {"set_ok", "SET OK"},
	EventCounterOK:       {"counter_ok", "COUNTER OK"},
	EventNotLinearizable: {"not_linearizable", "NOT LINEARIZABLE"},
	EventNetwork:         {"network", "NETWORK"},
	EventReuse:           {"reuse", "REUSING the network and sandboxes of the previous run"},
	EventCleanupFailed:   {"cleanup_failed", "CLEANUP OF OLD RUNS FAILED"},
	EventPrepareFailed:   {"prepare_failed", "COULD NOT PREPARE THE CONTAINER AHEAD"},
	EventLogsLost:        {"logs_lost", "LOGS LOST"},
	EventTraffic:         {"traffic", "TRAFFIC"},
}

// String returns the kind's name: "partition", "stop_timeout".
func (k EventKind) String() string {
	if k < eventKinds {
		return kindInfo[k].name
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText writes the kind's name, so that JSON shows "kill", not 4.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name; an unknown one is EventOther.
func (k *EventKind) UnmarshalText(b []byte) error {
	*k = EventOther
	for i, info := range kindInfo {
		if info.name == string(b) {
			*k = EventKind(i)
		}
	}
	return nil
}

// bare kinds are a label alone; the others are "LABEL: BODY".
func (k EventKind) bare() bool {
	switch k {
	case EventStart, EventStop, EventKill, EventPause, EventResume, EventHeal, EventRepair, EventReady, EventReuse:
		return true
	}
	return false
}

// Event is one entry of the event log: something the runner did or saw.
// Which fields matter depends on Kind (see the kinds).
type Event struct {
	Time time.Time
	// Node is the node the event is about, or "" for the whole cluster.
	Node string
	Kind EventKind
	// Peers are the other nodes of a partition, a cut or an impairment
	// limited to some destinations.
	Peers []string
	// Impairments and Via describe an EventImpair.
	Impairments Impairments
	Via         string
	// Wait is how long an EventStopTimeout waited, and the span of an
	// EventTraffic.
	Wait time.Duration
	// Signal is how an EventRestart stopped the node: "KILL" or "TERM".
	Signal string
	// Bytes is the size of an EventDataDir.
	Bytes int64
	// Traffic is what nodes sent each other, for an EventTraffic.
	Traffic Count
	// Detail is the free text of the kinds that carry one, and the whole
	// text of an EventOther.
	Detail string
}

// ClusterWide is how an event that concerns no single node is labelled.
const ClusterWide = "**"

// Text renders the event without time, node and brackets, as the event
// log shows it: "START", "PARTITIONED FROM: n3, n4",
// "IMPAIRED TOWARDS n2: delay 50ms (netem)".
func (e Event) Text() string {
	if e.Kind == EventOther || e.Kind >= eventKinds {
		return e.Detail
	}
	label := kindInfo[e.Kind].label
	if e.Kind.bare() {
		return label
	}
	switch e.Kind {
	case EventPartition, EventCut:
		return label + ": " + strings.Join(e.Peers, ", ")
	case EventImpair:
		if len(e.Peers) > 0 {
			label += " TOWARDS " + strings.Join(e.Peers, ", ")
		}
		text := label + ": " + e.Impairments.String()
		if e.Via != "" {
			text += " (" + e.Via + ")"
		}
		return text
	case EventStopTimeout:
		return fmt.Sprintf("%s: no exit %v after SIGTERM, sending SIGKILL", label, e.Wait)
	case EventRestart:
		return label + ": " + e.Signal
	case EventDataDir:
		return fmt.Sprintf("%s: %d bytes", label, e.Bytes)
	case EventTraffic:
		return fmt.Sprintf("%s: %v in %v", label, e.Traffic, e.Wait)
	case EventPowerLoss:
		if e.Detail == "" {
			return label
		}
	}
	return label + ": " + e.Detail
}

// String renders the event as one log line:
// "2026-11-25T07:05:01.123456789Z n1 [KILL]".
func (e Event) String() string {
	who := e.Node
	if who == "" {
		who = ClusterWide
	}
	return fmt.Sprintf("%s %s [%s]", e.Time.UTC().Format(time.RFC3339Nano), who, e.Text())
}

// ParseEvent reads a line written by Event.String. A text of no known
// kind, from an older or newer clstr, reads as an EventOther.
func ParseEvent(line string) (Event, error) {
	ts, rest, ok := strings.Cut(line, " ")
	if !ok {
		return Event{}, fmt.Errorf("event line %q has no timestamp", line)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Event{}, fmt.Errorf("event line %q: %w", line, err)
	}
	who, text, ok := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(text, "[") || !strings.HasSuffix(text, "]") || len(text) < 2 {
		return Event{}, fmt.Errorf("event line %q is not \"TIME NODE [TEXT]\"", line)
	}
	if who == ClusterWide {
		who = ""
	}
	e := ParseEventText(text[1 : len(text)-1])
	e.Time, e.Node = t, who
	return e, nil
}

// labels finds a kind by its label; STOP is the bare kind's.
var labels = func() map[string]EventKind {
	m := map[string]EventKind{}
	for k := eventKinds - 1; k > EventOther; k-- {
		m[kindInfo[k].label] = k
	}
	return m
}()

// ParseEventText reads what Event.Text renders: the kind and fields of
// an event. A text that does not read back exactly as it was written is
// an EventOther that keeps it whole.
func ParseEventText(text string) Event {
	e := parseKnown(text)
	if e.Kind == EventOther || e.Text() != text {
		return Event{Kind: EventOther, Detail: text}
	}
	return e
}

func parseKnown(text string) Event {
	if k, ok := labels[text]; ok && k.bare() {
		return Event{Kind: k}
	}
	label, body, _ := strings.Cut(text, ": ")
	var peers []string
	if rest, ok := strings.CutPrefix(label, kindInfo[EventImpair].label+" TOWARDS "); ok {
		label, peers = kindInfo[EventImpair].label, strings.Split(rest, ", ")
	}
	k, ok := labels[label]
	if !ok {
		return Event{}
	}
	e := Event{Kind: k}
	var err error
	switch k {
	case EventStop:
		e.Kind = EventStopTimeout
		wait, _ := strings.CutPrefix(body, "no exit ")
		wait, _ = strings.CutSuffix(wait, " after SIGTERM, sending SIGKILL")
		e.Wait, err = time.ParseDuration(wait)
	case EventPartition, EventCut:
		e.Peers = strings.Split(body, ", ")
	case EventImpair:
		imps, via, hasVia := strings.Cut(body, " (")
		if hasVia {
			e.Via = strings.TrimSuffix(via, ")")
		}
		e.Peers = peers
		e.Impairments, err = ParseImpairments(imps)
	case EventRestart:
		e.Signal = body
	case EventDataDir:
		e.Bytes, err = strconv.ParseInt(strings.TrimSuffix(body, " bytes"), 10, 64)
	case EventTraffic:
		count, span, _ := strings.Cut(body, " in ")
		if _, err = fmt.Sscanf(count, "%d packets, %d bytes", &e.Traffic.Packets, &e.Traffic.Bytes); err == nil {
			e.Wait, err = time.ParseDuration(span)
		}
	default:
		if k.bare() {
			return Event{}
		}
		e.Detail = body
	}
	if err != nil {
		return Event{}
	}
	return e
}
