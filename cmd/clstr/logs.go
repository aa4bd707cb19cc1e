package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/report"
	"github.com/clstr-dev/clstr/internal/runlog"
	"github.com/clstr-dev/clstr/internal/safetext"
)

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
				if !runlog.Has(logDir) {
					fmt.Fprintf(stderr, "clstr: no logs in %s yet; waiting for a run to write them (Ctrl-C stops)\n", logDir)
				}
				if err := followLogs(ctx, logDir, nodes, stdout, f, followPoll); err != nil {
					fmt.Fprintf(stderr, "clstr: logs: %v\n", err)
					return exitStatus(exitError)
				}
				return nil
			}
			if !runlog.Has(logDir) {
				fmt.Fprintf(stderr, "clstr: no logs yet: a run writes them into %s; run 'clstr test' (or 'clstr run') here first\n", logDir)
				return exitStatus(exitError)
			}
			r := runlog.NewReader(logDir, nodes)
			lines, err := r.Read()
			if err != nil {
				fmt.Fprintf(stderr, "clstr: logs: %v\n", err)
				return exitStatus(exitError)
			}
			if missing := r.Missing(); len(missing) > 0 {
				fmt.Fprintf(stderr, "clstr: the last run has no node %s; its nodes are %s\n",
					strings.Join(missing, ", "), strings.Join(r.Known(), ", "))
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
	if !runlog.Has(logDir) {
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
func (f *logFormat) format(l runlog.Line) string {
	who := l.Node
	if who == "" {
		who = cluster.ClusterWide
	}
	loc := f.loc
	if loc == nil {
		loc = time.Local
	}
	ts := l.Time.In(loc).Format("15:04:05.000")
	// A node's output and an event's text are the target's and the
	// script's: their controls are escaped, as in a failure.
	prefix, text := "["+safetext.Line(who)+"]", safetext.Line(l.Text)
	if l.IsEvent() {
		text = "[" + text + "]"
	}
	if !f.color {
		return ts + " " + prefix + " " + text
	}
	paint := func(code, s string) string { return "\x1b[" + code + "m" + s + "\x1b[0m" }
	switch {
	case l.Node == "":
		prefix = paint("1", prefix)
	default:
		prefix = paint(nodeColor(l.Node), prefix)
	}
	switch {
	case l.IsEvent():
		text = paint("1;33", text)
	case l.Stream == runlog.Stderr:
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

// followLogs prints the logs of dir and then, every poll, the lines added
// since, until ctx ends. A new run's logs follow the last run's.
func followLogs(ctx context.Context, dir string, nodes []string, w io.Writer, f *logFormat, poll time.Duration) error {
	return runlog.Follow(ctx, dir, nodes, poll, func(newRun bool, lines []runlog.Line) error {
		if newRun {
			if _, err := fmt.Fprintln(w, f.separator("a new run")); err != nil {
				return err
			}
		}
		for _, l := range lines {
			if _, err := fmt.Fprintln(w, f.format(l)); err != nil {
				return err
			}
		}
		return nil
	})
}
