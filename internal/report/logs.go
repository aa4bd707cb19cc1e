package report

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/runlog"
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

// readLogs reads the event log and the node logs of dir, interleaved by
// time, as milliseconds since start, and the events of the event log. It
// keeps the last MaxLogLines lines of each file and counts the lines it
// left out per node ("**" for the event log).
func readLogs(dir string, start time.Time) ([]LogLine, []cluster.Event, map[string]int, error) {
	files, err := runlog.Files(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	var lines []LogLine
	var events []cluster.Event
	var cutCounts map[string]int
	var errs []error
	for _, f := range files {
		got, dropped, err := readLogFile(f, start)
		if err != nil {
			errs = append(errs, err)
		}
		if dropped > 0 {
			if cutCounts == nil {
				cutCounts = map[string]int{}
			}
			key := f.Node
			if f.IsEvents() {
				key = cluster.ClusterWide
			}
			cutCounts[key] = dropped
		}
		for _, l := range got {
			lines = append(lines, l.LogLine)
			if f.IsEvents() {
				events = append(events, l.event)
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time < lines[j].Time })
	return lines, events, cutCounts, errors.Join(errs...)
}

// fileLine is a line of a log file as a report shows it, and the event of
// an event log's line.
type fileLine struct {
	LogLine
	event cluster.Event
}

// readLogFile reads one log file, keeping its last MaxLogLines lines.
func readLogFile(file runlog.File, start time.Time) ([]fileLine, int, error) {
	f, err := os.Open(file.Path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var ring []fileLine
	dropped := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var last time.Time
	for sc.Scan() {
		raw := strings.TrimRight(sc.Text(), "\r")
		if raw == "" {
			continue
		}
		l, err := file.Parse(raw)
		if err != nil {
			// A line out of format is kept as it is, at the time of the
			// line before it, rather than hidden.
			l = file.Unparsed(raw, last)
		}
		last = l.Time
		// Shown as the terminal shows it: no control of a node's
		// output reaches the page or a tool as it is.
		text := cut(safetext.Line(l.Text), maxLogLineBytes)
		if len(ring) == MaxLogLines {
			ring = ring[1:]
			dropped++
		}
		ring = append(ring, fileLine{LogLine{Time: ms(l.Time.Sub(start)), Node: l.Node, Stream: l.Stream, Text: text}, l.Event})
	}
	if err := sc.Err(); err != nil {
		return ring, dropped, fmt.Errorf("read %s: %w", file.Path, err)
	}
	return ring, dropped, nil
}

// LogStage builds a stage that holds only the logs of dir: for a page of
// the logs alone (clstr logs --html). Times count from the first line.
func LogStage(dir string) (Stage, error) {
	first, err := firstLogTime(dir)
	if err != nil {
		return Stage{}, err
	}
	lines, events, cutCounts, err := readLogs(dir, first)
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
	st.Nodes, st.Faults = lanes(nodeNames(st.Events, st.Logs), events, func(t time.Time) MS { return ms(t.Sub(first)) }, st.Duration)
	return st, err
}

// firstLogTime is the time of the earliest line of the logs in dir.
func firstLogTime(dir string) (time.Time, error) {
	files, err := runlog.Files(dir)
	if err != nil {
		return time.Time{}, err
	}
	var first time.Time
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return time.Time{}, err
		}
		line, _, _ := strings.Cut(string(data), "\n")
		l, err := f.Parse(line)
		if err == nil && (first.IsZero() || l.Time.Before(first)) {
			first = l.Time
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
