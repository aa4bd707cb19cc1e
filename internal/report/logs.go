package report

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/safetext"
)

// LogLine is a line of a node's output ("stdout" or "stderr") or an event
// ("event"; Node "" for the whole cluster).
type LogLine struct {
	Time   MS     `json:"t"`
	Node   string `json:"node,omitempty"`
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// Bounds of the logs kept in a report.
const (
	// MaxLogLines is the number of lines of each node's log a report
	// keeps: the last ones, where a failure is.
	MaxLogLines = 5000
	// maxLogLineBytes bounds one line.
	maxLogLineBytes = 2000
)

// eventsFile is the event log in a run's log directory; every other
// "<node>.log" there is a node's output, lines "TIME stdout|stderr LINE".
const eventsFile = "events.log"

// readLogs reads the event log and the node logs of dir, interleaved by
// time, as milliseconds since start. It keeps the last MaxLogLines lines of
// each file and counts the lines it left out per node ("**" for the event
// log).
func readLogs(dir string, start time.Time) ([]LogLine, map[string]int, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, nil, err
	}
	var lines []LogLine
	var cutCounts map[string]int
	var errs []error
	for _, p := range paths {
		node := strings.TrimSuffix(filepath.Base(p), ".log")
		events := filepath.Base(p) == eventsFile
		got, dropped, err := readLogFile(p, node, events, start)
		if err != nil {
			errs = append(errs, err)
		}
		if dropped > 0 {
			if cutCounts == nil {
				cutCounts = map[string]int{}
			}
			key := node
			if events {
				key = cluster.ClusterWide
			}
			cutCounts[key] = dropped
		}
		lines = append(lines, got...)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time < lines[j].Time })
	return lines, cutCounts, errors.Join(errs...)
}

// readLogFile reads one log file, keeping its last MaxLogLines lines.
func readLogFile(path, node string, events bool, start time.Time) ([]LogLine, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var ring []LogLine
	dropped := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var last MS
	for sc.Scan() {
		raw := strings.TrimRight(sc.Text(), "\r")
		if raw == "" {
			continue
		}
		l, at, ok := parseLogLine(raw, node, events)
		if ok {
			l.Time = ms(at.Sub(start))
		} else {
			// A line out of format is kept as it is, at the time of the
			// line before it, rather than hidden.
			l = LogLine{Time: last, Node: node, Stream: "stdout", Text: raw}
			if events {
				l.Node, l.Stream = "", "event"
			}
		}
		last = l.Time
		// Shown as the terminal shows it: no control of a node's
		// output reaches the page or a tool as it is.
		l.Text = cut(safetext.Line(l.Text), maxLogLineBytes)
		if len(ring) == MaxLogLines {
			ring = ring[1:]
			dropped++
		}
		ring = append(ring, l)
	}
	if err := sc.Err(); err != nil {
		return ring, dropped, fmt.Errorf("read %s: %w", path, err)
	}
	return ring, dropped, nil
}

// parseLogLine reads a line of the event log or of a node's log, and its
// time.
func parseLogLine(raw, node string, events bool) (LogLine, time.Time, bool) {
	if events {
		e, err := cluster.ParseEvent(raw)
		if err != nil {
			return LogLine{}, time.Time{}, false
		}
		return LogLine{Node: e.Node, Stream: "event", Text: e.Text}, e.Time, true
	}
	ts, rest, ok := strings.Cut(raw, " ")
	if !ok {
		return LogLine{}, time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return LogLine{}, time.Time{}, false
	}
	stream, text, _ := strings.Cut(rest, " ")
	if stream != "stdout" && stream != "stderr" {
		return LogLine{}, time.Time{}, false
	}
	return LogLine{Node: node, Stream: stream, Text: text}, t, true
}

// LogStage builds a stage that holds only the logs of dir: for a page of
// the logs alone (clstr logs --html). Times count from the first line.
func LogStage(dir string) (Stage, error) {
	first, err := firstLogTime(dir)
	if err != nil {
		return Stage{}, err
	}
	lines, cutCounts, err := readLogs(dir, first)
	st := Stage{Name: "logs of " + dir, Started: first.UTC(), Logs: lines, LogsCut: cutCounts,
		Tests: []Test{}, Events: []Event{}, Faults: []Fault{}, Leaders: []Leader{}}
	if st.Logs == nil {
		st.Logs = []LogLine{}
	}
	for _, l := range lines {
		if l.Stream == "event" {
			st.Events = append(st.Events, Event{Time: l.Time, Node: l.Node, Text: l.Text})
		}
		st.Duration = max(st.Duration, l.Time)
	}
	st.Nodes, st.Faults = lanes(nodeNames(st.Events, st.Logs), st.Events, st.Duration)
	return st, err
}

// firstLogTime is the time of the earliest line of the logs in dir.
func firstLogTime(dir string) (time.Time, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return time.Time{}, err
	}
	var first time.Time
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return time.Time{}, err
		}
		line, _, _ := strings.Cut(string(data), "\n")
		_, t, ok := parseLogLine(line, "", filepath.Base(p) == eventsFile)
		if ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() {
		return first, fmt.Errorf("no logs in %s: a run writes them there; run 'clstr test' (or 'clstr run') here first", dir)
	}
	return first, nil
}

// LogsPage renders the logs of the run in dir as a page of their own: the
// nodes' lanes and the interleaved log view, with its filters.
func LogsPage(dir string) ([]byte, error) {
	st, err := LogStage(dir)
	if err != nil && len(st.Logs) == 0 {
		return nil, err
	}
	r := &Report{Schema: Schema, Version: Version, Stages: []Stage{st},
		Run: Run{Command: "clstr logs --html", Started: st.Started, Duration: st.Duration}}
	page, herr := HTML(r)
	if herr != nil {
		return nil, herr
	}
	return page, err
}
