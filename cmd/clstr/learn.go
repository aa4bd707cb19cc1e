package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/docker"
	_ "github.com/clstr-dev/clstr/challenges" // the built-in challenges
	"github.com/clstr-dev/clstr/internal/session"
	"github.com/clstr-dev/clstr/registry"
)

// The learner's commands: list the challenges, start one in a directory
// (init, in scaffold.go), test the current stage, move on to the next, see
// where one stands. Challenges come from registry.Default, where the
// built-in Starlark challenges and any registered from Go sit side by side.

// targetFlags say which program the learner's commands test: by default
// the Dockerfile in the current directory.
func targetFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "binary", Usage: "wrap the static Linux executable at `PATH` FROM scratch instead of building the Dockerfile (works with no registry)"},
		&cli.StringFlag{Name: "image", Usage: "run the existing image `TAG` instead of building the Dockerfile"},
		&cli.StringSliceFlag{Name: "env", Usage: "add `KEY=VALUE` to every node's environment (repeatable)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the output of the image build"},
		seedFlag(),
		junitFlag(),
		reportFlag(),
	}, sandboxFlags()...) // for a community challenge; a built-in one runs trusted
}

// workspaceError is what test and next return when learnerWorkspace
// did not give them a workspace: its error, or, when a confined child did
// the work, the child's verdict.
func workspaceError(c *cli.Context, err error) error {
	var st exitStatus
	var ue usageError
	if err == nil || errors.As(err, &st) || errors.As(err, &ue) {
		return err
	}
	return exitStatus(couldNotRun(reportsOnly(c), c.App.ErrWriter, session.Unloaded{Key: progressFile}, "the workspace did not open", err, "clstr: "+err.Error()))
}

// learnerName names what the learner's commands run in the reports when
// nothing ran: the workspace's clstr.yaml.
func learnerName(*cli.Context) string { return progressFile }

// learnerRun reads the target flags of test and next and sets up the
// reports they ask for.
func learnerRun(c *cli.Context) (docker.Options, []session.Reporter, error) {
	opts, err := learnerTarget(c)
	if err != nil {
		return opts, nil, err
	}
	reps, err := reporters(c, describeTarget(opts))
	return opts, reps, err
}

// learnerTarget reads the target flags of test and next.
func learnerTarget(c *cli.Context) (docker.Options, error) {
	if c.IsSet("binary") && c.IsSet("image") {
		return docker.Options{}, usageError{c.Command.Name + ": give --binary or --image, not both"}
	}
	opts, err := dockerOptions(c)
	if err == nil && !c.Bool("watch") {
		// Under --watch the program may be rebuilt while clstr waits.
		err = checkTarget(c, opts)
	}
	return opts, err
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the challenges and their stages",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"list: takes no arguments"}
			}
			writeList(c.App.Writer, newOutput(c.App.Writer), registry.Default)
			return nil
		},
	}
}

// writeList shows every challenge of reg with its stages.
func writeList(w io.Writer, o *output, reg *registry.Registry) {
	cs := reg.Challenges()
	if len(cs) == 0 {
		fmt.Fprintln(w, "no challenges are registered")
		return
	}
	for i, c := range cs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  %s %s\n", o.bold(c.Key), c.Name, o.dim("· "+plural(len(c.Stages), "stage")))
		if c.Summary != "" {
			fmt.Fprintf(w, "  %s\n", c.Summary)
		}
		width := keyWidth(c)
		for j, s := range c.Stages {
			line := fmt.Sprintf("  %d. %-*s  %s", j+1, width, s.Key, s.Title)
			if s.Summary != "" {
				line += o.dim(" — " + s.Summary)
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "\nStart one with: clstr init %s\n", cs[0].Key)
}

func keyWidth(c *registry.Challenge) int {
	n := 0
	for _, s := range c.Stages {
		n = max(n, len(s.Key))
	}
	return n
}

// plural says "1 image" or "3 images".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func testCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "test the current stage of the challenge in this directory",
		ArgsUsage: "[STAGE]",
		Description: "Builds the Dockerfile in the current directory (or takes --binary or --image), starts\n" +
			"it as the cluster the stage needs and runs the stage's tests, stopping at the first\n" +
			"failure. The stage is the one " + progressFile + " names, or STAGE; with --so-far, every stage\n" +
			"up to it, in order, until one fails. Logs go to " + logDir + " ('clstr logs').\n\n" +
			"Exit status: 0 passed, 1 the target failed, 2 clstr could not judge.",
		Flags: append(targetFlags(),
			&cli.BoolFlag{Name: "so-far", Usage: "run every stage up to the current one (or STAGE), stopping at the first that fails"},
			&cli.StringFlag{Name: "run", Usage: "run only the stage's tests whose names match `REGEX`"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "build and run the stage again whenever your sources (or --binary) change, until Ctrl-C"},
		),
		Action: reportingErrors(learnerName, func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError{"test: give at most one stage: clstr test [flags] [STAGE]"}
			}
			w, ok, err := learnerWorkspace(c)
			if !ok {
				return workspaceError(c, err)
			}
			last := w.index
			if key := c.Args().First(); key != "" {
				if last = stageIndex(w.challenge, key); last < 0 {
					return usageError{fmt.Sprintf("test: %s has no stage %q%s; its stages are %s", w.challenge.Key, key, didYouMeanStage(w.challenge, key), stageKeys(w.challenge))}
				}
			}
			filter, err := stageFilter(c, w.challenge.Stages[last])
			if err != nil {
				return err
			}
			opts, reps, err := learnerRun(c)
			if err != nil {
				return err
			}
			first := last
			if c.Bool("so-far") {
				first = 0
			}
			out := newOutput(c.App.Writer)
			if c.Bool("watch") {
				if c.Bool("so-far") {
					return usageError{"test: --watch runs one stage again and again; leave out --so-far"}
				}
				st := w.challenge.Stages[last]
				suite, err := st.Suite()
				if err != nil {
					fmt.Fprintf(c.App.ErrWriter, "clstr: load stage %s of %s: %v\n", st.Key, w.challenge.Key, err)
					return exitStatus(exitError)
				}
				out.line("%s", out.bold(fmt.Sprintf("Stage %d of %d: %s", last+1, len(w.challenge.Stages), stageHeading(st))))
				return watchAction(c, out, "", session.Challenge{Key: w.challenge.Key + "/" + st.Key, Tests: suite}, opts, filter, reps)
			}
			status := runStages(c, out, w.challenge, first, last, opts, reps, filter)
			if status == exitFail {
				out.line("%s", failedAdvice(w.challenge))
			}
			return exitStatus(status)
		}),
	}
}

