package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/cluster"
	"github.com/clstr-dev/clstr/attest/docker"
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/internal/watch"
	"github.com/clstr-dev/clstr/starlark"
)

// watchAction is clstr run --watch: it runs the script, then runs it again
// whenever the script, a module it loads or the target changes, until
// Ctrl-C. A change during a run cancels it and tears its cluster down
// first. Only a changed target is built again. It ends with exit status 2,
// as an interrupted run does. With a stage (clstr test --watch) instead of
// a script, only the target is watched.
// Every run is a stage of one session, reported to reps.
func watchAction(c *cli.Context, out *output, script string, stage session.Stage, opts docker.Options, filter *regexp.Regexp, reps []session.Reporter) error {
	stderr := c.App.ErrWriter
	ctx, cancel := context.WithCancelCause(c.Context)
	defer cancel(nil)
	stopSignals := cancelOnSignal(cancel, out, stderr)
	defer stopSignals()

	s, err := newWatchSession(ctx, c, out, script, opts, filter)
	if err != nil {
		fmt.Fprintf(stderr, "clstr: %v\n", err)
		return exitStatus(exitError)
	}
	defer s.close()
	s.stage = stage
	// The runs share the runtimes the watch owns.
	s.session = session.Open(session.Options{
		Runtime: func(context.Context) (cluster.Runtime, func() error, error) { return s.rt, nil, nil },
		Root:    ".", Target: describeTarget(opts), Filter: filter, Seed: c.Uint64("seed"), Disk: quotaFrom(c.Context),
		Live: out, Reporters: append([]session.Reporter{out}, reps...), Stderr: stderr,
	})
	defer s.session.Close()
	err = s.loop(ctx)
	if ctx.Err() == nil && err != nil {
		fmt.Fprintf(stderr, "clstr: %v\n", err)
	}
	return exitStatus(exitError)
}

// watchSession is the state of clstr run --watch between runs.
type watchSession struct {
	out      *output
	stderr   io.Writer
	tty      bool
	script   string        // as given on the command line
	stage    session.Stage // run instead of the script: a challenge's stage
	opts     docker.Options
	filter   *regexp.Regexp
	verbose  bool
	loadOpts starlark.Options
	session  *session.Session

	watcher *watch.Watcher
	target  watch.Set // what of the target is watched: a tree, a binary or nothing
	// files are the script and the modules it loaded when it last
	// compiled, absolute.
	files []string

	// For a Dockerfile target, builder builds the image and rt runs the
	// tag it built, so that a cycle in which only the script changed
	// does not build again; otherwise rt does both.
	builder   *docker.Runtime
	rt        *docker.Runtime
	needBuild bool
}

func newWatchSession(ctx context.Context, c *cli.Context, out *output, script string, opts docker.Options, filter *regexp.Regexp) (*watchSession, error) {
	s := &watchSession{
		out:      out,
		stderr:   c.App.ErrWriter,
		tty:      isTerminal(out.w),
		script:   script,
		opts:     opts,
		filter:   filter,
		verbose:  c.Bool("verbose"),
		loadOpts: loadOptions(c, out),
	}
	s.opts.LogDir, _ = filepath.Abs(logDir)
	s.opts.Disk = quotaFrom(c.Context)
	// Runs follow one another: the next cluster takes over the last one's
	// network and sandboxes, and creates only the nodes' own containers.
	// Closing the runtime removes what is kept.
	s.opts.ReuseSandboxes = true
	if s.verbose {
		s.opts.BuildOutput = out.w
	}
	switch {
	case opts.Binary != "":
		s.target.Stable = []string{opts.Binary}
	case opts.Dir != "":
		skip, err := watch.Sources(opts.Dir)
		if err != nil {
			return nil, err
		}
		s.target.Trees = []watch.Tree{{Dir: opts.Dir, Skip: skip}}
		s.needBuild = true
	}
	var err error
	if s.watcher, err = watch.New(watch.Options{}); err != nil {
		return nil, err
	}
	rt, err := docker.New(ctx, s.opts)
	if err != nil {
		s.watcher.Close()
		return nil, err
	}
	if opts.Dir != "" {
		s.builder = rt
	} else {
		s.rt = rt
	}
	return s, nil
}

func (s *watchSession) close() {
	s.watcher.Close()
	for _, rt := range []*docker.Runtime{s.builder, s.rt} {
		if rt != nil {
			rt.Close()
		}
	}
}

// loop runs cycles until ctx is cancelled.
func (s *watchSession) loop(ctx context.Context) error {
	for run := 1; ; run++ {
		changed, err := s.cycle(ctx)
		if err != nil {
			return err
		}
		if s.targetChanged(changed) {
			s.needBuild = s.builder != nil
		}
		s.separate(run+1, changed)
	}
}

