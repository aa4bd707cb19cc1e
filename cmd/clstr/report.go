package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/junit"
	"github.com/clstr-dev/clstr/internal/report"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/starlark"
)

// --report DIR (or "report: DIR" in clstr.yaml) writes the report of a
// command into DIR: report.json and index.html (internal/report, described
// in docs/report.md). Like the JUnit report, it is rewritten after every
// stage of the command's session.

// junitFlag is --junit, shared by run, test and next; junitReporters
// reads it.
func junitFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "junit",
		Usage: "write a JUnit XML report of the run to `FILE`, for CI",
		Action: func(c *cli.Context, path string) error {
			if path == "" {
				return usageError{c.Command.Name + ": --junit needs the name of the file to write"}
			}
			if c.Bool("watch") {
				return usageError{c.Command.Name + ": --junit reports a single run; leave out --watch"}
			}
			return nil
		},
	}
}

// junitReporters returns the JUnit report that --junit asks for, if any.
func junitReporters(c *cli.Context) []session.Reporter {
	if path := c.String("junit"); path != "" {
		return []session.Reporter{junit.New(path, c.App.ErrWriter)}
	}
	return nil
}

// reportFlag is --report, shared by run, test and next.
func reportFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "report",
		Usage: "write the run's report into `DIR`: index.html to look at, report.json for tools (also 'report: DIR' in " + progressFile + ")",
	}
}

// reporters returns the reports that the flags of the command ask for,
// in the order they are written: --junit, --report (or else the report
// key of clstr.yaml in the current directory), and on GitHub Actions the
// failures as annotations on standard output. target says what runs. It
// also keeps the run's disk quota in c.Context.
func reporters(c *cli.Context, target string) ([]session.Reporter, error) {
	quota := diskQuota(c)
	c.Context = context.WithValue(c.Context, quotaKey{}, quota)
	reps := junitReporters(c)
	dir := c.String("report")
	if c.IsSet("report") && dir == "" {
		return nil, usageError{c.Command.Name + ": --report needs the directory to write the report into"}
	}
	if c.IsSet("report") && c.Bool("watch") {
		return nil, usageError{c.Command.Name + ": --report reports a single run; leave out --watch"}
	}
	if !c.IsSet("report") && !c.Bool("watch") { // clstr.yaml's report is for single runs
		var err error
		if dir, err = configuredReport("."); err != nil {
			return nil, err
		}
	}
	if dir != "" {
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			return nil, usageError{fmt.Sprintf("%s: --report %s is a file; give a directory", c.Command.Name, dir)}
		}
		command := "clstr " + strings.Join(os.Args[1:], " ")
		rw := report.NewWriter(dir, command, target)
		rw.Quota, rw.Stderr = quota, c.App.ErrWriter
		reps = append(reps, rw)
	}
	if onGitHubActions() {
		reps = append(reps, annotations{w: c.App.Writer, stderr: c.App.ErrWriter})
	}
	return reps, nil
}

type quotaKey struct{}

// diskQuota returns the quota of the files a sandboxed run leaves on disk
// (--max-disk); nil with --trust.
func diskQuota(c *cli.Context) *artifact.Quota {
	lim := sandboxLimits(c)
	if lim == nil || lim.Disk <= 0 {
		return nil
	}
	return &artifact.Quota{Limit: lim.Disk, Flag: starlark.FlagDisk}
}

// quotaFrom returns the run's disk quota, or nil.
func quotaFrom(ctx context.Context) *artifact.Quota {
	q, _ := ctx.Value(quotaKey{}).(*artifact.Quota)
	return q
}

// configuredReport reads the report key of clstr.yaml in dir: "" when the
// file or the key is missing.
func configuredReport(dir string) (string, error) {
	data, err := os.ReadFile(dir + "/" + progressFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", progressFile, err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		key, value, ok, err := progressLine(line)
		if err != nil {
			return "", fmt.Errorf("%s:%d: %w", progressFile, i+1, err)
		}
		if ok && key == "report" {
			return value, nil
		}
	}
	return "", nil
}