// stageFilter reads test's --run: the tests of st to run, nil for all.
func stageFilter(c *cli.Context, st *registry.Stage) (*regexp.Regexp, error) {
	expr := c.String("run")
	if expr == "" {
		return nil, nil
	}
	if c.Bool("so-far") {
		return nil, usageError{"test: --run picks tests of one stage; leave out --so-far"}
	}
	filter, err := regexp.Compile(expr)
	if err != nil {
		return nil, usageError{fmt.Sprintf("test: --run %q is not a regular expression: %v", expr, err)}
	}
	suite, err := st.Suite()
	if err == nil && !matchesAny(filter, suite.TestNames()) {
		return nil, usageError{fmt.Sprintf("test: --run %q matches none of the tests of %s: %s", expr, st.Key, strings.Join(suite.TestNames(), ", "))}
	}
	return filter, nil
}

func nextCommand() *cli.Command {
	return &cli.Command{
		Name:  "next",
		Usage: "test the current stage and, if it passes, move on to the next",
		Description: "Runs the current stage as 'clstr test' does. If it passes, " + progressFile + " moves on to the\n" +
			"next stage, and clstr says what that stage asks and where it is described; if it fails,\n" +
			progressFile + " stays as it is.\n\n" +
			"Exit status: 0 passed, 1 the target failed, 2 clstr could not judge.",
		Flags: targetFlags(),
		Action: reportingErrors(learnerName, func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"next: takes no arguments; it tests the stage " + progressFile + " names"}
			}
			w, ok, err := learnerWorkspace(c)
			if !ok {
				return workspaceError(c, err)
			}
			if w.done {
				out := newOutput(c.App.Writer)
				out.line("%s You have passed every stage of %s: there is no next stage.", out.green("★"), out.bold(w.challenge.Name))
				out.line("  %s", doneAdvice)
				return nil
			}
			opts, reps, err := learnerRun(c)
			if err != nil {
				return err
			}
			out := newOutput(c.App.Writer)
			status := runStages(c, out, w.challenge, w.index, w.index, opts, reps, nil)
			if status != exitPass {
				if status == exitFail {
					out.line("%s", failedAdvice(w.challenge))
				}
				out.line("%s stays at %s.", progressFile, w.progress.Stage)
				return exitStatus(status)
			}
			return advance(c.App.ErrWriter, out, w)
		}),
	}
}

// advance moves the workspace on after its current stage passed, and
// says what comes next.
func advance(stderr io.Writer, out *output, w *workspace) error {
	c := w.challenge
	if w.index == len(c.Stages)-1 {
		if err := w.finish(); err != nil {
			fmt.Fprintf(stderr, "clstr: the stage passed, but %v\n", err)
			return exitStatus(exitError)
		}
		out.line("\n%s You have passed every stage of %s. Congratulations!", out.green("★"), out.bold(c.Name))
		out.line("  %s", doneAdvice)
		return nil
	}
	passed := w.index
	next := c.Stages[passed+1]
	if err := w.advance(next.Key); err != nil {
		fmt.Fprintf(stderr, "clstr: the stage passed, but %v\n", err)
		return exitStatus(exitError)
	}
	out.line("\n%s Stage %d passed. Next, stage %d of %d: %s", out.green("✓"), passed+1, passed+2, len(c.Stages), out.bold(stageHeading(next)))
	if next.Summary != "" {
		out.line("  %s", next.Summary)
	}
	out.line("  Read it in README.md, section %q; then run 'clstr test'.", readmeSection(passed+1, next))
	return nil
}