// cycle loads the script and, if it compiles, runs it; it returns the
// changes that end the cycle, whether they came during the run (which
// they cancel) or after it.
func (s *watchSession) cycle(ctx context.Context) ([]string, error) {
	sc := s.stage
	if sc == nil {
		loaded, err := starlark.Load(s.script, s.loadOpts)
		if err != nil {
			fmt.Fprintf(s.stderr, "%v\n", err)
			if err := s.watch(true); err != nil {
				return nil, err
			}
			s.out.line("%s", s.out.dim("· waiting for a change to the script (Ctrl-C to stop)"))
			return s.watcher.Next(ctx)
		}
		s.files, sc = loaded.Files(), loaded
	}
	if err := s.watch(false); err != nil {
		return nil, err
	}
	if s.filter != nil && !matchesAny(s.filter, sc.TestNames()) {
		fmt.Fprintf(s.stderr, "clstr: --run %q matches none of the tests: %s\n", s.filter, strings.Join(sc.TestNames(), ", "))
		return s.idle(ctx)
	}
	if s.needBuild {
		if err := s.build(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.out.line("%s %s", s.out.red("✗"), s.out.bold("the image did not build"))
			s.out.failure(err)
			return s.idle(ctx)
		}
	}

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runOnce(runCtx, sc)
	}()
	type next struct {
		changed []string
		err     error
	}
	nextc := make(chan next, 1)
	go func() {
		changed, err := s.watcher.Next(ctx)
		nextc <- next{changed, err}
	}()
	select {
	case <-done:
		s.idleLine()
		n := <-nextc
		return n.changed, n.err
	case n := <-nextc:
		if n.err != nil {
			stop(n.err)
			<-done
			return nil, n.err
		}
		what := s.describe(n.changed) + " changed"
		s.out.line("%s", s.out.yellow(what+": stopping this run …"))
		stop(errors.New(what))
		<-done
		return n.changed, nil
	}
}

// idle waits for the next change.
func (s *watchSession) idle(ctx context.Context) ([]string, error) {
	s.idleLine()
	return s.watcher.Next(ctx)
}

func (s *watchSession) idleLine() {
	var what []string
	if s.stage == nil {
		what = append(what, s.describe([]string{s.scriptPath()}))
	}
	switch n := len(s.files) - 1; {
	case n == 1:
		what = append(what, "the module it loads")
	case n > 1:
		what = append(what, fmt.Sprintf("the %d modules it loads", n))
	}
	switch {
	case s.opts.Binary != "":
		what = append(what, "the binary "+s.opts.Binary)
	case s.opts.Dir != "":
		what = append(what, "the sources in "+s.opts.Dir)
	}
	list := what[0]
	if n := len(what); n > 1 {
		list = strings.Join(what[:n-1], ", ") + " and " + what[n-1]
	}
	s.out.line("%s", s.out.dim("· watching "+list+" for changes (Ctrl-C to stop)"))
}

func (s *watchSession) scriptPath() string {
	abs, err := filepath.Abs(s.script)
	if err != nil {
		return s.script
	}
	return abs
}

// watch points the watcher at the script's files and the target; while
// the script does not compile (broken), also at every .star file beside
// the files it had, since the fix may be a module that does not exist yet.
func (s *watchSession) watch(broken bool) error {
	set := s.target
	set.Files = slices.Clone(s.files)
	if s.stage == nil {
		set.Files = append(set.Files, s.scriptPath())
	}
	if broken {
		dirs := map[string]bool{}
		for _, f := range set.Files {
			dirs[filepath.Dir(f)] = true
		}
		for d := range dirs {
			set.Globs = append(set.Globs, filepath.Join(d, "*.star"))
		}
	}
	return s.watcher.Watch(set)
}

// build builds the Dockerfile target and points rt at the image.
func (s *watchSession) build(ctx context.Context) error {
	s.out.Step("building the image from " + s.opts.Dir)
	tag, err := s.builder.TargetImage(ctx)
	if err != nil {
		return err
	}
	if s.rt == nil {
		opts := s.opts
		opts.Dir, opts.Image = "", tag
		if s.rt, err = docker.New(ctx, opts); err != nil {
			return err
		}
	}
	s.needBuild = false
	return nil
}

// runOnce runs the script (or stage) once, with fresh logs, as clstr run
// does.
func (s *watchSession) runOnce(ctx context.Context, sc session.Stage) { s.session.Run(ctx, sc) }

// targetChanged reports whether a change concerns the target rather than
// the script: a script inside the target's directory is the script's.
func (s *watchSession) targetChanged(changed []string) bool {
	bin, _ := filepath.Abs(s.opts.Binary)
	dir, _ := filepath.Abs(s.opts.Dir)
	for _, p := range changed {
		switch {
		case slices.Contains(s.files, p):
		case s.opts.Binary != "" && p == bin:
			return true
		case strings.HasSuffix(p, ".star"):
			// Scripts, not the program's sources.
		case s.opts.Dir != "" && (p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))):
			return true
		}
	}
	return false
}

// separate sets the next run apart from the last: on a terminal by
// clearing the screen, elsewhere by a rule; then it says what changed.
func (s *watchSession) separate(run int, changed []string) {
	s.out.mu.Lock()
	s.out.clearLive()
	if s.tty {
		fmt.Fprint(s.out.w, "\x1b[H\x1b[2J\x1b[3J")
	} else {
		fmt.Fprintf(s.out.w, "\n%s\n", strings.Repeat("─", 72))
	}
	s.out.mu.Unlock()
	what := s.describe(changed) + " changed"
	if s.targetChanged(changed) && s.builder != nil {
		what += ": building the image again"
	}
	s.out.line("%s %s", s.out.bold("↻ "+what), s.out.dim(fmt.Sprintf("· run %d at %s", run, time.Now().Format("15:04:05"))))
}

// describe names changed files as the user knows them: relative to the
// working directory, at most three.
func (s *watchSession) describe(changed []string) string {
	wd, _ := os.Getwd()
	var names []string
	for _, p := range changed {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
		names = append(names, p)
	}
	if len(names) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
	}
	if len(names) == 0 {
		return "something"
	}
	return strings.Join(names, ", ")
}