// onGitHubActions reports whether clstr runs in a GitHub Actions job,
// where failures are also written as annotations.
func onGitHubActions() bool { return os.Getenv("GITHUB_ACTIONS") == "true" }

// annotations writes the failures of every stage as GitHub Actions
// annotations to w: through ciWriter.command when w is one, as the only
// workflow commands of the run.
type annotations struct{ w, stderr io.Writer }

func (a annotations) Stage(o *session.Outcome) {
	st, _ := report.Of(o, false)
	wd, _ := os.Getwd()
	var b strings.Builder
	err := report.Annotations(&b, st, wd)
	if cw, ok := a.w.(*ciWriter); ok {
		for _, line := range strings.SplitAfter(b.String(), "\n") {
			if line != "" && err == nil {
				err = cw.command(line)
			}
		}
	} else if err == nil {
		_, err = io.WriteString(a.w, b.String())
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "clstr: write GitHub annotations: %v\n", err)
	}
}

func (a annotations) Flush(status int) int { return status }

type sessionKey struct{}

// openSession opens the session of a command that runs stages on Docker
// containers made from opts, shown on out and reported to reps, and keeps
// it in c.Context for reportingErrors.
func openSession(c *cli.Context, out *output, opts docker.Options, reps []session.Reporter, filter *regexp.Regexp) *session.Session {
	stderr := c.App.ErrWriter
	opts.LogDir, _ = filepath.Abs(logDir)
	opts.Disk = quotaFrom(c.Context)
	if c.Bool("verbose") {
		opts.BuildOutput = out.w
	}
	s := session.Open(session.Options{
		Runtime: func(ctx context.Context) (cluster.Runtime, func() error, error) {
			rt, err := docker.New(ctx, opts)
			if err != nil {
				return nil, nil, err
			}
			return rt, rt.Close, nil
		},
		Root:      ".",
		Target:    describeTarget(opts),
		Filter:    filter,
		Seed:      c.Uint64("seed"),
		Disk:      quotaFrom(c.Context),
		Live:      out,
		Reporters: append([]session.Reporter{out}, reps...),
		Stderr:    stderr,
		Signals:   func(cancel context.CancelCauseFunc) func() { return cancelOnSignal(cancel, out, stderr) },
	})
	c.Context = context.WithValue(c.Context, sessionKey{}, s)
	return s
}

// reportsOnly opens a session that only reports, for what ends a command
// before its reports are all set up: to the JUnit report alone, whose
// flag cannot be what went wrong.
func reportsOnly(c *cli.Context) *session.Session {
	return session.Open(session.Options{Reporters: junitReporters(c), Stderr: c.App.ErrWriter})
}

// couldNotRun says msg on stderr and records that st did not run because
// of err; what says what stopped it. It returns the command's exit status.
func couldNotRun(s *session.Session, stderr io.Writer, st session.Stage, what string, err error, msg string) int {
	fmt.Fprintln(stderr, msg)
	s.NotRun(st, what, err)
	return s.Close()
}

// reportingErrors runs action, and when it returns an error before any
// stage was reported (a usage error, a target that cannot run, a
// workspace that does not open), puts that error into the reports, so
// that a CI job reads why there is nothing else: the reports of the
// command's session, or, when none was opened, the JUnit report that
// --junit asks for. what names the reports' entry by what did not run:
// the script argument, or clstr.yaml for the learner's commands.
func reportingErrors(what func(c *cli.Context) string, action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := action(c)
		var st exitStatus
		if err == nil || errors.As(err, &st) {
			return err
		}
		s, _ := c.Context.Value(sessionKey{}).(*session.Session)
		if s == nil {
			s = reportsOnly(c)
		}
		if s.Stages() == 0 {
			s.NotRun(session.Unloaded{Key: what(c)}, "the run did not start", err)
		}
		s.Close()
		return err
	}
}