// doneAdvice is what there is to do once every stage passed.
const doneAdvice = "'clstr test --so-far' runs every stage again; 'clstr test STAGE' runs one."

// failedAdvice is what to do after a stage failed.
func failedAdvice(c *registry.Challenge) string {
	return "README.md describes every stage of " + c.Key + "; fix what failed and run 'clstr test' again.\n" +
		"'clstr logs' shows your nodes' output and clstr's events, interleaved in time."
}

func stageHeading(s *registry.Stage) string {
	if s.Title == "" {
		return s.Key
	}
	return s.Title + " (" + s.Key + ")"
}

// readmeSection is the heading of the stage with index i in README.md.
func readmeSection(i int, s *registry.Stage) string {
	return fmt.Sprintf("%d. %s", i+1, stageHeading(s))
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the stages of the challenge in this directory, and which one is next",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"status: takes no arguments"}
			}
			w, err := openWorkspace(".", registry.Default)
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: %v\n", err)
				return exitStatus(exitError)
			}
			writeStatus(c.App.Writer, newOutput(c.App.Writer), w)
			return nil
		},
	}
}

// writeStatus shows the challenge's stages: ✓ passed, → current, · to do.
func writeStatus(wr io.Writer, o *output, w *workspace) {
	c := w.challenge
	fmt.Fprintf(wr, "%s %s\n\n", o.bold(c.Name), o.dim("("+c.Key+")"))
	width := keyWidth(c)
	for i, s := range c.Stages {
		mark, text := o.dim("·"), fmt.Sprintf("%d. %-*s  %s", i+1, width, s.Key, s.Title)
		switch {
		case i < w.index || w.done:
			mark = o.green("✓")
		case i == w.index:
			mark, text = o.yellow("→"), o.bold(text)
		default:
			text = o.dim(text)
		}
		fmt.Fprintf(wr, "%s %s\n", mark, text)
	}
	if w.done {
		fmt.Fprintf(wr, "\nAll %s passed: %s is done.\n%s\n", plural(len(c.Stages), "stage"), c.Key, doneAdvice)
		return
	}
	fmt.Fprintf(wr, "\n%d of %s passed. Current stage: %s.\n", w.index, plural(len(c.Stages), "stage"), w.progress.Stage)
	fmt.Fprintln(wr, "'clstr test' tests it; 'clstr next' moves on once it passes.")
}

// runStages runs stages first … last of ch in one session, on one
// runtime, and stops at the first that does not pass; it returns the
// command's exit status.
func runStages(c *cli.Context, out *output, ch *registry.Challenge, first, last int, opts docker.Options, reps []session.Reporter, filter *regexp.Regexp) int {
	stderr := c.App.ErrWriter
	if last > first {
		// The stages follow one another on one runtime: a stage's
		// cluster takes over the network and sandboxes the one before
		// kept, when it has as many nodes, and creates only the nodes'
		// own containers. Closing the runtime removes what is kept.
		opts.ReuseSandboxes = true
	}
	sess := openSession(c, out, opts, reps, filter)
	defer sess.Close()
	if last > first {
		if err := sess.Start(c.Context); err != nil {
			sess.NotRun(session.Unloaded{Key: ch.Key + "/" + ch.Stages[first].Key, Stage: true}, "the run did not start", err)
			return sess.Close()
		}
	}
	for i := first; i <= last; i++ {
		st := ch.Stages[i]
		if i > first {
			out.line("")
		}
		out.line("%s", out.bold(fmt.Sprintf("Stage %d of %d: %s", i+1, len(ch.Stages), stageHeading(st))))
		key := ch.Key + "/" + st.Key
		suite, err := st.Suite()
		if err != nil {
			return couldNotRun(sess, stderr, session.Unloaded{Key: key, Stage: true}, "the stage did not load", err,
				fmt.Sprintf("clstr: load stage %s of %s: %v", st.Key, ch.Key, err))
		}
		if o := sess.Run(c.Context, session.Challenge{Key: key, Tests: suite}); o.Status != exitPass {
			return sess.Close()
		}
		if sess.Interrupted() || c.Context.Err() != nil {
			return exitError
		}
	}
	if last > first {
		out.line("\n%s", out.green(fmt.Sprintf("All %d stages up to %s passed.", last-first+1, ch.Stages[last].Key)))
	}
	return sess.Close()
}
