package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/report"
	"github.com/clstr-dev/clstr/internal/safetext"
)

// A run leaves in logDir one "<node>.log" per node, lines "TIME
// stdout|stderr LINE" (written by attest/docker), and events.log, the
// runner's events "TIME NODE|** [TEXT]" (cluster.Event). clstr logs merges
// them by time.

// eventsFile is the runner's event log in logDir.
const eventsFile = "events.log"

// followPoll is how often --follow looks for new lines.
const followPoll = 200 * time.Millisecond

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "show the nodes' output and clstr's events of the last run, interleaved in time",
		ArgsUsage: "[NODE…]",
		Description: "Reads " + logDir + ", which every 'clstr test', 'clstr next' and 'clstr run' in this\n" +
			"directory rewrites: each node's stdout and stderr, prefixed with its name ([n1]), and the\n" +
			"runner's events (starts, kills, partitions, the test being run), cluster-wide ones\n" +
			"prefixed [**], all in time order. Name nodes to see only theirs (and the cluster's events).\n" +
			"With --follow, keeps printing new lines while a run goes on, until Ctrl-C.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines as a run writes them, until Ctrl-C"},
			&cli.StringFlag{Name: "html", Usage: "write the logs as a page to `FILE`, with a lane per node and filters per node, instead of printing them"},
		},
		Action: func(c *cli.Context) error {
			nodes := c.Args().Slice()
			for _, n := range nodes {
				if n == "" || strings.ContainsAny(n, `/\`) || n == ".." || n == "." {
					return usageError{fmt.Sprintf("logs: %q is not a node name; nodes are n1, n2, …", n)}
				}
			}
			stdout, stderr := c.App.Writer, c.App.ErrWriter
			if c.IsSet("html") {
				return logsHTML(c, stderr, nodes)
			}
			o := newOutput(stdout)
			f := &logFormat{color: o.color}
			if c.Bool("follow") {
				ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
				defer stop()
				if !hasLogs(logDir) {
					fmt.Fprintf(stderr, "clstr: no logs in %s yet; waiting for a run to write them (Ctrl-C stops)\n", logDir)
				}
				if err := followLogs(ctx, logDir, nodes, stdout, f, followPoll); err != nil {
					fmt.Fprintf(stderr, "clstr: logs: %v\n", err)
					return exitStatus(exitError)
				}
				return nil
			}
			if !hasLogs(logDir) {
				fmt.Fprintf(stderr, "clstr: no logs yet: a run writes them into %s; run 'clstr test' (or 'clstr run') here first\n", logDir)
				return exitStatus(exitError)
			}
			r := newLogReader(logDir, nodes)
			lines, err := r.read()
			if err != nil {
				fmt.Fprintf(stderr, "clstr: logs: %v\n", err)
				return exitStatus(exitError)
			}
			if missing := r.missing(); len(missing) > 0 {
				fmt.Fprintf(stderr, "clstr: the last run has no node %s; its nodes are %s\n",
					strings.Join(missing, ", "), strings.Join(r.known(), ", "))
				return exitStatus(exitError)
			}
			for _, l := range lines {
				fmt.Fprintln(stdout, f.format(l))
			}
			return nil
		},
	}
}

// logsHTML writes the page of the logs that --html asks for.
func logsHTML(c *cli.Context, stderr io.Writer, nodes []string) error {
	path := c.String("html")
	switch {
	case path == "":
		return usageError{"logs: --html needs the name of the file to write"}
	case c.Bool("follow"):
		return usageError{"logs: --html writes the logs once; leave out --follow"}
	case len(nodes) > 0:
		return usageError{"logs: --html writes every node's logs, with a filter per node in the page; leave out the node names"}
	}
	if !hasLogs(logDir) {
		fmt.Fprintf(stderr, "clstr: no logs yet: a run writes them into %s; run 'clstr test' (or 'clstr run') here first\n", logDir)
		return exitStatus(exitError)
	}
	page, err := report.LogsPage(logDir)
	if page == nil {
		fmt.Fprintf(stderr, "clstr: logs: %v\n", err)
		return exitStatus(exitError)
	}
	if err != nil {
		fmt.Fprintf(stderr, "clstr: logs: some lines could not be read: %v\n", err)
	}
	// As a report's page is written: a link at path is replaced, not
	// written through.
	if _, err := artifact.WriteFile(filepath.Dir(path), filepath.Base(path), nil, func(w io.Writer) error {
		_, err := w.Write(page)
		return err
	}); err != nil {
		fmt.Fprintf(stderr, "clstr: logs: %v\n", err)
		return exitStatus(exitError)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: open it in a browser\n", path)
	return nil
}

// logLine is one line of a run's logs: a node's output or an event.
type logLine struct {
	time time.Time
	// node is the node the line is from or about; "" for an event of the
	// whole cluster.
	node  string
	event bool
	// stream is "stdout" or "stderr" for a node's output.
	stream string
	text   string
}

// parseNodeLine reads a line of node's log file: "TIME stdout|stderr
// LINE".
func parseNodeLine(node, line string) (logLine, error) {
	ts, rest, ok := strings.Cut(line, " ")
	if !ok {
		return logLine{}, fmt.Errorf("%s.log: line %q has no timestamp", node, line)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return logLine{}, fmt.Errorf("%s.log: line %q: %w", node, line, err)
	}
	stream, text, _ := strings.Cut(rest, " ")
	if stream != "stdout" && stream != "stderr" {
		return logLine{}, fmt.Errorf("%s.log: line %q is not \"TIME stdout|stderr LINE\"", node, line)
	}
	return logLine{time: t, node: node, stream: stream, text: text}, nil
}

// parseEventLine reads a line of the event log.
func parseEventLine(line string) (logLine, error) {
	e, err := cluster.ParseEvent(line)
	if err != nil {
		return logLine{}, fmt.Errorf("%s: %w", eventsFile, err)
	}
	return logLine{time: e.Time, node: e.Node, event: true, text: e.Text}, nil
}

// sortLines orders lines by time; lines of the same time keep their
// order, so each file's own order holds.
func sortLines(lines []logLine) {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].time.Before(lines[j].time) })
}

// logFormat renders log lines for a person.
type logFormat struct {
	color bool
	// loc is the time zone of the times shown; nil for the local one.
	loc *time.Location
}

// nodeColors are the colours node names cycle through on a terminal.
var nodeColors = []string{"36", "35", "34", "32", "33", "96", "95", "94"}

// format renders a line: "15:04:05.000 [n1] serving on :8080",
// "15:04:05.010 [**] [CLUSTER READY]", "15:04:06.000 [n1] [KILL]".
func (f *logFormat) format(l logLine) string {
	who := l.node
	if who == "" {
		who = cluster.ClusterWide
	}
	loc := f.loc
	if loc == nil {
		loc = time.Local
	}
	ts := l.time.In(loc).Format("15:04:05.000")
	// A node's output and an event's text are the target's and the
	// script's: their controls are escaped, as in a failure.
	prefix, text := "["+safetext.Line(who)+"]", safetext.Line(l.text)
	if l.event {
		text = "[" + text + "]"
	}
	if !f.color {
		return ts + " " + prefix + " " + text
	}
	paint := func(code, s string) string { return "\x1b[" + code + "m" + s + "\x1b[0m" }
	switch {
	case l.node == "":
		prefix = paint("1", prefix)
	default:
		prefix = paint(nodeColor(l.node), prefix)
	}
	switch {
	case l.event:
		text = paint("1;33", text)
	case l.stream == "stderr":
		text = paint("31", text)
	}
	return paint("2", ts) + " " + prefix + " " + text
}

// separator is a line between the logs of two runs.
func (f *logFormat) separator(what string) string {
	s := "── " + what + " ──"
	if f.color {
		return "\x1b[2m" + s + "\x1b[0m"
	}
	return s
}

// nodeColor picks n1's colour, n2's, … by the node's number.
func nodeColor(node string) string {
	var n int
	if _, err := fmt.Sscanf(node, "n%d", &n); err != nil || n < 1 {
		return "36"
	}
	return nodeColors[(n-1)%len(nodeColors)]
}

// hasLogs reports whether dir holds a log file with something in it: a
// run that wrote nothing has no logs to show.
func hasLogs(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			return true
		}
	}
	return false
}

// logReader reads the log files of a run directory, a piece at a time:
// each read returns the whole lines written since the last, so the same
// reader serves a one-off listing and --follow.
type logReader struct {
	dir   string
	nodes []string // only these nodes' lines and events; nil for all
	files map[string]*logFile
	seen  map[string]bool // nodes that have a log file or an event
	// newRun is set when a read finds the event log of a run after the
	// one it read before.
	newRun bool
}

// logFile is where a logReader is in one file.
type logFile struct {
	node    string // "" for the event log
	offset  int64
	partial []byte // a last line not yet ended
	// info is the file as last read, to notice a new run's file;
	// restarted says that one was noticed.
	info      fs.FileInfo
	restarted bool
}

func newLogReader(dir string, nodes []string) *logReader {
	return &logReader{dir: dir, nodes: nodes, files: map[string]*logFile{}, seen: map[string]bool{}}
}

// wanted reports whether lines of node (or "" for the cluster) are shown.
func (r *logReader) wanted(node string) bool {
	return node == "" || len(r.nodes) == 0 || slices.Contains(r.nodes, node)
}

// read returns the new whole lines of every log file, in time order. A
// file that shrank or was replaced (a new run) is read from its start.
func (r *logReader) read() ([]logLine, error) {
	paths, err := filepath.Glob(filepath.Join(r.dir, "*.log"))
	if err != nil {
		return nil, err
	}
	var out []logLine
	var errs []error
	for _, p := range paths {
		name := filepath.Base(p)
		lf, ok := r.files[name]
		if !ok {
			lf = &logFile{node: strings.TrimSuffix(name, ".log")}
			if name == eventsFile {
				lf.node = ""
			}
			r.files[name] = lf
		}
		if lf.node != "" {
			r.seen[lf.node] = true
			if !r.wanted(lf.node) {
				continue
			}
		}
		lines, err := lf.readNew(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if lf.restarted && lf.node == "" {
			r.newRun = true
		}
		lf.restarted = false
		for _, line := range lines {
			var l logLine
			var err error
			if lf.node == "" {
				l, err = parseEventLine(line)
			} else {
				l, err = parseNodeLine(lf.node, line)
			}
			if err != nil {
				// A line that is not in the format is shown as it is,
				// rather than hidden.
				l = logLine{node: lf.node, event: lf.node == "", text: line}
				if n := len(out); n > 0 {
					l.time = out[n-1].time
				}
			}
			if l.event && l.node != "" {
				r.seen[l.node] = true
			}
			if r.wanted(l.node) {
				out = append(out, l)
			}
		}
	}
	sortLines(out)
	return out, errors.Join(errs...)
}

// readNew returns the whole lines added to the file at p since the last
// call.
func (lf *logFile) readNew(p string) ([]string, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		lf.offset, lf.partial = 0, nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if lf.info != nil && !os.SameFile(lf.info, st) || st.Size() < lf.offset {
		// A new run recreated the directory, or the file was cut short.
		lf.offset, lf.partial = 0, nil
		lf.restarted = true
	}
	lf.info = st
	if st.Size() == lf.offset {
		return nil, nil
	}
	fh, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer fh.Close()
	if _, err := fh.Seek(lf.offset, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, st.Size()-lf.offset))
	if err != nil {
		return nil, err
	}
	lf.offset += int64(len(data))
	data = append(lf.partial, data...)
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		lf.partial = data
		return nil, nil
	}
	lf.partial = append([]byte(nil), data[end+1:]...)
	var lines []string
	for _, l := range strings.Split(string(data[:end]), "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// known returns the nodes the logs have, in order.
func (r *logReader) known() []string {
	var ns []string
	for n := range r.seen {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, compareNodes)
	return ns
}

// missing returns the nodes asked for that the logs do not have.
func (r *logReader) missing() []string {
	var ms []string
	for _, n := range r.nodes {
		if !r.seen[n] {
			ms = append(ms, n)
		}
	}
	return ms
}

// compareNodes orders n2 before n10.
func compareNodes(a, b string) int {
	var x, y int
	_, errA := fmt.Sscanf(a, "n%d", &x)
	_, errB := fmt.Sscanf(b, "n%d", &y)
	if errA == nil && errB == nil && x != y {
		return x - y
	}
	return strings.Compare(a, b)
}

// followLogs prints the logs of dir and then, every poll, the lines added
// since, until ctx ends. A new run's logs follow the last run's.
func followLogs(ctx context.Context, dir string, nodes []string, w io.Writer, f *logFormat, poll time.Duration) error {
	r := newLogReader(dir, nodes)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		lines, err := r.read()
		if err != nil {
			return err
		}
		if r.newRun {
			r.newRun = false
			if _, err := fmt.Fprintln(w, f.separator("a new run")); err != nil {
				return err
			}
		}
		for _, l := range lines {
			if _, err := fmt.Fprintln(w, f.format(l)); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
