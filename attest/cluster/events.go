package cluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/internal/safetext"
)

// Event is one entry of the event log: something the runner did or saw.
type Event struct {
	Time time.Time
	// Node is the node the event is about, or "" for the whole cluster.
	Node string
	// Text is the event without brackets: "START", "PARTITIONED FROM: n3, n4".
	Text string
}

// ClusterWide is how an event that concerns no single node is labelled.
const ClusterWide = "**"

// String renders the event as one log line:
// "2026-11-25T07:05:01.123456789Z n1 [KILL]".
func (e Event) String() string {
	who := e.Node
	if who == "" {
		who = ClusterWide
	}
	return fmt.Sprintf("%s %s [%s]", e.Time.UTC().Format(time.RFC3339Nano), who, e.Text)
}

// ParseEvent reads a line written by Event.String.
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
	if !ok || !strings.HasPrefix(text, "[") || !strings.HasSuffix(text, "]") {
		return Event{}, fmt.Errorf("event line %q is not \"TIME NODE [TEXT]\"", line)
	}
	if who == ClusterWide {
		who = ""
	}
	return Event{Time: t, Node: who, Text: text[1 : len(text)-1]}, nil
}

// EventLog records events in order, in memory and optionally to a writer.
// A nil *EventLog discards everything, so callers need not check.
type EventLog struct {
	mu     sync.Mutex // guards the fields below
	events []Event
	w      *bufio.Writer
	closer io.Closer
	err    error // first write error
	now    func() time.Time
}

// NewEventLog returns a log that also writes each event as a line to w
// (which may be nil).
func NewEventLog(w io.Writer) *EventLog {
	l := &EventLog{now: time.Now}
	if w != nil {
		l.w = bufio.NewWriter(w)
	}
	return l
}

// OpenEventLog creates (or truncates) the file at path and logs into it.
func OpenEventLog(path string) (*EventLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	l := NewEventLog(f)
	l.closer = f
	return l, nil
}

// Add records an event about node ("" for the whole cluster).
func (l *EventLog) Add(node, format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// One event per line, whatever a script logs: a newline or a
	// terminal control in its text is escaped.
	e := Event{Time: l.now(), Node: node, Text: safetext.Line(fmt.Sprintf(format, args...))}
	l.events = append(l.events, e)
	if l.w != nil && l.err == nil {
		if _, err := fmt.Fprintln(l.w, e.String()); err != nil {
			l.err = err
		} else if err := l.w.Flush(); err != nil {
			l.err = err
		}
	}
}

// Events returns a copy of every event recorded so far.
func (l *EventLog) Events() []Event {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// Close flushes and closes the underlying file, if the log opened one, and
// reports the first write error.
func (l *EventLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil && l.err == nil {
		l.err = l.w.Flush()
	}
	if l.closer != nil {
		if err := l.closer.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.closer = nil
	}
	return l.err
}
