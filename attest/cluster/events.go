package cluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/clstr-dev/clstr/internal/safetext"
)

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

// Add records e, at the time it is added.
func (l *EventLog) Add(e Event) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// One event per line, whatever a script logs or a daemon answers: a
	// newline or a terminal control in a text is escaped.
	e.Time = l.now()
	e.Detail, e.Via, e.Signal = safetext.Line(e.Detail), safetext.Line(e.Via), safetext.Line(e.Signal)
	if e.Peers != nil {
		e.Peers = slices.Clone(e.Peers)
		for i, p := range e.Peers {
			e.Peers[i] = safetext.Line(p)
		}
	}
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
