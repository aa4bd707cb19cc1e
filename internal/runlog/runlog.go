// Package runlog owns the folder where a run leaves its record: the event
// log, events.log, whose lines cluster.Event writes and reads, and one
// file per node, "<node>.log", of the node's output, lines
// "TIME stdout|stderr LINE". It writes them, lists them, reads them back
// merged in time order, and follows them while a run writes them.
package runlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// The names of the files of a run's folder: the event log, and every
// other "<node>.log" a node's output.
const (
	eventsFile = "events.log"
	nodeSuffix = ".log"
)

// nodeFile is the name of node's log file.
func nodeFile(node string) string { return node + nodeSuffix }

// The streams of a line: a node's output, or an event.
const (
	Stdout = "stdout"
	Stderr = "stderr"
	Events = "event"
)

// Line is one line of a run's logs.
type Line struct {
	Time time.Time
	// Node is the node the line is from or about; "" for an event of the
	// whole cluster.
	Node string
	// Stream is Stdout or Stderr for a node's output, Events for an event.
	Stream string
	// Text is the output, or the event's text as the event log shows it.
	Text string
	// Event is the event of an Events line.
	Event cluster.Event
}

// IsEvent reports whether the line is an event rather than output.
func (l Line) IsEvent() bool { return l.Stream == Events }

// nodeLine renders a line of a node's log file.
func nodeLine(t time.Time, stream, text string) string {
	return t.UTC().Format(time.RFC3339Nano) + " " + stream + " " + text + "\n"
}

// File is one log file of a run's folder.
type File struct {
	Path string
	// Node is the node whose output the file holds; "" for the event log.
	Node string
}

// IsEvents reports whether the file is the event log.
func (f File) IsEvents() bool { return f.Node == "" }

// fileOf says which file of a folder path is, and whether it is a log.
func fileOf(path string) (File, bool) {
	name := filepath.Base(path)
	if name == eventsFile {
		return File{Path: path}, true
	}
	node, ok := strings.CutSuffix(name, nodeSuffix)
	return File{Path: path, Node: node}, ok && node != ""
}

// Files lists the log files of dir: the event log first, then the nodes'
// in node order (n2 before n10). A folder that does not exist has none.
func Files(dir string) ([]File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+nodeSuffix))
	if err != nil {
		return nil, err
	}
	var files []File
	for _, p := range paths {
		if f, ok := fileOf(p); ok {
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b File) int {
		switch {
		case a.IsEvents() != b.IsEvents():
			if a.IsEvents() {
				return -1
			}
			return 1
		}
		return CompareNodes(a.Node, b.Node)
	})
	return files, nil
}

// Parse reads a line of the file.
func (f File) Parse(raw string) (Line, error) {
	if f.IsEvents() {
		e, err := cluster.ParseEvent(raw)
		if err != nil {
			return Line{}, fmt.Errorf("%s: %w", eventsFile, err)
		}
		return Line{Time: e.Time, Node: e.Node, Stream: Events, Text: e.Text(), Event: e}, nil
	}
	ts, rest, ok := strings.Cut(raw, " ")
	if !ok {
		return Line{}, fmt.Errorf("%s: line %q has no timestamp", nodeFile(f.Node), raw)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Line{}, fmt.Errorf("%s: line %q: %w", nodeFile(f.Node), raw, err)
	}
	stream, text, _ := strings.Cut(rest, " ")
	if stream != Stdout && stream != Stderr {
		return Line{}, fmt.Errorf("%s: line %q is not \"TIME stdout|stderr LINE\"", nodeFile(f.Node), raw)
	}
	return Line{Time: t, Node: f.Node, Stream: stream, Text: text}, nil
}

// Unparsed is how a line out of format is kept, rather than hidden: as
// it is, output of the file's node or an event, at time t.
func (f File) Unparsed(raw string, t time.Time) Line {
	l := Line{Time: t, Node: f.Node, Stream: Stdout, Text: raw}
	if f.IsEvents() {
		l.Stream, l.Event = Events, cluster.Event{Time: t, Detail: raw}
	}
	return l
}

// OpenEvents creates (or truncates) the event log of dir and logs into it.
func OpenEvents(dir string) (*cluster.EventLog, error) {
	return cluster.OpenEventLog(filepath.Join(dir, eventsFile))
}

// Has reports whether dir holds a log file with something in it: a run
// that wrote nothing has no logs to show.
func Has(dir string) bool {
	files, _ := Files(dir)
	for _, f := range files {
		if st, err := os.Stat(f.Path); err == nil && st.Size() > 0 {
			return true
		}
	}
	return false
}

// Nodes returns the nodes that have a log file in dir, in order.
func Nodes(dir string) ([]string, error) {
	files, err := Files(dir)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	var nodes []string
	for _, f := range files {
		if !f.IsEvents() {
			nodes = append(nodes, f.Node)
		}
	}
	return nodes, err
}

// CompareNodes orders node names by their number: n2 before n10.
func CompareNodes(a, b string) int {
	x, okA := nodeNumber(a)
	y, okB := nodeNumber(b)
	if okA && okB && x != y {
		return x - y
	}
	return strings.Compare(a, b)
}

func nodeNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "n")
	if !ok || digits == "" {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
