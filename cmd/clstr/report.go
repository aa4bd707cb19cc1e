package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/engine"
	"github.com/clstr-dev/clstr/internal/artifact"
	"github.com/clstr-dev/clstr/internal/report"
	"github.com/clstr-dev/clstr/starlark"
)

// --report DIR (or "report: DIR" in clstr.yaml) writes the report of a
// command into DIR: report.json and index.html (internal/report, described
// in docs/report.md). Like the JUnit report, it is rewritten after every
// stage that runOnDocker runs.

// reportFlag is --report, shared by run, test and next.
func reportFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "report",
		Usage: "write the run's report into `DIR`: index.html to look at, report.json for tools (also 'report: DIR' in " + progressFile + ")",
	}
}

type reportKey struct{}

// reportFrom returns the report that --report asked for, or nil.
func reportFrom(ctx context.Context) *report.Writer {
	w, _ := ctx.Value(reportKey{}).(*report.Writer)
	return w
}

// setUpReport puts into c.Context the report that --report, or else the
// report key of clstr.yaml in the current directory, asks for; target says
// what runs.
func setUpReport(c *cli.Context, target string) error {
	quota := diskQuota(c)
	c.Context = context.WithValue(c.Context, quotaKey{}, quota)
	dir := c.String("report")
	if c.IsSet("report") && dir == "" {
		return usageError{c.Command.Name + ": --report needs the directory to write the report into"}
	}
	if c.IsSet("report") && c.Bool("watch") {
		return usageError{c.Command.Name + ": --report reports a single run; leave out --watch"}
	}
	if !c.IsSet("report") {
		if c.Bool("watch") {
			return nil // clstr.yaml's report is for single runs
		}
		var err error
		if dir, err = configuredReport("."); err != nil {
			return err
		}
	}
	if dir == "" {
		return nil
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return usageError{fmt.Sprintf("%s: --report %s is a file; give a directory", c.Command.Name, dir)}
	}
	command := "clstr " + strings.Join(os.Args[1:], " ")
	rw := report.NewWriter(dir, command, target)
	rw.Quota = quota
	c.Context = context.WithValue(c.Context, reportKey{}, rw)
	return nil
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

// addReport adds the stage s ran as res to the report, if there is one,
// and, on GitHub Actions, writes its failures as annotations to w.
func addReport(ctx context.Context, w io.Writer, stderr io.Writer, s runnable, res *engine.Result, cfg runConfig, began time.Time) {
	if reportFrom(ctx) == nil && !onGitHubActions() {
		return
	}
	if stderr == nil {
		stderr = io.Discard
	}
	in := report.StageRun{Name: s.Name(), Start: began, Result: res, Events: cfg.events.Events(), LogDir: cfg.logDir}
	if res.Err != nil {
		in.Stopped = stopReason(res.Err)
	}
	if rw := reportFrom(ctx); rw != nil {
		if err := rw.Add(in); err != nil {
			fmt.Fprintf(stderr, "clstr: report: %v\n", err)
		}
	}
	if onGitHubActions() {
		in.LogDir = ""
		st, _ := report.NewStage(in)
		annotate(w, stderr, st)
	}
}

// addReportError adds to the report a stage that could not run because of
// err; what says what stopped it.
func addReportError(ctx context.Context, w, stderr io.Writer, s runnable, what string, err error) {
	st := report.ErrorStage(s.Name(), s.TestNames(), what, err)
	if rw := reportFrom(ctx); rw != nil {
		rw.AddStage(st)
	}
	if onGitHubActions() {
		annotate(w, stderr, st)
	}
}

// onGitHubActions reports whether clstr runs in a GitHub Actions job,
// where failures are also written as annotations.
func onGitHubActions() bool { return os.Getenv("GITHUB_ACTIONS") == "true" }

// annotate writes the failures of st as annotations to w: through
// ciWriter.command when w is one, as the only workflow commands of the
// run.
func annotate(w, stderr io.Writer, st report.Stage) {
	wd, _ := os.Getwd()
	var b strings.Builder
	err := report.Annotations(&b, st, wd)
	if cw, ok := w.(*ciWriter); ok {
		for _, line := range strings.SplitAfter(b.String(), "\n") {
			if line != "" && err == nil {
				err = cw.command(line)
			}
		}
	} else if err == nil {
		_, err = io.WriteString(w, b.String())
	}
	if err != nil {
		fmt.Fprintf(stderr, "clstr: write GitHub annotations: %v\n", err)
	}
}

// couldNotRun reports that s did not run because of err, the same way on
// every path that ends before a verdict: msg on stderr, an entry in the
// JUnit and the HTML reports (and a GitHub annotation), then both reports
// written. It returns the exit status, exitError unless writing fails.
func couldNotRun(ctx context.Context, stdout, stderr io.Writer, s runnable, what string, err error, msg string) int {
	fmt.Fprintln(stderr, msg)
	junitFrom(ctx).addError(s, what, err)
	addReportError(ctx, stdout, stderr, s, what, err)
	return writeReport(ctx, stderr, junitFrom(ctx).write(stderr, exitError))
}

// reportingErrors runs action, and when it returns an error before any
// run was reported (a usage error, a target that cannot run, a workspace
// that does not open), puts that error into the reports that --junit asks
// for, as couldNotRun does, so that a CI job reads why there is nothing
// else. what names the reports' entry by what did not run: the script
// argument, or clstr.yaml for the learner's commands.
func reportingErrors(what func(c *cli.Context) string, action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := action(c)
		var st exitStatus
		r := junitFrom(c.Context)
		if err == nil || errors.As(err, &st) || r == nil || len(r.suites) > 0 {
			return err
		}
		r.addError(unloaded{name: what(c)}, "the run did not start", err)
		r.write(c.App.ErrWriter, exitError)
		return err
	}
}

// writeReport writes the report, if there is one, and returns the exit
// status of the command: as junitReport.write does, a report that cannot
// be written turns a pass into exitError but never hides a failure.
func writeReport(ctx context.Context, stderr io.Writer, status int) int {
	rw := reportFrom(ctx)
	if rw == nil {
		return status
	}
	verdict := map[int]string{exitPass: "pass", exitFail: "fail"}[status]
	if verdict == "" {
		verdict = "error"
	}
	if err := rw.Save(verdict, status); err != nil {
		fmt.Fprintf(stderr, "clstr: write the report into %s: %v\n", rw.Dir, err)
		var full *artifact.Error
		if status == exitPass || errors.As(err, &full) {
			return exitError
		}
	}
	return status
}
